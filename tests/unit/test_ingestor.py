"""The ingestor's background writer, without a database: the thread switch interval it
needs while it runs, restored when the last writer stops."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from producer.cards import Tokenizer
from producer.ingest import WRITER_SWITCH_INTERVAL_S, Ingestor


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
