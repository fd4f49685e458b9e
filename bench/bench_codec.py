"""Codec benchmark: fleetven's OpenADR 2.0b parser and builder against OpenLEADR and bare lxml.

Run from the repository root (after building the extension in place)::

    python bench/bench_codec.py [--quick] [--json results.json]

Extraction: the events of an ``oadrDistributeEvent`` with one event (three
signals of 24 hourly intervals: a day-ahead price, a load set-point and a
SIMPLE level) and with ten such events. Contenders, all fed the same bytes:
fleetven's ``parse_message`` path with the compiled extractor and with the
pure-Python one, OpenLEADR's ``parse_message``, and ``lxml.etree.fromstring``
of the bytes alone (the floor: no parser can do less). For fleetven the split
between ``parse_document`` and the extraction alone is shown as well.

Building: ``oadrPoll``, ``oadrCreatedEvent`` (ten event responses) and
``oadrUpdateReport`` (one report of twelve intervals), unsigned: fleetven's
``build_message`` against OpenLEADR's ``create_message`` with the same content.

Every input is generated here from a seeded random source; nothing is read
from ``tests/`` or the network. ``FLEETVEN_NO_EXTENSIONS=1`` leaves the
compiled contender out (its rows say why).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import random
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` and ``fleetven`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import BATCHES, MIN_BATCH_NS, Stats, format_ns, format_table, machine_info, measure, write_json

VEN_ID = "ven-0001"
VTN_ID = "vtn-example"

# Contender names: stable, the JSON and the smoke test rely on them.
FV_COMPILED = "fleetven compiled"
FV_PURE = "fleetven pure"
OL_PARSE = "openleadr parse_message"
LXML_FLOOR = "lxml fromstring"
FV_PARSE_DOC = "fleetven parse_document only"
FV_COMPILED_EXTRACT = "fleetven compiled extract only"
FV_PURE_EXTRACT = "fleetven pure extract only"
EXTRACT_CONTENDERS = (FV_COMPILED, FV_PURE, OL_PARSE, LXML_FLOOR, FV_PARSE_DOC, FV_COMPILED_EXTRACT, FV_PURE_EXTRACT)

FV_BUILD = "fleetven build_message"
OL_BUILD = "openleadr create_message"
BUILD_CONTENDERS = (FV_BUILD, OL_BUILD)

EXTRACT_CASES = (("distribute_1_event", 1), ("distribute_10_events", 10))
BUILD_CASES = ("oadrPoll", "oadrCreatedEvent_10", "oadrUpdateReport_12")

#: Targets of issue 2 for the compiled path.
TARGET_VS_OPENLEADR_PARSE = 25.0  # OpenLEADR parse_message time / fleetven time >= this
TARGET_VS_LXML = 2.0  # fleetven time / lxml.etree.fromstring time <= this
TARGET_VS_OPENLEADR_BUILD = 10.0  # OpenLEADR create_message time / fleetven time >= this

SIGNALS = (3, 24)  # signals per event, hourly intervals per signal


# --------------------------------------------------------------------- fleetven


class Fleetven:
    """What of fleetven is importable right now, and why not the rest."""

    def __init__(self) -> None:
        self.missing: dict[str, str] = {}
        self.no_extensions = bool(os.environ.get("FLEETVEN_NO_EXTENSIONS"))
        self.model: Any = self._load("fleetven.openadr.model")
        self.build: Any = self._load("fleetven.messages.build")
        self.parse: Any = self._load("fleetven.messages.parse")
        self.extract_py: Callable[[Any], Any] | None = getattr(
            self._load("fleetven._fast._extract_py"), "extract", None
        )
        self.extract_c: Callable[[Any], Any] | None = None
        if self.no_extensions:
            self.missing["fleetven._fast._extract_c"] = "FLEETVEN_NO_EXTENSIONS is set"
        else:
            self.extract_c = getattr(self._load("fleetven._fast._extract_c"), "extract", None)
        selector = self._load("fleetven._fast")
        self.selected = getattr(selector, "COMPILED", None)

    def _load(self, name: str) -> Any:
        try:
            return importlib.import_module(name)
        except Exception as exc:  # any failure means "unavailable", with the reason shown
            self.missing[name] = f"{type(exc).__name__}: {exc}"
            return None

    def why_not(self, *names: str) -> str:
        """The reason the first missing module among ``names`` is missing."""
        for name in names:
            if name in self.missing:
                return f"{name} unavailable ({self.missing[name]})"
        return "unavailable"


# ----------------------------------------------------------------------- inputs


def make_event(rng: random.Random, index: int, start: datetime) -> dict[str, Any]:
    """One event in OpenLEADR's dict shape: a price, a load set-point and a SIMPLE level, 24 hours each."""
    n_signals, n_intervals = SIGNALS
    hour = timedelta(hours=1)
    dtstart = start + timedelta(days=index)

    def intervals(values: list[float | int]) -> list[dict[str, Any]]:
        return [{"duration": hour, "signal_payload": value} for value in values]

    signals = [
        {
            "signal_name": "ELECTRICITY_PRICE",
            "signal_type": "price",
            "signal_id": f"price-{index:03d}",
            "measurement": {"name": "currencyPerKWh", "description": "currencyPerKWh", "unit": "USD", "scale": "none"},
            "current_value": 0.0,
            "intervals": intervals([round(rng.uniform(0.04, 0.45), 4) for _ in range(n_intervals)]),
        },
        {
            "signal_name": "LOAD_DISPATCH",
            "signal_type": "setpoint",
            "signal_id": f"load-{index:03d}",
            "measurement": {
                "name": "powerReal",
                "description": "RealPower",
                "unit": "W",
                "scale": "k",
                "power_attributes": {"hertz": 60, "voltage": 240, "ac": True},
            },
            "intervals": intervals([round(rng.uniform(50.0, 500.0), 1) for _ in range(n_intervals)]),
        },
        {
            "signal_name": "SIMPLE",
            "signal_type": "level",
            "signal_id": f"simple-{index:03d}",
            "current_value": 0,
            "intervals": intervals([rng.choice((0, 1, 2, 3)) for _ in range(n_intervals)]),
        },
    ][:n_signals]
    return {
        "event_descriptor": {
            "event_id": f"event-{index:03d}-{rng.getrandbits(32):08x}",
            "modification_number": rng.randint(0, 5),
            "market_context": "http://marketcontext.example.com/day-ahead",
            "created_date_time": start - timedelta(hours=12),
            "event_status": "far",
            "test_event": False,
            "priority": 1,
        },
        "active_period": {"dtstart": dtstart, "duration": hour * n_intervals},
        "event_signals": signals,
        "targets": [{"ven_id": VEN_ID}, {"group_id": "feeder-12"}],
        "response_required": "always",
    }


