"""A bounded open-loop load generator for the HTTP API, on loopback.

Request ``i`` is due at ``start + i / rate`` whatever happened to the requests before it
(open loop): a slow answer does not delay the next request, so the server sees the
offered rate, and each latency runs from the request's *scheduled* time, not from when it
was actually written, so a client that fell behind (or a full pool) shows up in the
figures instead of hiding them (no coordinated omission).

Bounded: at most ``max_in_flight`` requests wait for an answer, each on its own
keep-alive HTTP/1.1 connection (opened when first needed, reused while the server keeps
it open; no pipelining). A request due while all of them are busy is not queued but
counted as an error, ``dropped``; so memory and the number of connections stay bounded
however far the server falls behind. Other error kinds: ``connect`` (the connection could
not be opened), ``closed`` (the server closed it before the whole answer), ``timeout``
(no whole answer ``timeout_s`` after sending), ``bad response`` (not HTTP/1.x) and
``http NNN`` (an answer outside 2xx).

Why hand-written HTTP on asyncio streams: the generator shares two cores with the server
and PostgreSQL, so every microsecond it spends is taken from what it measures. One
event loop, requests encoded to bytes before the clock starts (head and body), and a
response parser that reads a status line, three headers and a Content-Length (or
chunked) body cost a few tens of microseconds a request (about 16 % of a core at 1,000 requests/s
with the standard loop, measured against a trivial server); an HTTP client library
(httpx, aiohttp) costs several times that, and threads with ``http.client`` would need
one thread per request in flight, contending for the GIL. uvloop drives the loop when
installed. Times are ``time.perf_counter()``'s, not the loop's clock (uvloop's ticks in
whole milliseconds, cached per iteration). The loop's timers wake up to about a
millisecond late (``lag_ms``); that delay is inside the client-side latency, as a late
send by any client would be.

>>> percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50), percentile([1.0, 2.0], 99)
(3.0, 2.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

DEFAULT_MAX_IN_FLIGHT = 64
DEFAULT_TIMEOUT_S = 10.0
#: When the first request is due, after the call (time to set up, not measured).
LEAD_S = 0.02

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


@dataclass(frozen=True, slots=True)
class Sample:
    """One scheduled request. ``error`` None: a 2xx answer.

    ``client_ms``: scheduled time to the whole answer read (None when dropped, or when no
    answer came); ``server_ms``: the answer's own ``latency_ms``; ``lag_ms``: how late
    the request was written (the generator's own delay); ``body``: a 2xx answer's JSON.
    """

    index: int
    status: int | None
    client_ms: float | None
    server_ms: float | None
    lag_ms: float | None
    error: str | None
    body: Any = None


@dataclass(frozen=True, slots=True)
class Percentiles:
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        """Nearest-rank percentiles; NaN for no values."""
        ordered = sorted(values)
        return cls(*(percentile(ordered, q, presorted=True) for q in (50, 95, 99, 100)))


def percentile(values: Sequence[float], q: float, *, presorted: bool = False) -> float:
    """The nearest-rank ``q``-th percentile (an observed value); NaN for no values."""
    if not values:
        return math.nan
    ordered = values if presorted else sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


@dataclass(frozen=True)
class LoadResult:
    """What one run offered and what came back."""

    offered_rate: float
    duration_s: float
    #: When the first request was due, on ``time.perf_counter()``'s clock.
    started_at: float
    #: From the first request's scheduled time to the last answer (or give-up).
    elapsed_s: float
    max_in_flight: int
    peak_in_flight: int
    connections_opened: int
    #: CPU time of this process (user + system) during the run: the generator's own cost.
    client_cpu_s: float
    samples: list[Sample]

    @property
    def scheduled(self) -> int:
        return len(self.samples)

    @property
    def ok(self) -> list[Sample]:
        return [s for s in self.samples if s.error is None]

    @property
    def achieved_rate(self) -> float:
        """2xx answers per second, over the schedule or longer if answers came later."""
        return len(self.ok) / max(self.elapsed_s, self.duration_s)

    @property
    def errors(self) -> Counter[str]:
        return Counter(s.error for s in self.samples if s.error is not None)

    @property
    def client_ms(self) -> Percentiles:
        """Of 2xx answers, from the scheduled send time."""
        return Percentiles.of([s.client_ms for s in self.ok if s.client_ms is not None])

    @property
    def server_ms(self) -> Percentiles:
        """Of 2xx answers, as the server reported them (``latency_ms``)."""
        return Percentiles.of([s.server_ms for s in self.ok if s.server_ms is not None])

    @property
    def lag_ms(self) -> Percentiles:
        """How late the generator wrote requests: should stay near 1 ms."""
        return Percentiles.of([s.lag_ms for s in self.samples if s.lag_ms is not None])


def encode_requests(url: str, token: str | None,
                    bodies: Sequence[Mapping[str, Any] | bytes]) -> list[bytes]:
    """Each body as one whole ``POST`` to ``url``: bytes ready to write."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"need an http:// URL with a host, not {url!r}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = (f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            "Content-Type: application/json\r\nAccept: application/json\r\n"
            + (f"Authorization: Bearer {token}\r\n" if token else ""))
    encoded = []
    for body in bodies:
        data = body if isinstance(body, bytes) else json.dumps(
            body, separators=(",", ":")).encode()
        encoded.append(f"{head}Content-Length: {len(data)}\r\n\r\n".encode() + data)
    return encoded


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bool, bytes]:
    """One HTTP/1.x answer: (status, whether the connection may be reused, body).

    Raises ``asyncio.IncompleteReadError`` when the connection closes early and
    ``ValueError`` for what is not an HTTP/1.x answer."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    if not version.startswith(b"HTTP/1.") or len(rest) < 3 or not rest[:3].isdigit():
        raise ValueError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    status = int(rest[:3])
    keep_alive = version == b"HTTP/1.1"
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"connection":
            value = value.lower()
            keep_alive = b"close" not in value and (keep_alive or b"keep-alive" in value)
    if chunked:
        body = await _read_chunked(reader)
    elif length is not None:
        body = await reader.readexactly(length)
    elif status in (204, 304) or status < 200:
        body = b""
    else:  # the body runs to the end of the connection
        body, keep_alive = await reader.read(), False
    return status, keep_alive, body


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return b"".join(chunks)
        chunks.append(await reader.readexactly(size))
        await reader.readexactly(2)


class _Run:
    """The connections and the requests in flight of one run."""

    def __init__(self, host: str, port: int, count: int, max_in_flight: int,
                 timeout_s: float) -> None:
        self.host, self.port = host, port
        self.max_in_flight, self.timeout_s = max_in_flight, timeout_s
        self.samples: list[Sample | None] = [None] * count
        self.idle: list[Connection] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.in_flight = self.peak_in_flight = self.opened = 0
        self.last_done = 0.0
        self.loop = asyncio.get_running_loop()

    def launch(self, index: int, request: bytes, due: float) -> None:
        if self.in_flight >= self.max_in_flight:
            self.samples[index] = Sample(index, None, None, None, None, "dropped")
            return
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        task = self.loop.create_task(self._one(index, request, due))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _one(self, index: int, request: bytes, due: float) -> None:
        conn = self._reusable()
        status: int | None = None
        lag_ms: float | None = None
        error: str | None = None
        body: bytes = b""
        keep_alive = False
        try:
            async with asyncio.timeout(self.timeout_s):
                if conn is None:
                    conn = await self._open()
                conn[1].write(request)
                lag_ms = (time.perf_counter() - due) * 1000
                await conn[1].drain()
                status, keep_alive, body = await read_response(conn[0])
        except TimeoutError:
            error = "timeout"
        except (asyncio.IncompleteReadError, OSError):  # no connection yet: refused
            error = "closed" if conn is not None else "connect"
        except (ValueError, asyncio.LimitOverrunError):
            error = "bad response"
        done = time.perf_counter()
        self.last_done = max(self.last_done, done)
        self.in_flight -= 1
        if conn is not None:
            if error is None and keep_alive:
                self.idle.append(conn)
            else:
                conn[1].close()
        client_ms = (done - due) * 1000 if status is not None else None
        parsed: Any = None
        server_ms: float | None = None
        if error is None and status is not None and not 200 <= status < 300:
            error = f"http {status}"
        elif error is None:
            parsed, server_ms = _answer(body)
        self.samples[index] = Sample(index, status, client_ms, server_ms, lag_ms, error,
                                     parsed)

    def _reusable(self) -> Connection | None:
        """An idle connection the server has not closed meanwhile, or None."""
        while self.idle:
            reader, writer = self.idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    async def _open(self) -> Connection:
        self.opened += 1
        return await asyncio.open_connection(self.host, self.port)

    async def finish(self) -> None:
        while self.tasks:
            await asyncio.gather(*list(self.tasks))
        for _, writer in self.idle:
            writer.close()
        self.idle.clear()


def _answer(body: bytes) -> tuple[Any, float | None]:
    """A 2xx body's JSON and its ``latency_ms`` (None when absent or not JSON)."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return None, None
    latency = parsed.get("latency_ms") if isinstance(parsed, dict) else None
    if isinstance(latency, int | float) and not isinstance(latency, bool):
        return parsed, float(latency)
    return parsed, None


