"""The model registry in ``ml.models``: register, look up, and change status.

The reads serving needs (a model's ONNX by version, the deployed models) are
:mod:`scorer.models`, re-exported here for the lifecycle.

Registration goes through ``ml.register_model`` (status ``candidate``, hash computed in the
database; sql/schema/ml/register_model.sql) and status changes through the SQL functions
``ml.promote``, ``ml.shadow``, ``ml.retire`` and ``ml.rollback`` (sql/schema/ml/model_status.sql).
They serialise on one advisory lock, keep one champion at a time, and a trigger records
every change in ``ml.model_events`` and notifies channel ``pgfraud_models``, which
running scorers listen on.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row, tuple_row
from psycopg.types.json import Jsonb

from pgfraud.kernel import queries
from producer.features import FEATURE_SET_VERSION
from scorer.models import RegistryError as RegistryError
from scorer.models import StoredModel as StoredModel
from scorer.models import deployed as deployed
from scorer.models import load as load

if TYPE_CHECKING:
    from pgfraud.lifecycle.training import TrainedModel



def _q(name: str) -> str:
    return queries.load("models")[name]


def _utc(epoch: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(epoch, dt.UTC)


def record_run(conn: psycopg.Connection[Any], trained: TrainedModel, *, mode: str,
               cutoff: dt.datetime | None, seconds: float,
               detail: dict[str, Any] | None = None) -> tuple[int | None, int]:
    """Store the run and, if the ONNX export passed its parity check, the model.

    Returns (model version or None, training run id), in one transaction.
    """
    split = trained.split
    validation = trained.metrics["validation"]
    train = trained.metrics["train"]
    version: int | None = None
    with conn.transaction():
        if trained.parity_ok:
            row = conn.execute(_q("register_model"), {
                "onnx_model": trained.onnx_bytes,
                "lightgbm_model": trained.booster.model_to_string(),
                "feature_names": trained.feature_names,
                "feature_set_version": FEATURE_SET_VERSION,
                "threshold": trained.threshold,
                "trained_from": _utc(split.train_from),
                "trained_to": _utc(split.train_to),
                "label_cutoff_at": cutoff,
                "metrics": Jsonb(trained.metrics),
                "reference_distributions": Jsonb(trained.reference_distributions),
                "feature_importance": Jsonb(trained.feature_importance),
                "note": f"{mode} training",
            }).fetchone()
            assert row is not None
            version = int(row[0])
        run = conn.execute(_q("record_training_run"), {
            "mode": mode,
            "outcome": "registered" if trained.parity_ok else "parity_failed",
            "model_version": version,
            "label_cutoff_at": cutoff,
            "train_from": _utc(split.train_from),
            "train_to": _utc(split.train_to),
            "validation_from": _utc(split.validation_from),
            "validation_to": _utc(split.validation_to),
            "train_rows": train["rows"],
            "train_positives": train["positives"],
            "validation_rows": validation["labelled"],
            "validation_positives": validation["positives"],
            "params": Jsonb(trained.params),
            "detail": Jsonb({"parity": trained.metrics["parity"], **(detail or {})}),
            "seconds": seconds,
        }).fetchone()
        assert run is not None
        run_id = int(run[0])
        if version is not None:
            conn.execute(_q("link_training_run"), {"training_run_id": run_id})
    return version, run_id


def register(conn: psycopg.Connection[Any], trained: TrainedModel, *, mode: str,
             cutoff: dt.datetime | None, seconds: float, deploy: str | None = None,
             detail: dict[str, Any] | None = None) -> tuple[int | None, int]:
    """:func:`record_run`, then ``deploy`` the model: ``promote``, ``shadow``, or
    ``promote-if-none`` (promote only when there is no champion yet).

    Returns (model version, or None if it failed its parity check; training run id).
    """
    version, run_id = record_run(conn, trained, mode=mode, cutoff=cutoff, seconds=seconds,
                                 detail=detail)
    if version is not None:
        if deploy == "promote-if-none":
            deploy = "promote" if champion(conn) is None else None
        if deploy == "promote":
            promote(conn, version)
        elif deploy == "shadow":
            shadow(conn, version)
    return version, run_id


def _call(conn: psycopg.Connection[Any], statement: str, params: dict[str, Any]) -> Any:
    try:
        with conn.transaction():
            row = conn.execute(statement, params).fetchone()
    except (psycopg.errors.NoDataFound, psycopg.errors.ObjectNotInPrerequisiteState) as exc:
        raise RegistryError(exc.diag.message_primary or str(exc)) from None
    return row[0] if row else None


def promote(conn: psycopg.Connection[Any], version: int) -> int | None:
    """Make ``version`` the champion; returns the previous champion (now retired)."""
    result = _call(conn, _q("promote"), {"version": version})
    return None if result is None else int(result)


def shadow(conn: psycopg.Connection[Any], version: int) -> None:
    _call(conn, _q("shadow"), {"version": version})


def retire(conn: psycopg.Connection[Any], version: int) -> None:
    _call(conn, _q("retire"), {"version": version})


def rollback(conn: psycopg.Connection[Any]) -> int:
    """Return to the previous champion; returns its version."""
    return int(_call(conn, _q("rollback"), {}))


def champion(conn: psycopg.Connection[Any]) -> int | None:
    row = conn.cursor(row_factory=tuple_row).execute(_q("champion")).fetchone()
    return None if row is None else int(row[0])


def list_models(conn: psycopg.Connection[Any]) -> list[dict[str, Any]]:
    return conn.cursor(row_factory=dict_row).execute(_q("list_models")).fetchall()


def show(conn: psycopg.Connection[Any], version: int) -> dict[str, Any]:
    row = conn.cursor(row_factory=dict_row).execute(_q("show_model"),
                                                    {"version": version}).fetchone()
    if row is None:
        raise RegistryError(f"model {version} does not exist")
    return row


def events(conn: psycopg.Connection[Any], version: int | None = None,
           limit: int = 20) -> list[dict[str, Any]]:
    return conn.cursor(row_factory=dict_row).execute(
        _q("model_events"), {"version": version, "limit": limit}).fetchall()