def distribute_payload(rng: random.Random, n_events: int) -> dict[str, Any]:
    """The keyword arguments of an ``oadrDistributeEvent`` for OpenLEADR's ``create_message``."""
    start = datetime(2026, 7, 1, tzinfo=UTC)
    request_id = f"req-{rng.getrandbits(48):012x}"
    return {
        "request_id": request_id,
        "vtn_id": VTN_ID,
        "response": {"response_code": 200, "response_description": "OK", "request_id": request_id},
        "events": [make_event(rng, index, start) for index in range(n_events)],
    }


def fleetven_distribute(fv: Fleetven, payload: dict[str, Any]) -> Any:
    """The same ``oadrDistributeEvent`` as a fleetven model object (for ``--source fleetven``)."""
    m = fv.model
    events = []
    for event in payload["events"]:
        signals = []
        for signal in event["event_signals"]:
            signal = dict(signal)
            signal["intervals"] = [{**interval, "uid": str(i)} for i, interval in enumerate(signal["intervals"])]
            if "measurement" in signal:
                signal["measurement"] = m.Measurement(**signal["measurement"])
            signals.append(signal)
        events.append({**event, "event_signals": signals})
    return m.DistributeEvent(
        request_id=payload["request_id"],
        vtn_id=payload["vtn_id"],
        response=m.Response(**payload["response"]),
        events=events,
    )


