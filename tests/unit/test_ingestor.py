"""The ingestor without a database: the thread switch interval its background writer
needs while it runs, restored when the last writer stops; rows held until released."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from decimal import Decimal

import pytest

from producer.cards import Tokenizer
from producer.ingest import WRITER_SWITCH_INTERVAL_S, Ingestor
from producer.records import CardTransaction


@pytest.fixture
def interval() -> Iterator[float]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield 0.005
    sys.setswitchinterval(before)


def writer() -> Ingestor:
    # Nothing is added, so nothing reaches the (absent) connection.
    return Ingestor(None, source="csv", tokenizer=Tokenizer(b"k" * 32))  # type: ignore[arg-type]


def test_a_writer_shortens_the_switch_interval_until_the_last_one_stops(interval: float) -> None:
    first = writer()
    assert sys.getswitchinterval() == pytest.approx(WRITER_SWITCH_INTERVAL_S)
    with writer():
        assert sys.getswitchinterval() == pytest.approx(WRITER_SWITCH_INTERVAL_S)
    assert sys.getswitchinterval() == pytest.approx(WRITER_SWITCH_INTERVAL_S)
    first.close()
    first.close()  # closing twice restores once
    assert sys.getswitchinterval() == pytest.approx(interval)


def test_without_a_background_writer_the_interval_is_left_alone(interval: float) -> None:
    with Ingestor(None, source="csv", tokenizer=Tokenizer(b"k" * 32),  # type: ignore[arg-type]
                  background=False):
        assert sys.getswitchinterval() == pytest.approx(interval)
    assert sys.getswitchinterval() == pytest.approx(interval)


def _tx(n: int) -> CardTransaction:
    return CardTransaction(f"t-{n}", dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
                           + dt.timedelta(minutes=n), "4111111111111111", Decimal("1.00"),
                           "shop", "grocery_pos", 40.0, -74.0)


def test_held_rows_are_prepared_but_sent_only_when_released(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The replay prepares a day while the day before is stored, and sends it after that
    day's labels: a held row reaches the writer only at release (full batches, flush
    and drain included), in order, and never at close."""
    sent: list[list[str]] = []
    ingestor = Ingestor(None, source="replay", tokenizer=Tokenizer(b"k" * 32),  # type: ignore[arg-type]
                        batch_size=3, background=False)
    monkeypatch.setattr(ingestor, "_write",
                        lambda batch: sent.append(_trans_nums(batch.staged.copy_data())))
    ingestor.add(_tx(0))
    ingestor.flush()
    assert sent == [["t-0"]]
    ingestor.hold()
    for n in range(1, 8):  # two full batches and one row
        ingestor.add(_tx(n))
    ingestor.flush()
    ingestor.drain()
    assert sent == [["t-0"]] and ingestor.stats.received == 8
    ingestor.release()
    assert sent == [["t-0"], ["t-1", "t-2", "t-3"], ["t-4", "t-5", "t-6"], ["t-7"]]
    ingestor.hold()
    ingestor.add(_tx(8))
    ingestor.close()
    assert len(sent) == 4


def _trans_nums(copy_data: bytes) -> list[str]:
    """The trans_num (third field) of each row of a staged batch's binary COPY stream."""
    found, offset = [], 19  # after the header
    while copy_data[offset:offset + 2] != b"\xff\xff":  # the trailer
        offset += 2  # the field count
        for field in range(20):
            length = int.from_bytes(copy_data[offset:offset + 4], "big", signed=True)
            if field == 2:
                found.append(copy_data[offset + 4:offset + 4 + length].decode())
            offset += 4 + max(length, 0)
    return found
