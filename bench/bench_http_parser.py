"""HTTP answer parser benchmark: fleetven's own (compiled and pure) against llhttp (httptools).

Run from the repository root (after building the extension in place)::

    python bench/bench_http_parser.py [--quick] [--json results.json]

Each contender reads one VTN answer at a time on a kept-alive connection, as a VEN's poll does:
the answer is handed over in one read (``whole``) or in reads of 536 bytes (``segments``, a
small MSS), and the contender returns the body once the answer is complete. The answers are an
idle poll's ``oadrResponse`` (about 600 bytes) and a distribution of ten events (about 14 KB).

* ``fleetven compiled`` / ``fleetven pure``: the transport's connection protocol
  (``fleetven._fast._http_c.Connection`` / ``_http_py``), fed through ``data_received`` exactly
  as the event loop feeds it, its answer heads parsed once and then found in the transport's
  cache of heads (a VTN sends the same few heads again and again);
* ``... head not cached``: the same with the cache emptied before every answer (the head parsed
  every time);
* ``httptools (llhttp)``: ``httptools.HttpResponseParser`` with the callbacks a client needs
  (the status, ``Content-Length`` and ``Connection`` headers, the body, the end of the message),
  one parser per connection, as an httptools-based transport would use it.

The ratios are each contender's time over the compiled parser's, in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httptools

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``fleetven`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # its harness and sample messages

from _http_harness import NullSocket, ParserOwner

from bench._common import format_ns, format_table, machine_info, measure, write_json
from fleetven._fast import COMPILED, _http_py

SEGMENT = 536


def _answer(body: bytes) -> bytes:
    return (b"HTTP/1.1 200 OK\r\nServer: fleetven-bench\r\nContent-Type: application/xml\r\n"
            b"Date: Mon, 07 Dec 2026 20:00:00 GMT\r\nContent-Length: %d\r\n\r\n" % len(body)) + body


def _bodies() -> dict[str, bytes]:
    import samples  # the test suite's sample messages

    from fleetven.messages import build_message
    from fleetven.openadr import model as m

    idle = build_message(m.ResponseMessage(response=m.Response(response_code=200, request_id="req-1"), ven_id="ven-1"))
    events = build_message(samples.distribute_event(10, 1, 4))
    return {"idle poll answer": idle, "10 events": events}


class _Waiter:
    """The least a connection needs of what waits for its answer."""

    __slots__ = ("result",)

    def __init__(self) -> None:
        self.result: bytes | None = None

    def done(self) -> bool:
        return self.result is not None

    def set_result(self, result: bytes) -> None:
        self.result = result

    def set_exception(self, exc: BaseException) -> None:
        raise exc


def _fleetven(module: Any, loop: asyncio.AbstractEventLoop, pieces: list[bytes], *,
              cached: bool) -> Callable[[], object]:
    owner = ParserOwner(loop, max_size=1 << 24)
    conn = module.Connection(owner, None)
    conn.connection_made(NullSocket())
    far = loop.time() + 1e9
    conn.send(b"", _Waiter(), 0.0, far)  # arms the one deadline timer; later requests reuse it
    conn.data_received(b"".join(pieces))
    heads = owner.parsed_heads

    def read() -> object:
        if not cached:
            heads.clear()
        waiter = _Waiter()
        conn.send(b"", waiter, 0.0, far)
        for piece in pieces:
            conn.data_received(piece)
        assert waiter.result is not None
        return waiter.result

    return read


class _HttptoolsReader:
    """What a client keeps per connection around an ``httptools.HttpResponseParser``."""

    __slots__ = ("parser", "body", "done", "length", "close")

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.body: list[bytes] = []
        self.done = False
        self.length = -1
        self.close = False

    def on_header(self, name: bytes, value: bytes) -> None:
        lname = name.lower()
        if lname == b"content-length":
            self.length = int(value)
        elif lname == b"connection":
            self.close = b"close" in value.lower()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True


def _httptools(pieces: list[bytes]) -> Callable[[], object]:
    reader = _HttptoolsReader()
    feed = reader.parser.feed_data

    def read() -> object:
        reader.body = []
        reader.done = False
        for piece in pieces:
            feed(piece)
        assert reader.done
        status = reader.parser.get_status_code()
        body = reader.body
        return status, body[0] if len(body) == 1 else b"".join(body)

    return read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter batches (a smoke run)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = parser.parse_args(argv)
    batches, min_batch = (3, 2_000_000) if args.quick else (15, 20_000_000)
    loop = asyncio.new_event_loop()
    twins: dict[str, Any] = {"pure": _http_py}
    if COMPILED:
        from fleetven._fast import _http_c

        twins = {"compiled": _http_c, **twins}
    results: dict[str, Any] = {"machine": machine_info(fleetven_compiled_loaded=COMPILED), "cases": []}
    rows = []
    for body_name, body in _bodies().items():
        data = _answer(body)
        for cut_name, pieces in (("whole", [data]), ("segments", [data[i:i + SEGMENT]
                                                                  for i in range(0, len(data), SEGMENT)])):
            contenders: dict[str, Callable[[], object]] = {}
            for twin, module in twins.items():
                contenders[f"fleetven {twin}"] = _fleetven(module, loop, pieces, cached=True)
                contenders[f"fleetven {twin}, head not cached"] = _fleetven(module, loop, pieces, cached=False)
            contenders["httptools (llhttp)"] = _httptools(pieces)
            bodies = {name: fn() for name, fn in contenders.items()}
            assert all((b[1] if isinstance(b, tuple) else b) == body for b in bodies.values()), body_name
            stats = measure(contenders, batches=batches, min_batch_ns=min_batch)
            base = next(iter(stats.values())).median_ns
            case = f"{body_name}, {cut_name} ({len(data):,} bytes, {len(pieces)} reads)"
            for name, s in stats.items():
                rows.append((case, name, format_ns(s.median_ns), f"{s.median_ns / base:.2f}"))
                results["cases"].append({"case": case, "contender": name, **s.as_dict(),
                                         "ratio_to_first": s.median_ns / base})
    loop.close()
    print(format_table(("answer", "parser", "per answer", "x first"), rows))
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