def build_inputs(rng: random.Random, fv: Fleetven) -> dict[str, tuple[Any, tuple[str, dict[str, Any]]]]:
    """Build cases: name -> (fleetven model object or None, (OpenLEADR message type, its kwargs))."""
    now = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    request_id = f"req-{rng.getrandbits(48):012x}"
    event_responses = [
        {
            "response_code": 200,
            "response_description": "OK",
            "request_id": request_id,
            "event_id": f"event-{index:03d}-{rng.getrandbits(32):08x}",
            "modification_number": rng.randint(0, 5),
            "opt_type": rng.choice(("optIn", "optOut")),
        }
        for index in range(10)
    ]
    created: dict[str, Any] = {
        "response": {"response_code": 200, "response_description": "OK", "request_id": request_id},
        "ven_id": VEN_ID,
        "event_responses": event_responses,
    }
    quarter = timedelta(minutes=15)
    report_start = now - 12 * quarter
    intervals: list[dict[str, Any]] = [
        {
            "dtstart": report_start + index * quarter,
            "duration": quarter,
            "report_payload": {"r_id": "rid-energy", "value": round(rng.uniform(0.5, 9.5), 3)},
        }
        for index in range(12)
    ]
    report: dict[str, Any] = {
        "report_id": f"report-{rng.getrandbits(32):08x}",
        "report_request_id": f"rr-{rng.getrandbits(32):08x}",
        "report_specifier_id": "spec-telemetry-usage",
        "report_name": "TELEMETRY_USAGE",
        "created_date_time": now,
        "dtstart": report_start,
        "duration": 12 * quarter,
        "intervals": intervals,
    }
    update: dict[str, Any] = {"request_id": f"req-{rng.getrandbits(48):012x}", "ven_id": VEN_ID, "reports": [report]}

    cases: dict[str, tuple[Any, tuple[str, dict[str, Any]]]] = {
        "oadrPoll": (None, ("oadrPoll", {"ven_id": VEN_ID})),
        "oadrCreatedEvent_10": (None, ("oadrCreatedEvent", created)),
        "oadrUpdateReport_12": (None, ("oadrUpdateReport", update)),
    }
    m = fv.model
    if m is not None:
        fv_report = m.Report(
            report_id=report["report_id"],
            report_request_id=report["report_request_id"],
            report_specifier_id=report["report_specifier_id"],
            report_name=report["report_name"],
            created_date_time=report["created_date_time"],
            dtstart=report["dtstart"],
            duration=report["duration"],
            intervals=[
                m.ReportInterval(
                    dtstart=interval["dtstart"],
                    duration=interval["duration"],
                    payloads=[m.ReportPayload(**interval["report_payload"])],
                )
                for interval in intervals
            ],
        )
        cases["oadrPoll"] = (m.Poll(ven_id=VEN_ID), cases["oadrPoll"][1])
        cases["oadrCreatedEvent_10"] = (
            m.CreatedEvent(
                response=m.Response(**created["response"]),
                ven_id=VEN_ID,
                event_responses=[m.EventResponse(**er) for er in event_responses],
            ),
            cases["oadrCreatedEvent_10"][1],
        )
        cases["oadrUpdateReport_12"] = (
            m.UpdateReport(request_id=update["request_id"], ven_id=VEN_ID, reports=[fv_report]),
            cases["oadrUpdateReport_12"][1],
        )
    return cases


# ------------------------------------------------------------------- checking


def _xsd() -> Any:
    from importlib.resources import files

    from lxml import etree

    schema_path = files("openleadr") / "schema" / "oadr_20b.xsd"
    return etree.XMLSchema(etree.parse(str(schema_path)))


