"""The soak's processes (benchmarks/bench_soak.py): the real `pgfraud produce` and
`pgfraud score`, each in its own process group with a log file, killed and watched."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

PGFRAUD = str(Path(sys.executable).with_name("pgfraud"))
TOKEN_KEY = "soak-token-key-" + "k" * 17  # 32 bytes
STOP_TIMEOUT_S = 60.0
TAIL_LINES = 15
RETRY_LINE = re.compile(r"database unavailable \(.*\); retrying")


class SoakError(RuntimeError):
    """The soak could not run as planned, or an invariant broke."""


class Fleet:
    """The soak's processes: one producer and the current scorer, each in its own
    process group (so a kill takes the workers too), each with a log in ``folder``."""

    def __init__(self, url: str, folder: Path, *, produce_args: list[str],
                 score_args: list[str]) -> None:
        self.folder = folder
        self.produce_args = produce_args
        self.score_args = score_args
        self.env = {**os.environ, "DATABASE_URL": url, "PGFRAUD_TOKEN_KEY": TOKEN_KEY,
                    "PYTHONUNBUFFERED": "1"}
        self.producer: subprocess.Popen[bytes] | None = None
        self.scorers: list[subprocess.Popen[bytes]] = []

    def _spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        with open(self.folder / f"{name}.log", "wb") as out:
            return subprocess.Popen([PGFRAUD, *args], env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)

    def start_producer(self) -> None:
        self.producer = self._spawn(self.produce_args, "producer")

    def start_scorer(self) -> None:
        self.scorers.append(self._spawn(self.score_args,
                                        f"scorer-{len(self.scorers) + 1:02d}"))

    @property
    def scorer(self) -> subprocess.Popen[bytes]:
        return self.scorers[-1]

    def kill_scorer(self) -> None:
        """SIGKILL the current scorer's process group: supervisor and workers at once;
        returns when no process of the group is left."""
        self.ensure_scorer_running()
        os.killpg(self.scorer.pid, signal.SIGKILL)
        self.scorer.wait(timeout=10)
        deadline = time.monotonic() + 10
        while _group_alive(self.scorer.pid):
            if time.monotonic() > deadline:
                raise self.failure("a scorer worker survived SIGKILL of its process group")
            time.sleep(0.05)

    def ensure_producer_running(self) -> None:
        """Fail at once if the producer has exited: a fault after the stream proves
        nothing, and a producer that died under a fault is the finding."""
        assert self.producer is not None
        code = self.producer.poll()
        if code is not None:
            raise self.failure(
                f"`pgfraud produce` exited with status {code} before the faults were all "
                f"injected" + ("" if code else "; lower the rate so the stream lasts longer"))

    def ensure_scorer_running(self) -> None:
        if self.scorer.poll() is not None:
            raise self.failure(f"`pgfraud score` exited by itself (status "
                               f"{self.scorer.returncode})")

    def stop_scorer(self) -> None:
        """SIGTERM, as an operator stops it: it must finish its batch and exit 0."""
        self.ensure_scorer_running()
        self.scorer.terminate()
        try:
            code = self.scorer.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise self.failure(f"`pgfraud score` did not stop within {STOP_TIMEOUT_S:.0f} s "
                               f"of SIGTERM") from None
        if code != 0:
            raise self.failure(f"`pgfraud score` exited with status {code} on SIGTERM")

    def close(self) -> None:
        """Kill whatever still runs (after a failure)."""
        for process in [self.producer, *self.scorers]:
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def scorer_retries(self) -> int:
        """Workers' "database unavailable (...); retrying" lines, over all scorers."""
        return sum(len(RETRY_LINE.findall(path.read_text(errors="replace")))
                   for path in self.folder.glob("scorer-*.log"))

    def failure(self, message: str) -> SoakError:
        """A :class:`SoakError` carrying the last lines of the producer's and the last
        two scorers' logs."""
        count = len(self.scorers)
        names = ["producer", *(f"scorer-{i:02d}" for i in range(max(count - 1, 1), count + 1))]
        return SoakError("\n".join([message, *tails(self.folder, names)]))


def tails(folder: Path, names: list[str]) -> list[str]:
    """Where the logs are, and the last lines of the named ones."""
    tails = [f"logs in {folder}"]
    for name in names:
        lines = (folder / f"{name}.log").read_text(errors="replace").splitlines()
        tails.append(f"--- {name}.log (last {TAIL_LINES} lines):\n"
                     + "\n".join(lines[-TAIL_LINES:]))
    return tails


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
