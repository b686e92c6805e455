"""A real ``pgfraud serve`` process for tests and benchmarks, and request bodies that
continue a simulated history (the same cards, the same world)."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg

from pgfraud.api import tokens
from producer.records import CardTransaction
from producer.stream import StreamConfig, TransactionStream
from tests.history import START

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))
TOKEN_KEY = "k" * 32  # the key tests.history.produce tokenizes with


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_token(url: str, name: str) -> str:
    with psycopg.connect(url) as conn:
        return tokens.create(conn, name)


class Server:
    """``pgfraud serve`` on a free loopback port, stderr kept in a file."""

    def __init__(self, url: str, *args: str, log_dir: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"serve-{self.port}.log"
        env = {**os.environ, "DATABASE_URL": url, "PGFRAUD_TOKEN_KEY": TOKEN_KEY}
        self._log = self.log_path.open("w")
        self.process = subprocess.Popen(
            [PGFRAUD, "serve", "--port", str(self.port), *args], env=env,
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, timeout: float = 60, *, champion: bool = True) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"pgfraud serve exited: {self.log()}")
            try:
                response = httpx.get(self.base + ("/readyz" if champion else "/healthz"),
                                     timeout=2)
                if response.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"pgfraud serve not ready after {timeout} s: {self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return self.process.returncode


def body(tx: CardTransaction) -> dict[str, Any]:
    """A transaction as the API's JSON."""
    return {
        "trans_num": tx.trans_num, "transacted_at": tx.transacted_at.isoformat(),
        "card_number": tx.pan, "amount": str(tx.amount), "merchant": tx.merchant,
        "category": tx.category, "merchant_lat": tx.merchant_lat,
        "merchant_long": tx.merchant_long, "home_lat": tx.home_lat,
        "home_long": tx.home_long, "city_pop": tx.city_pop,
        "birth_date": tx.birth_date.isoformat() if tx.birth_date else None,
    }


def continuing(*, after: int, cards: int, seed: int = 7) -> Iterator[CardTransaction]:
    """The simulated transactions after the first ``after`` of the stream
    ``tests.history.produce(cards=cards, seed=seed)`` sends (it returns that count): the
    same cards and merchants, later in time."""
    config = StreamConfig(seed=seed, start=START, fraud_rate=0.02, cards=cards,
                          merchants=max(60, cards // 5))
    return itertools.islice((tx for tx, _ in TransactionStream(config)), after, None)
