"""The API benchmark's load generator against a tiny HTTP server in the test's own loop:
the schedule (counted, never timed), the bound on requests in flight, error counting and
the response parser. No database.

Each request body says what the server does with it: answer 200 (with ``latency_ms``),
answer 500, close the connection without an answer, or hold the request forever.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import pytest

from benchmarks import loadgen


class TinyServer:
    """Keep-alive HTTP/1.1 that records what arrives, when, and how many wait at once."""

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        self.connections = 0
        self.waiting = 0
        self.peak_waiting = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.release = asyncio.Event()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/v1/authorizations"

    async def close(self) -> None:
        """Held requests released, every connection closed, handlers finished."""
        assert self.server is not None
        self.server.close()
        self.release.set()
        for writer in self.writers:
            writer.close()
        await asyncio.sleep(0.05)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"POST /v1/authorizations HTTP/1.1\r\n")
                assert b"\r\nAuthorization: Bearer tok\r\n" in head
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = json.loads(await reader.readexactly(length))
                self.arrivals[body["i"]] = time.perf_counter()
                self.waiting += 1
                self.peak_waiting = max(self.peak_waiting, self.waiting)
                if body["do"] == "hold":
                    await self.release.wait()
                self.waiting -= 1
                if body["do"] in ("close", "hold"):
                    writer.close()
                    return
                status = b"500 Internal Server Error" if body["do"] == "fail" else b"200 OK"
                answer = json.dumps({"i": body["i"], "latency_ms": 2.5}).encode()
                writer.write(b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
                             b"content-length: " + str(len(answer)).encode() + b"\r\n\r\n"
                             + answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()


def bodies(actions: list[str]) -> list[dict[str, Any]]:
    return [{"i": i, "do": do} for i, do in enumerate(actions)]


def against_server(actions: list[str], **options: Any
                   ) -> tuple[loadgen.LoadResult, TinyServer]:
    async def main() -> tuple[loadgen.LoadResult, TinyServer]:
        server = TinyServer()
        url = await server.start()
        try:
            result = await loadgen.generate(url, "tok", bodies(actions), **options)
        finally:
            await server.close()
        return result, server

    return asyncio.run(main())


def test_every_request_is_sent_once_and_never_before_its_time() -> None:
    result, server = against_server(["ok"] * 250, rate=200, duration_s=1.0, max_in_flight=8)
    assert result.scheduled == 200  # rate x duration, not the bodies given
    assert sorted(server.arrivals) == list(range(200))
    early = [i for i, at in server.arrivals.items() if at < result.started_at + i / 200]
    assert early == []
    assert [s.index for s in result.samples] == list(range(200))
    assert len(result.ok) == 200 and not result.errors
    assert all(s.status == 200 and s.body["i"] == s.index for s in result.samples)
    # Answers are read whole: the server's latency_ms comes back from each body.
    assert result.server_ms.p50 == result.server_ms.max == 2.5
    # Keep-alive: connections are reused, never more than the requests in flight.
    assert server.connections == result.connections_opened <= result.peak_in_flight <= 8
    assert result.elapsed_s >= 199 / 200
    assert result.achieved_rate == pytest.approx(200 / max(result.elapsed_s, 1.0))


def test_requests_in_flight_are_capped_and_the_rest_dropped() -> None:
    # Nothing is ever answered: the first 4 fill the pool and wait until they time out
    # (well after the schedule ends); every later request finds the pool full.
    result, server = against_server(["hold"] * 50, rate=100, duration_s=0.5,
                                    max_in_flight=4, timeout_s=1.5)
    assert server.peak_waiting == 4 and len(server.arrivals) == 4
    assert result.errors == {"dropped": 46, "timeout": 4}
    assert result.peak_in_flight == 4 and result.ok == []
    assert all(s.client_ms is None for s in result.samples)


def test_error_answers_and_closed_connections_are_counted_by_kind() -> None:
    actions = ["ok", "fail", "ok", "close", "ok"] * 20
    result, server = against_server(actions, rate=200, duration_s=0.5, max_in_flight=8)
    assert result.errors == {"http 500": 20, "closed": 20}
    assert len(result.ok) == 60
    assert {s.index for s in result.ok} == {i for i, a in enumerate(actions) if a == "ok"}
    # A 500 keeps the connection; a closed one is replaced by a new one.
    assert server.connections == result.connections_opened >= 21
    assert all(s.status == 500 and s.client_ms is not None
               for s in result.samples if s.error == "http 500")
    # Percentiles are of 2xx answers only.
    assert result.server_ms.p99 == 2.5


def test_a_refused_connection_is_a_connect_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = loadgen.run(f"http://127.0.0.1:{port}/", "tok", bodies(["ok"] * 10), rate=100,
                         duration_s=0.1)
    assert result.errors == {"connect": 10}
    assert result.achieved_rate == 0


def test_too_few_bodies_for_the_schedule() -> None:
    with pytest.raises(ValueError, match="need as many bodies"):
        loadgen.run("http://127.0.0.1:1/", None, bodies(["ok"] * 9), rate=100, duration_s=0.1)


@pytest.mark.parametrize(("raw", "expected"), [
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}extra", (200, True, b"{}")),
    (b"HTTP/1.1 409 Conflict\r\nconnection: close\r\ncontent-length: 1\r\n\r\nx",
     (409, False, b"x")),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
     b"4\r\n{\"a\"\r\n3;ext=1\r\n:1}\r\n0\r\nTrailer: t\r\n\r\n", (200, True, b'{"a":1}')),
    (b"HTTP/1.0 200 OK\r\n\r\nto the end", (200, False, b"to the end")),
    (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n",
     (200, True, b"")),
])
def test_response_parser(raw: bytes, expected: tuple[int, bool, bytes]) -> None:
    async def parse() -> tuple[int, bool, bytes]:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        return await loadgen.read_response(reader)

    assert asyncio.run(parse()) == expected


@pytest.mark.parametrize("raw", [b"SSH-2.0-OpenSSH\r\n\r\n", b"HTTP/1.1 OK\r\n\r\n",
                                 b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"])
def test_response_parser_refuses_what_is_not_http(raw: bytes) -> None:
    async def parse() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(raw)
        reader.feed_eof()
        await loadgen.read_response(reader)

    with pytest.raises(ValueError):
        asyncio.run(parse())


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(100, 0, -1)]  # 1..100, unsorted
    p = loadgen.Percentiles.of(values)
    assert (p.p50, p.p95, p.p99, p.max) == (50.0, 95.0, 99.0, 100.0)
    assert loadgen.percentile([7.0], 99) == 7.0
    assert loadgen.Percentiles.of([]).p50 != loadgen.Percentiles.of([]).p50  # NaN
