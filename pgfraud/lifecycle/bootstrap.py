"""Cold start: a training set from the producer's simulated history, before any label.

A fresh install has no labels, so nothing to train on. ``pgfraud train --bootstrap``
generates a few weeks of simulated traffic (the same generator as ``pgfraud produce``,
with its own seed and a throwaway tokenization key) into a scratch database on the same
server, migrated to the same revision. The ingest trigger computes features there with
the same SQL as in production, the generator's own fraud flags are the labels, and the
scratch database is dropped afterwards. The live database's tables, including its truth
schema, are never read.

Merchant-risk features are zero in that history (no analyst labels exist there), as
they are on a fresh install; the first retrain on real labels learns them.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from pgfraud.kernel import migrate
from pgfraud.kernel.db import connect, redact, scratch_database
from pgfraud.kernel.errors import PgfraudError
from pgfraud.kernel.names import TRAINER_ROLE
from pgfraud.lifecycle import registry
from pgfraud.lifecycle.training import FAR_FUTURE, FAR_PAST, Dataset, load_dataset, train
from producer.cards import Tokenizer
from producer.ingest import Ingestor
from producer.records import CardTransaction, Incident
from producer.run import Limits, run
from producer.stream import StreamConfig, TransactionStream

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class BootstrapOptions:
    days: float = 14.0
    cards: int = 2000
    merchants: int = 400
    fraud_rate: float = 0.01
    seed: int = 20_260_101


# The simulated history ends here unless a caller says otherwise (replay ends it where
# its file begins). A fixed end makes the history, and so the bootstrap model, a pure
# function of the options: the same model on every machine and every day. Features are
# relative to each card's own past, so the calendar date itself teaches the model nothing.
HISTORY_END = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)  # a Monday, midnight UTC


def simulated_history(url: str, options: BootstrapOptions = BootstrapOptions(), *,
                      end: dt.datetime | None = None,
                      on_progress: Callable[[int, dt.datetime], None] = lambda n, at: None,
                      ) -> Dataset:
    """Model input and labels for ``options.days`` of simulated traffic ending at ``end``
    (default :data:`HISTORY_END`).

    ``url`` names the server (its user needs CREATEDB); the history lives in a scratch
    database there until this returns.
    """
    end = end or HISTORY_END
    with scratch_database(url, "pgfraud_bootstrap", purpose=(
            "--bootstrap generates its history in a scratch database")) as scratch_url:
        log.info("bootstrap history in scratch database %s", redact(scratch_url))
        migrate.upgrade(scratch_url)
        frauds: set[str] = set()
        config = StreamConfig(seed=options.seed,
                              start=end - dt.timedelta(days=options.days),
                              fraud_rate=options.fraud_rate, cards=options.cards,
                              merchants=options.merchants)

        def labelled() -> Iterator[tuple[CardTransaction, Incident | None]]:
            for tx, incident in TransactionStream(config):
                if tx.is_fraud:
                    frauds.add(tx.trans_num)
                yield tx, incident

        with connect(scratch_url) as conn:
            with Ingestor(conn, source="stream",
                          tokenizer=Tokenizer(_throwaway_key(options.seed))) as ingestor:
                run(labelled(), ingestor,
                    Limits(span_s=options.days * 86_400),
                    on_progress=lambda n, tx: on_progress(n, tx.transacted_at))
            data = load_dataset(conn, cutoff=FAR_FUTURE, start=FAR_PAST, end=FAR_FUTURE)
    data.labels = np.array([1.0 if n in frauds else 0.0 for n in data.trans_nums])
    return data


def bootstrap_champion(url: str, options: BootstrapOptions = BootstrapOptions(), *,
                       end: dt.datetime | None = None) -> int:
    """Train on :func:`simulated_history`, register the model and promote it if there is
    no champion yet (what ``pgfraud train --bootstrap`` does, without the model card).
    Returns the model's version."""
    started = time.monotonic()
    trained = train(simulated_history(url, options, end=end))
    with connect(url, role=TRAINER_ROLE, autocommit=True) as conn:
        version, _ = registry.register(conn, trained, mode="bootstrap", cutoff=None,
                                       seconds=time.monotonic() - started,
                                       deploy="promote-if-none")
    if version is None:
        raise PgfraudError("the bootstrap model failed its ONNX parity check; it was not "
                           "registered (see ml.training_runs)")
    return version


def _throwaway_key(seed: int) -> bytes:
    """The scratch database's tokenization key: derived from the seed (the tokens never
    leave the scratch database), so the history is reproducible to the token."""
    return hashlib.sha256(f"pgfraud bootstrap history {seed}".encode()).digest()


def describe(data: Dataset) -> dict[str, Any]:
    return {"transactions": len(data), "frauds": int(np.nansum(data.labels))}