def check_distribute(data: bytes, payload: dict[str, Any], fv: Fleetven, schema: Any) -> list[str]:
    """Check that every parser reads ``data`` to the generated content; return what was checked."""
    from lxml import etree
    from openleadr.messaging import parse_message as ol_parse

    def expected_signals(event: dict[str, Any]) -> list[tuple[str, list[float]]]:
        return [
            (s["signal_name"], [float(i["signal_payload"]) for i in s["intervals"]]) for s in event["event_signals"]
        ]

    expected = [(e["event_descriptor"]["event_id"], expected_signals(e)) for e in payload["events"]]
    done = []
    if not schema.validate(etree.fromstring(data)):
        raise SystemExit(f"generated oadrDistributeEvent is not schema-valid: {schema.error_log.last_error}")
    done.append("oadr_20b.xsd")

    message_type, ol_payload = ol_parse(data)
    got = [
        (
            e["event_descriptor"]["event_id"],
            [(s["signal_name"], [float(i["signal_payload"]) for i in s["intervals"]]) for s in e["event_signals"]],
        )
        for e in ol_payload["events"]
    ]
    if message_type != "oadrDistributeEvent" or got != expected:
        raise SystemExit("OpenLEADR's parse_message does not read the generated oadrDistributeEvent back")
    done.append(OL_PARSE)

    extractors = [(FV_PURE, fv.extract_py), (FV_COMPILED, fv.extract_c)]
    for name, extract in extractors:
        if extract is None or fv.parse is None:
            continue
        message = extract(fv.parse.parse_document(data))
        got = [
            (
                e["event_id"],
                [(s["signal_name"], [float(i["signal_payload"]) for i in s["intervals"]]) for s in e["event_signals"]],
            )
            for e in message.events
        ]
        if got != expected:
            raise SystemExit(f"{name} does not read the generated oadrDistributeEvent back")
        done.append(name)
    return done


# ----------------------------------------------------------------------- runs


def _chain(first: Callable[[Any], Any], second: Callable[[Any], Any], arg: Any) -> Callable[[], object]:
    """A zero-argument callable running ``second(first(arg))``."""

    def run() -> object:
        return second(first(arg))

    return run


def _row(case: str, contender: str, stats: Stats | None, reason: str | None = None) -> dict[str, Any]:
    row: dict[str, Any] = {"case": case, "contender": contender, "available": stats is not None}
    if stats is not None:
        row.update(stats.as_dict())
    else:
        row["reason"] = reason
    return row


def _ratio(
    case: str, name: str, value: float | None, target: float | None, better: str, reason: str | None = None
) -> dict[str, Any]:
    passed: bool | None = None
    if value is not None and target is not None:
        passed = value >= target if better == "higher" else value <= target
    entry: dict[str, Any] = {
        "case": case,
        "ratio": name,
        "value": value,
        "target": None if target is None else (">= " if better == "higher" else "<= ") + f"{target:g}",
        "pass": passed,
    }
    if value is None:
        entry["reason"] = reason
    return entry