async def generate(url: str, token: str | None, bodies: Sequence[Mapping[str, Any] | bytes],
                   *, rate: float, duration_s: float,
                   max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
                   timeout_s: float = DEFAULT_TIMEOUT_S) -> LoadResult:
    """POST ``round(rate * duration_s)`` of ``bodies`` (in order) to ``url``, request ``i``
    due ``i / rate`` seconds after the start; returns when every answer is in."""
    if not rate > 0 or not duration_s > 0 or max_in_flight < 1:
        raise ValueError("rate, duration and max_in_flight must be positive")
    count = round(rate * duration_s)
    if len(bodies) < count:
        raise ValueError(f"{count:,} requests at {rate:g}/s for {duration_s:g} s need as many "
                         f"bodies, got {len(bodies):,}")
    parts = urlsplit(url)
    requests = encode_requests(url, token, bodies[:count])
    run = _Run(parts.hostname or "", parts.port or 80, count, max_in_flight, timeout_s)
    cpu_started = time.process_time()
    start = time.perf_counter() + LEAD_S
    for i, request in enumerate(requests):
        due = start + i / rate
        while (delay := due - time.perf_counter()) > 0:  # never early
            await asyncio.sleep(delay)
        run.launch(i, request, due)
    await run.finish()
    samples = [s for s in run.samples if s is not None]
    assert len(samples) == count, "every scheduled request has a sample"
    return LoadResult(offered_rate=rate, duration_s=duration_s, started_at=start,
                      elapsed_s=max(run.last_done - start, 0.0),
                      max_in_flight=max_in_flight, peak_in_flight=run.peak_in_flight,
                      connections_opened=run.opened,
                      client_cpu_s=time.process_time() - cpu_started, samples=samples)


def run(url: str, token: str | None, bodies: Sequence[Mapping[str, Any] | bytes], *,
        rate: float, duration_s: float, max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        timeout_s: float = DEFAULT_TIMEOUT_S) -> LoadResult:
    """:func:`generate` on its own event loop (uvloop when installed); callable from a
    thread, so a test can put a server under load while it does something else."""
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(generate(url, token, bodies, rate=rate, duration_s=duration_s,
                                   max_in_flight=max_in_flight, timeout_s=timeout_s))


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    with contextlib.suppress(ImportError):
        factory: Callable[[], asyncio.AbstractEventLoop] = importlib.import_module(
            "uvloop").new_event_loop
        return factory
    return None
