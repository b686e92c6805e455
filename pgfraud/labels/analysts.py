"""Labels: analysts' labelling, the review queue, and simulated analysts.

A transaction has one label (``scoring.labels``), set through the view
``scoring.predictions`` (``true_value``, ``label_note``). Setting one, by plain SQL or
through :func:`apply_labels`, goes through ``scoring.write_label`` (revision 0007):
``labeled_at`` and ``labeled_by`` are stamped and every change of value or note is
appended to ``scoring.label_events``, which nobody can edit. Simulated analysts (the
owner) write a whole round at once through ``scoring.write_labels`` (revision 0016),
which writes the same labels and audit rows set-based.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from pgfraud.kernel import queries
from pgfraud.kernel.errors import PgfraudError

VALUES = {"fraud": True, "legit": False, "true": True, "false": False, "1": True,
          "0": False, "yes": True, "no": False}


class LabelError(PgfraudError):
    """Labels that cannot be applied (unknown or unscored transactions, bad values)."""


@dataclasses.dataclass(frozen=True)
class LabelRequest:
    key: str          # transaction id or trans_num
    value: bool
    note: str | None = None


@dataclasses.dataclass
class LabelSummary:
    requested: int = 0
    newly_labelled: int = 0
    relabelled: int = 0
    unchanged: int = 0
    fraud: int = 0


def parse_value(text: str) -> bool:
    try:
        return VALUES[text.strip().lower()]
    except KeyError:
        raise LabelError(f"label {text!r} is not one of fraud, legit (or true/false, 1/0)"
                         ) from None


def read_csv(path: Path) -> list[LabelRequest]:
    """Rows with ``transaction_id`` or ``trans_num``, a ``label`` and an optional ``note``."""
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields = set(reader.fieldnames or ())
        key_field = next((f for f in ("transaction_id", "trans_num") if f in fields), None)
        if key_field is None or "label" not in fields:
            raise LabelError(f"{path}: needs a header with transaction_id or trans_num, and "
                             f"label (found: {', '.join(sorted(fields)) or 'nothing'})")
        requests = []
        for line, row in enumerate(reader, start=2):
            try:
                value = parse_value(row["label"] or "")
            except LabelError as exc:
                raise LabelError(f"{path}, line {line}: {exc}") from None
            key = (row[key_field] or "").strip()
            if not key:
                raise LabelError(f"{path}, line {line}: empty {key_field}")
            requests.append(LabelRequest(key, value, (row.get("note") or "").strip() or None))
    return requests


def apply_labels(conn: psycopg.Connection[Any], requests: Iterable[LabelRequest]
                 ) -> LabelSummary:
    """Apply labels in one transaction; all or nothing.

    Raises :class:`LabelError` naming every unknown or not yet scored transaction, and
    for a transaction labelled twice in one request with different values.
    """
    requests = list(requests)
    sql = queries.load("labels")
    with conn.transaction():
        rows = conn.execute(sql["resolve"], {"keys": [r.key for r in requests]}).fetchall()
        unknown = [r.key for r, row in zip(requests, rows, strict=True) if row[1] is None]
        unscored = [r.key for r, row in zip(requests, rows, strict=True)
                    if row[1] is not None and not row[2]]
        if unknown or unscored:
            parts = []
            if unknown:
                parts.append(f"unknown transaction(s): {_sample(unknown)}")
            if unscored:
                parts.append(f"not scored yet (labels go on predictions; run pgfraud score): "
                             f"{_sample(unscored)}")
            raise LabelError("; ".join(parts) + "; nothing was labelled")
        wanted: dict[int, LabelRequest] = {}
        before: dict[int, bool | None] = {}
        for request, row in zip(requests, rows, strict=True):
            transaction_id = int(row[1])
            if transaction_id in wanted and wanted[transaction_id].value != request.value:
                raise LabelError(f"transaction {request.key} is labelled both fraud and legit "
                                 f"in this request; nothing was labelled")
            wanted[transaction_id] = request
            before[transaction_id] = row[3]
        ids = list(wanted)
        try:
            conn.execute(sql["apply"], {"ids": ids, "values": [wanted[i].value for i in ids],
                                        "notes": [wanted[i].note for i in ids]})
        except psycopg.errors.CheckViolation as exc:  # a note holding a card number
            raise LabelError(f"{exc.diag.message_primary}; nothing was labelled") from None
    summary = LabelSummary(requested=len(requests))
    for transaction_id, request in wanted.items():
        old = before[transaction_id]
        if old is None:
            summary.newly_labelled += 1
        elif old != request.value:
            summary.relabelled += 1
        else:
            summary.unchanged += 1
        summary.fraud += request.value
    return summary


def _sample(keys: list[str]) -> str:
    return ", ".join(keys[:10]) + (f" … ({len(keys)} in all)" if len(keys) > 10 else "")


def review_queue(conn: psycopg.Connection[Any], limit: int) -> list[dict[str, Any]]:
    return conn.cursor(row_factory=dict_row).execute(queries.load("labels")["review"],
                                                     {"limit": limit}).fetchall()


@dataclasses.dataclass(frozen=True)
class AnalystOptions:
    delay: dt.timedelta = dt.timedelta(days=2)
    coverage: float = 0.3
    chargeback_delay: dt.timedelta = dt.timedelta(days=30)
    seed: int = 0
    labeled_by: str = "simulated-analyst"


@dataclasses.dataclass
class AnalystRound:
    labelled: int = 0
    fraud: int = 0
    alerts_reviewed: int = 0
    sampled: int = 0
    chargebacks: int = 0


def simulate_analysts(conn: psycopg.Connection[Any],
                      options: AnalystOptions = AnalystOptions()) -> AnalystRound:
    """Label everything simulated analysts would have labelled by the event clock.

    Reads the truth schema, so it needs the owner (it is a simulation of people who
    find out, never part of the scoring path). Labels arrive at event time + delay,
    written in one call of ``scoring.write_labels`` (owner only).
    """
    sql = queries.load("labels")
    with conn.transaction():
        due = conn.execute(sql["simulated_labels_due"], {
            "delay": options.delay, "chargeback_delay": options.chargeback_delay,
            "coverage": options.coverage, "seed": options.seed}).fetchall()
        if due:
            conn.execute(sql["apply_simulated"], {
                "ids": [r[0] for r in due], "values": [r[1] for r in due],
                "labeled_at": [r[2] for r in due], "notes": [r[3] for r in due],
                "labeled_by": options.labeled_by})  # binary arrays: see the query
    result = AnalystRound(labelled=len(due), fraud=sum(bool(r[1]) for r in due))
    for _, _, _, note in due:
        if note == "alert review":
            result.alerts_reviewed += 1
        elif note == "sampled review":
            result.sampled += 1
        else:
            result.chargebacks += 1
    return result