def run_extraction(
    fv: Fleetven, rng: random.Random, *, source: str, batches: int, min_batch_ns: int, schema: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Time every extraction contender on both documents."""
    from lxml import etree
    from openleadr.messaging import create_message
    from openleadr.messaging import parse_message as ol_parse

    rows: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    inputs: dict[str, Any] = {}
    for case, n_events in EXTRACT_CASES:
        payload = distribute_payload(rng, n_events)
        if source == "fleetven":
            data = fv.build.build_message(fleetven_distribute(fv, payload))
        else:
            data = create_message("oadrDistributeEvent", **payload).encode("utf-8")
        checked = check_distribute(data, payload, fv, schema)
        inputs[case] = {
            "events": n_events,
            "signals_per_event": SIGNALS[0],
            "intervals_per_signal": SIGNALS[1],
            "bytes": len(data),
            "built_by": "fleetven build_message" if source == "fleetven" else "openleadr create_message",
            "read_back_by": checked,
        }

        contenders: dict[str, Callable[[], object]] = {
            OL_PARSE: partial(ol_parse, data),
            LXML_FLOOR: partial(etree.fromstring, data),
        }
        unavailable: dict[str, str] = {}
        parse_document = getattr(fv.parse, "parse_document", None)
        if parse_document is not None:
            root = parse_document(data)
            contenders[FV_PARSE_DOC] = partial(parse_document, data)
            for whole, only, extract, module in (
                (FV_COMPILED, FV_COMPILED_EXTRACT, fv.extract_c, "fleetven._fast._extract_c"),
                (FV_PURE, FV_PURE_EXTRACT, fv.extract_py, "fleetven._fast._extract_py"),
            ):
                if extract is None:
                    unavailable[whole] = unavailable[only] = fv.why_not(module)
                    continue
                contenders[whole] = _chain(parse_document, extract, data)
                contenders[only] = partial(extract, root)
        else:
            for name in (FV_COMPILED, FV_PURE, FV_PARSE_DOC, FV_COMPILED_EXTRACT, FV_PURE_EXTRACT):
                unavailable[name] = fv.why_not("fleetven.messages.parse")

        stats = measure(contenders, batches=batches, min_batch_ns=min_batch_ns)
        for name in EXTRACT_CONTENDERS:
            rows.append(_row(case, name, stats.get(name), unavailable.get(name)))

        ol = stats[OL_PARSE].median_ns
        floor = stats[LXML_FLOOR].median_ns
        for name, target_speed, target_floor in (
            (FV_COMPILED, TARGET_VS_OPENLEADR_PARSE, TARGET_VS_LXML),
            (FV_PURE, None, None),
        ):
            fv_stats = stats.get(name)
            value = None if fv_stats is None else ol / fv_stats.median_ns
            ratios.append(_ratio(case, f"{OL_PARSE} / {name}", value, target_speed, "higher", unavailable.get(name)))
            value = None if fv_stats is None else fv_stats.median_ns / floor
            ratios.append(_ratio(case, f"{name} / {LXML_FLOOR}", value, target_floor, "lower", unavailable.get(name)))
    return rows, ratios, inputs


def run_building(
    fv: Fleetven, rng: random.Random, *, batches: int, min_batch_ns: int, schema: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Time fleetven's builder against OpenLEADR's on the three build cases."""
    from lxml import etree
    from openleadr.messaging import create_message

    rows: list[dict[str, Any]] = []
    ratios: list[dict[str, Any]] = []
    inputs: dict[str, Any] = {}
    build_message = getattr(fv.build, "build_message", None)
    for case, (model, (message_type, kwargs)) in build_inputs(rng, fv).items():
        contenders: dict[str, Callable[[], object]] = {
            OL_BUILD: partial(create_message, message_type, **kwargs),
        }
        info: dict[str, Any] = {"openleadr_bytes": len(create_message(message_type, **kwargs).encode("utf-8"))}
        reason = None
        if build_message is not None and model is not None:
            data = build_message(model)
            info["fleetven_bytes"] = len(data)
            info["fleetven_schema_valid"] = bool(schema.validate(etree.fromstring(data)))
            contenders[FV_BUILD] = partial(build_message, model)
        else:
            reason = fv.why_not("fleetven.openadr.model", "fleetven.messages.build")
        inputs[case] = info
        stats = measure(contenders, batches=batches, min_batch_ns=min_batch_ns)
        for name in BUILD_CONTENDERS:
            rows.append(_row(case, name, stats.get(name), reason))
        fv_stats = stats.get(FV_BUILD)
        value = None if fv_stats is None else stats[OL_BUILD].median_ns / fv_stats.median_ns
        ratios.append(_ratio(case, f"{OL_BUILD} / {FV_BUILD}", value, TARGET_VS_OPENLEADR_BUILD, "higher", reason))
    return rows, ratios, inputs


# --------------------------------------------------------------------- output


def _print_group(title: str, rows: list[dict[str, Any]], inputs: dict[str, Any], floor: str | None) -> None:
    print(f"\n{title}")
    for case in dict.fromkeys(row["case"] for row in rows):
        case_rows = [row for row in rows if row["case"] == case]
        info = inputs.get(case, {})
        detail = ", ".join(f"{key}={value}" for key, value in info.items() if key != "read_back_by")
        print(f"\n  {case}: {detail}")
        if "read_back_by" in info:
            print(f"  read back identically by: {', '.join(info['read_back_by'])}")
        base = {row["contender"]: row for row in case_rows}.get(floor or "")
        header = ["contender", "median", "IQR", "min", "loops x batches"]
        if base is not None:
            header.append(f"x {floor}")
        table = []
        for row in case_rows:
            if not row["available"]:
                table.append([row["contender"], "unavailable", "", "", "", *([""] if base else [])][: len(header)])
                continue
            cells = [
                row["contender"],
                format_ns(row["median_ns"]),
                format_ns(row["iqr_ns"]),
                format_ns(row["min_ns"]),
                f"{row['loops']} x {row['batches']}",
            ]
            if base is not None:
                cells.append(f"{row['median_ns'] / base['median_ns']:.2f}")
            table.append(cells)
        print(format_table(header, table, indent="    "))
        for row in case_rows:
            if not row["available"]:
                print(f"    ({row['contender']}: {row['reason']})")


def _print_ratios(ratios: list[dict[str, Any]]) -> None:
    print("\nRatios (compiled path targets from issue 2)")
    table = []
    for entry in ratios:
        value = "unavailable" if entry["value"] is None else f"{entry['value']:.2f}x"
        verdict = {True: "PASS", False: "MISS", None: "-" if entry["target"] is None else "n/a"}[entry["pass"]]
        table.append([entry["case"], entry["ratio"], value, entry["target"] or "(info)", verdict])
    print(format_table(["case", "ratio", "value", "target", "result"], table))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the process exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON to PATH")
    parser.add_argument(
        "--quick", action="store_true", help="short smoke run (3 batches of >= 2 ms): numbers are rough"
    )
    parser.add_argument("--batches", type=int, help=f"timed batches per contender (default {BATCHES})")
    parser.add_argument(
        "--min-batch-ms", type=float, help=f"shortest batch in milliseconds (default {MIN_BATCH_NS / 1e6:g})"
    )
    parser.add_argument("--seed", type=int, default=20260701, help="seed of the generated inputs")
    parser.add_argument(
        "--source",
        choices=("openleadr", "fleetven"),
        default="openleadr",
        help="which builder makes the oadrDistributeEvent bytes every parser reads (default: openleadr)",
    )
    args = parser.parse_args(argv)
    batches = args.batches or (3 if args.quick else BATCHES)
    min_batch_ns = int((args.min_batch_ms if args.min_batch_ms is not None else (2 if args.quick else 20)) * 1e6)

    logging.getLogger("openleadr").setLevel(logging.WARNING)  # both sides run without debug logging
    fv = Fleetven()
    if args.source == "fleetven" and fv.build is None:
        parser.error(f"--source fleetven needs the builder: {fv.why_not('fleetven.messages.build')}")
    import openleadr

    machine = machine_info(
        openleadr=getattr(openleadr, "__version__", "0.5.36"),
        fleetven_compiled_loaded=fv.extract_c is not None,
        fleetven_selector_compiled=fv.selected,
        fleetven_no_extensions=fv.no_extensions,
    )
    print("fleetven codec benchmark")
    for key, value in machine.items():
        print(f"  {key}: {value}")
    print(f"  batches: {batches} per contender, each >= {min_batch_ns / 1e6:g} ms, round-robin; gc off in batches")
    if fv.missing:
        print("  unavailable: " + "; ".join(f"{name} ({why})" for name, why in fv.missing.items()))

    schema = _xsd()
    rng = random.Random(args.seed)
    ex_rows, ex_ratios, ex_inputs = run_extraction(
        fv, rng, source=args.source, batches=batches, min_batch_ns=min_batch_ns, schema=schema
    )
    _print_group("Extraction of oadrDistributeEvent events (median per message)", ex_rows, ex_inputs, LXML_FLOOR)
    bu_rows, bu_ratios, bu_inputs = run_building(fv, rng, batches=batches, min_batch_ns=min_batch_ns, schema=schema)
    _print_group("Building unsigned messages (median per message)", bu_rows, bu_inputs, None)
    ratios = ex_ratios + bu_ratios
    _print_ratios(ratios)

    if args.json:
        write_json(
            args.json,
            {
                "benchmark": "codec",
                "machine": machine,
                "settings": {
                    "quick": args.quick,
                    "batches": batches,
                    "min_batch_ns": min_batch_ns,
                    "seed": args.seed,
                    "source": args.source,
                },
                "inputs": {"extract": ex_inputs, "build": bu_inputs},
                "extract": ex_rows,
                "build": bu_rows,
                "ratios": ratios,
            },
        )
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
