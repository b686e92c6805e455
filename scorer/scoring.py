"""The scorer: claim queued transactions, score them with ONNX, write predictions.

One batch is one database transaction (``Scorer.score_batch``):

1. take the registry lock in shared mode (``ml.promote`` and friends take it
   exclusively, so a promotion waits for batches in flight and every later batch sees
   it), and reload the deployed models if the champion or the shadows changed;
2. claim up to ``batch_size`` rows of ``scoring.pending`` (``DELETE ... FOR UPDATE SKIP
   LOCKED``) and read their model input;
3. score them with the champion and every shadow model (onnxruntime);
4. insert one prediction per (transaction, model), and for champion decisions above
   threshold an alert with reason codes, which also sends ``NOTIFY fraud_alert``;
5. commit. The claim and the outputs commit together, so a crash at any point leaves
   each transaction either scored once or still queued.

``Scorer.run`` loops over batches, sleeps on LISTEN (``pgfraud_ingest``, sent by the
ingest trigger at commit) with a polling fallback, and reconnects with backoff when the
database goes away.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pgfraud.kernel import queries
from pgfraud.kernel.db import connect
from pgfraud.kernel.errors import DatabaseUnavailableError, PgfraudError, first_line
from pgfraud.kernel.names import INGEST_CHANNEL, MODELS_CHANNEL, SCORER_ROLE
from scorer import models
from scorer.onnx_model import OnnxModel

if TYPE_CHECKING:
    import lightgbm as lgb

log = logging.getLogger(__name__)

TOP_REASONS = 3
MAX_BACKOFF_S = 10.0


class ScoringError(PgfraudError):
    """Scoring cannot go on until someone acts (no champion, missing features...)."""


@dataclasses.dataclass
class DeployedModel:
    """A model loaded for scoring."""

    version: int
    is_shadow: bool
    threshold: float
    feature_names: list[str]
    feature_set_version: int
    onnx: OnnxModel
    lightgbm_text: str | None
    _booster: lgb.Booster | None = None

    @classmethod
    def load(cls, stored: models.StoredModel) -> DeployedModel:
        model = cls(stored.version, stored.status == "shadow", stored.threshold,
                    stored.feature_names, stored.feature_set_version,
                    OnnxModel(stored.onnx_bytes), stored.lightgbm_model)
        model.booster()  # now, not in the middle of the first batch with an alert
        return model

    def booster(self) -> lgb.Booster | None:
        """The LightGBM model for reason codes (parsing it takes ~50 ms, and importing
        LightGBM the first time ~1 s: measured as a 1.5 s p99 latency when it happened at
        the first alert)."""
        if self._booster is None and self.lightgbm_text is not None:
            import lightgbm

            self._booster = lightgbm.Booster(model_str=self.lightgbm_text)
        return self._booster

    def reasons(self, features: npt.NDArray[np.float32]) -> list[list[dict[str, Any]]]:
        """The top features by contribution to each row's score (SHAP values from
        LightGBM, in log-odds), largest first; positive contributions only."""
        booster = self.booster()
        if booster is None or len(features) == 0:
            return [[] for _ in range(len(features))]
        # One thread, as onnxruntime runs (OnnxModel): the scorer scales by processes.
        # LightGBM's default OpenMP threads spin-wait after every call, on every core:
        # the scorer process spent 24.6 µs of CPU a row instead of 10.0 (40,000 rows in
        # batches of 500, ~13 alerts a batch), cycles PostgreSQL needs on a small
        # machine. The contributions are the same either way (each row is computed whole
        # by one thread).
        contributions = np.asarray(booster.predict(features.astype(np.float64),
                                                   pred_contrib=True, num_threads=1))
        result = []
        for row, values in zip(contributions[:, :-1], features, strict=True):
            top = [i for i in np.argsort(-row)[:TOP_REASONS] if row[i] > 0]
            result.append([{"feature": self.feature_names[i],
                            "value": None if np.isnan(values[i]) else float(values[i]),
                            "contribution": round(float(row[i]), 4)} for i in top])
        return result


@dataclasses.dataclass(frozen=True)
class BatchResult:
    claimed: int
    alerts: int
    champion: int | None
    shadows: tuple[int, ...]


class ModelCache:
    """The deployed models, reloaded only when the set of (version, status) changes."""

    def __init__(self) -> None:
        self.key: tuple[tuple[int, str], ...] = ()
        self.champion: DeployedModel | None = None
        self.shadows: list[DeployedModel] = []
        self._loaded: dict[int, DeployedModel] = {}
        self._preloaded: dict[int, DeployedModel] = {}

    def preload(self, conn: psycopg.Connection[Any]) -> bool:
        """Load the deployed models :meth:`refresh` has not loaded yet, so the next
        refresh switches to them at once (another thread may call this: the API loads a
        promoted model beside the requests, not in one of them). True when a champion is
        deployed and loaded or preloaded."""
        rows = conn.execute(queries.load("scoring")["deployed_versions"]).fetchall()
        has_champion = False
        for version, status in rows:
            if version not in self._loaded and version not in self._preloaded:
                self._preloaded[version] = DeployedModel.load(models.load(conn, version))
            has_champion = has_champion or status == "champion"
        return has_champion

    def refresh(self, conn: psycopg.Connection[Any]) -> None:
        rows = conn.execute(queries.load("scoring")["deployed_versions"]).fetchall()
        key = tuple((int(v), str(s)) for v, s in rows)
        if key == self.key:
            return
        loaded: dict[int, DeployedModel] = {}
        for version, status in key:
            model = (self._loaded.get(version) or self._preloaded.pop(version, None)
                     or DeployedModel.load(models.load(conn, version)))
            model.is_shadow = status == "shadow"
            loaded[version] = model
        before = self.describe()
        self._loaded = loaded
        self.key = key
        self.champion = next((m for m in loaded.values() if not m.is_shadow), None)
        self.shadows = [m for m in loaded.values() if m.is_shadow]
        log.info("models: %s (was %s)", self.describe(), before)

    @property
    def all(self) -> list[DeployedModel]:
        return ([self.champion] if self.champion else []) + self.shadows

    def describe(self) -> str:
        if not self.key:
            return "none"
        champion = f"champion {self.champion.version}" if self.champion else "no champion"
        shadows = ", ".join(f"shadow {m.version}" for m in self.shadows)
        return champion + (f", {shadows}" if shadows else "")


class Scorer:
    """One scoring worker: its own connections, models and loop."""

    def __init__(self, url: str, *, batch_size: int = 500, role: str | None = SCORER_ROLE,
                 ) -> None:
        self.url = url
        self.batch_size = batch_size
        self.role = role
        self.models = ModelCache()
        self.conn: psycopg.Connection[Any] | None = None
        self.listener: psycopg.Connection[Any] | None = None
        self._sql = queries.load("scoring")
        self._claim_sql: sql.Composed | None = None
        self._claim_names: tuple[str, ...] = ()

    # ------------------------------------------------------------------ connections
    def connect(self) -> None:
        """Open both connections; the models are loaded before the listener subscribes,
        so a scorer that listens is ready to score at full speed."""
        if self.conn is None or self.conn.closed:
            self.conn = connect(self.url, role=self.role)
        if self.listener is None or self.listener.closed:
            with self.conn.transaction():
                self.conn.execute(self._sql["lock_models_shared"])
                self.models.refresh(self.conn)
            self.listener = connect(self.url, role=self.role, autocommit=True)
            # LISTEN takes no bind parameters: the channels go in as identifiers.
            self.listener.execute(sql.SQL("listen {}").format(sql.Identifier(INGEST_CHANNEL)))
            self.listener.execute(sql.SQL("listen {}").format(sql.Identifier(MODELS_CHANNEL)))

    def close(self) -> None:
        for conn in (self.conn, self.listener):
            if conn is not None:
                try:
                    conn.close()
                except psycopg.Error:
                    pass
        self.conn = self.listener = None

    def __enter__(self) -> Scorer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ one batch
    def score_batch(self) -> BatchResult:
        """Claim, score and commit one batch; returns what it did (claimed 0: queue empty
        or no champion)."""
        self.connect()
        conn = self.conn
        assert conn is not None
        with conn.transaction():
            conn.execute(self._sql["lock_models_shared"])
            self.models.refresh(conn)
            champion = self.models.champion
            shadows = tuple(m.version for m in self.models.shadows)
            if champion is None:
                return BatchResult(0, 0, None, shadows)
            # Binary results: the features come as one packed bytea a row (_claim).
            rows = conn.execute(self._claim(), {"limit": self.batch_size},
                                binary=True).fetchall()
            if not rows:
                return BatchResult(0, 0, champion.version, shadows)
            missing = [r[0] for r in rows if not r[1]]
            if missing:
                raise ScoringError(
                    f"transactions {missing[:5]} have no features; run `pgfraud features "
                    f"backfill` (scoring resumes by itself)")
            alerts = self._write(conn, rows)
        return BatchResult(len(rows), alerts, champion.version, shadows)

    def _claim(self) -> sql.Composed:
        names = tuple(dict.fromkeys(n for m in self.models.all for n in m.feature_names))
        if self._claim_sql is None or names != self._claim_names:
            self._claim_sql = queries.with_packed_float8(self._sql["claim"], names, "m")
            self._claim_names = names
        return self._claim_sql

    def _write(self, conn: psycopg.Connection[Any], rows: Sequence[tuple[Any, ...]]) -> int:
        all_ids = [r[0] for r in rows]
        all_rows = queries.unpack_float8([r[3] for r in rows], len(self._claim_names))
        # Rows the API already decided with the champion (pgfraud serve) wait for the
        # shadows only: one champion prediction per transaction, whoever wrote it.
        undecided = np.array([not r[2] for r in rows], dtype=bool)
        column = {name: i for i, name in enumerate(self._claim_names)}
        predictions: dict[str, list[Any]] = {k: [] for k in (
            "transaction_id", "model_version", "feature_set_version", "is_shadow", "score",
            "threshold", "is_alert")}
        alert_rows: list[int] = []
        champion_features = np.empty((0, 0), dtype=np.float32)
        champion_ids: list[int] = []
        for model in self.models.all:
            if model.is_shadow or undecided.all():
                ids, matrix = all_ids, all_rows
            else:
                ids = [i for i, keep in zip(all_ids, undecided, strict=True) if keep]
                matrix = all_rows[undecided]
            if not ids:
                continue
            features = matrix[:, [column[n] for n in model.feature_names]]
            scores = np.clip(model.onnx.predict(features), 0.0, 1.0)
            decided = scores >= model.threshold
            predictions["transaction_id"] += ids
            predictions["model_version"] += [model.version] * len(ids)
            predictions["feature_set_version"] += [model.feature_set_version] * len(ids)
            predictions["is_shadow"] += [model.is_shadow] * len(ids)
            predictions["score"] += scores.tolist()
            predictions["threshold"] += [model.threshold] * len(ids)
            predictions["is_alert"] += decided.tolist()
            if not model.is_shadow:
                alert_rows = np.flatnonzero(decided).tolist()
                champion_features = features
                champion_ids = ids
        # The queries take the arrays as binary parameters (scoring.sql): each
        # list must hold one Python type (None aside), as these do.
        if predictions["transaction_id"]:
            conn.execute(self._sql["insert_predictions"], predictions)
        if not alert_rows:
            return 0
        champion = self.models.champion
        assert champion is not None
        reasons = champion.reasons(champion_features[alert_rows])
        conn.execute(self._sql["insert_alerts"], {
            "transaction_id": [champion_ids[i] for i in alert_rows],
            "model_version": [champion.version] * len(alert_rows),
            "reasons": [Jsonb(r) for r in reasons],
        })
        return len(alert_rows)

    # ------------------------------------------------------------------ the loop
    def drain(self, stop: Callable[[], bool] = lambda: False,
              on_batch: Callable[[BatchResult], None] = lambda r: None) -> BatchResult | None:
        """Score batches until the queue is empty (or no champion); the last result."""
        result = None
        while not stop():
            result = self.score_batch()
            on_batch(result)
            if result.claimed < self.batch_size:
                break
        return result

    def wait(self, timeout: float) -> None:
        """Sleep until new transactions commit (NOTIFY) or ``timeout`` seconds pass."""
        assert self.listener is not None
        for _ in self.listener.notifies(timeout=timeout, stop_after=1):
            pass

    def run(self, stop: Callable[[], bool], *, once: bool = False,
            poll_interval: float = 1.0,
            on_batch: Callable[[BatchResult], None] = lambda r: None) -> None:
        """Score until ``stop()`` (or, with ``once``, until the queue is empty).

        A lost connection is retried with backoff (1 s doubling to 10 s) and logged;
        other errors propagate.
        """
        backoff = 1.0
        waiting_for_champion = False
        while not stop():
            try:
                result = self.drain(stop, on_batch)
                backoff = 1.0
                if result is not None and result.champion is None:
                    if once:
                        raise ScoringError("there is no champion model; train one first "
                                           "(pgfraud train --bootstrap)")
                    if not waiting_for_champion:
                        log.warning("no champion model: waiting for one (pgfraud train "
                                    "--bootstrap, or pgfraud models promote V)")
                    waiting_for_champion = True
                else:
                    waiting_for_champion = False
                if once:
                    return
                self.wait(poll_interval)
            except (psycopg.OperationalError, DatabaseUnavailableError) as exc:
                reason = first_line(exc)
                log.warning("database unavailable (%s); retrying in %.0f s", reason, backoff)
                self.close()
                _sleep(backoff, stop)
                backoff = min(backoff * 2, MAX_BACKOFF_S)


def _sleep(seconds: float, stop: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not stop() and time.monotonic() < deadline:
        time.sleep(min(0.1, deadline - time.monotonic()))


def backlog(conn: psycopg.Connection[Any]) -> tuple[int, Any]:
    row = conn.execute(queries.load("scoring")["backlog"]).fetchone()
    assert row is not None
    return int(row[0]), row[1]


def alert_payloads(conn: psycopg.Connection[Any], limit: int) -> list[dict[str, Any]]:
    rows = conn.execute(queries.load("scoring")["recent_alerts"], {"limit": limit})
    return [json.loads(payload) for (payload,) in rows.fetchall()]
