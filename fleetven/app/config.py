"""The ``fleetven run`` configuration file: TOML in, a validated :class:`FleetConfig` out.

::

    config = load_config("fleet.toml")      # every mistake at once, with its file, line and key
    fleet = build_fleet(config)             # a Fleet with its handlers, reports and VENs

:func:`load_config` reads the whole file, the identities' CSV and every file they name, imports
every handler and report callback, and reports *all* the mistakes it finds in one
:class:`~fleetven.exceptions.ConfigurationError` before anything connects. Each mistake is a
``ConfigurationError`` of its own in the ``errors`` field, with ``file``, ``line`` and ``key``
fields, and a message such as ``fleet.toml:12: [vtn] url: must be an http:// or https:// URL``.

Relative paths in the file are taken from the file's directory; paths in the CSV from the CSV's
directory. Handlers and callbacks are ``module:function`` import paths; the file's directory is
put first on ``sys.path`` so that a module beside the file imports. The file format is described
in ``docs/cli.rst``.
"""

from __future__ import annotations

import csv
import importlib
import inspect
import os
import re
import sys
import tomllib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final
from urllib.parse import urlsplit

from fleetven.exceptions import ConfigurationError, FleetvenError, StoreError
from fleetven.fleet.core import Fleet
from fleetven.fleet.driver import HANDLER_NAMES
from fleetven.http.tls import TLS_MODES
from fleetven.loadtest.options import FLEET_OPTIONS, fleet_kwargs
from fleetven.openadr.timefmt import parse_seconds
from fleetven.store import POSTGRESQL_SCHEMES
from fleetven.ven.reports import make_report_spec

__all__ = (
    "FleetConfig",
    "VenConfig",
    "ReportConfig",
    "load_config",
    "read_identities",
    "build_fleet",
    "parse_duration_setting",
    "LOG_FORMATS",
    "LOG_LEVELS",
)

#: The logging formats ``[logging] format`` takes.
LOG_FORMATS: Final = ("text", "json")
#: The logging levels ``[logging] level`` takes.
LOG_LEVELS: Final = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

#: The columns of the identities' CSV, in their default order.
CSV_COLUMNS: Final = ("ven_name", "ven_id", "cert", "key")

Path_ = tuple[str | int, ...]

# ------------------------------------------------------------------------------------ typed config


@dataclass(frozen=True, slots=True)
class VenConfig:
    """One VEN identity of the file (``[[vens.ven]]``) or of its CSV.

    :ivar where: ``file:line`` it came from, for messages.
    """

    name: str
    ven_id: str | None = None
    cert: str | None = None
    key: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    resource_ids: tuple[str, ...] = ()
    group_ids: tuple[str, ...] = ()
    party_ids: tuple[str, ...] = ()
    where: str = ""


@dataclass(frozen=True, slots=True)
class ReportConfig:
    """One ``[[reports]]`` entry: :meth:`fleetven.fleet.core.Fleet.add_report` arguments."""

    callback: Callable[..., Any]
    resource_id: str
    measurement: str | dict[str, Any] | None
    options: Mapping[str, Any]
    where: str = ""


@dataclass(frozen=True, slots=True)
class FleetConfig:
    """A validated ``fleetven run`` configuration (see :func:`load_config`).

    :ivar path: the file it was read from.
    :ivar options: the ``[fleet]`` keyword options for :class:`~fleetven.fleet.core.Fleet`, converted
        (durations in seconds).
    :ivar store: the ``[store] path`` (absolute), ``":memory:"`` for ``"memory"``; without a
        ``[store]`` section, ``<the file's name>.db`` beside the file.
    """

    path: str
    vtn_url: str
    vtn_fingerprint: str | None = None
    require_vtn_signature: bool = False
    ca_file: str | None = None
    check_hostname: bool = True
    cert: str | None = None
    key: str | None = None
    passphrase: str | None = field(default=None, repr=False)
    tls_mode: str = "default"
    disable_signature: bool = False
    store: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    handlers: Mapping[str, Callable[..., Any]] = field(default_factory=dict)
    reports: tuple[ReportConfig, ...] = ()
    vens: tuple[VenConfig, ...] = ()
    log_format: str = "text"
    log_level: str = "INFO"

    def fleet_kwargs(self) -> dict[str, Any]:
        """The keyword arguments of :class:`~fleetven.fleet.core.Fleet` this configuration gives."""
        kwargs = fleet_kwargs(self, _SECTION_OPTIONS)
        if self.store is not None:
            kwargs["store"] = self.store
        kwargs.update(self.options)
        return kwargs


# ------------------------------------------------------------------------- where keys are in the text


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class _Positions:
    """The line of every table header and key of a TOML text (which :mod:`tomllib` does not give).

    Paths are resolved like the parsed document: ``("vtn", "url")``, ``("reports", 1, "callback")``
    (the second ``[[reports]]``), ``("vens", "ven", 0, "name")``. Keys inside inline tables and
    arrays take the line of the key that holds them. The text must already be valid TOML.
    """

    def __init__(self, text: str) -> None:
        self.lines: dict[Path_, int] = {}
        self._arrays: dict[Path_, int] = {}
        self._scan(text)

    def line(self, path: Path_) -> int | None:
        """The line of ``path``, else of its nearest recorded ancestor, else ``None``."""
        for end in range(len(path), 0, -1):
            found = self.lines.get(path[:end])
            if found is not None:
                return found
        return None

    def _resolve(self, keys: list[str]) -> Path_:
        path: Path_ = ()
        for key in keys:
            path = (*path, key)
            count = self._arrays.get(path)
            if count is not None:
                path = (*path, count - 1)
        return path

    def _scan(self, text: str) -> None:
        i, n, line = 0, len(text), 1
        table: Path_ = ()
        while i < n:
            while i < n and text[i] in " \t\r":
                i += 1
            if i >= n:
                break
            c = text[i]
            if c == "\n":
                line += 1
                i += 1
            elif c == "#":
                i = _line_end(text, i)
            elif c == "[":
                double = text.startswith("[[", i)
                keys, i = _read_keys(text, i + (2 if double else 1))
                i = _line_end(text, i)
                if double:
                    base = (*self._resolve(keys[:-1]), keys[-1])
                    self._arrays[base] = self._arrays.get(base, 0) + 1
                    self.lines.setdefault(base, line)
                    table = (*base, self._arrays[base] - 1)
                else:
                    table = self._resolve(keys)
                self.lines[table] = line
            else:
                keys, i = _read_keys(text, i)
                path = table
                for key in keys:
                    path = (*path, key)
                    self.lines.setdefault(path, line)
                i, line = _skip_value(text, i + 1, line)


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end


def _read_keys(text: str, i: int) -> tuple[list[str], int]:
    """Read a dotted key at ``i``; returns the parts and the index of the ``=`` or ``]`` after it."""
    keys: list[str] = []
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t":
            i += 1
        c = text[i] if i < n else ""
        if c in "\"'":
            end = i + 1
            while end < n and text[end] != c:
                end += 2 if c == '"' and text[end] == "\\" else 1
            raw = text[i + 1:end]
            keys.append(raw.encode("latin-1", "backslashreplace").decode("unicode_escape") if c == '"' else raw)
            i = end + 1
        else:
            match = _BARE_KEY.match(text, i)
            if match is None:
                break
            keys.append(match.group())
            i = match.end()
        while i < n and text[i] in " \t":
            i += 1
        if i < n and text[i] == ".":
            i += 1
            continue
        break
    while i < n and text[i] in "]":
        i += 1
    return keys, i


def _skip_value(text: str, i: int, line: int) -> tuple[int, int]:
    """Skip a value from ``i`` (after the ``=``) to the end of its last line; counts newlines."""
    n, depth = len(text), 0
    while i < n:
        c = text[i]
        if c == "\n":
            if depth == 0:
                return i, line
            line += 1
            i += 1
        elif c == "#":
            i = _line_end(text, i)
        elif c in "[{":
            depth += 1
            i += 1
        elif c in "]}":
            depth -= 1
            i += 1
        elif c in "\"'":
            quote = c * 3 if text.startswith(c * 3, i) else c
            j = i + len(quote)
            while j < n and not text.startswith(quote, j):
                if text[j] == "\\" and c == '"':
                    j += 1
                elif text[j] == "\n":
                    line += 1
                j += 1
            j += len(quote)
            while quote != c and j < n and text[j] == c:  # """a"""" ends with a quote inside
                j += 1
            i = j
        else:
            i += 1
    return i, line


# ------------------------------------------------------------------------------------- collecting


class _Problems:
    """The mistakes found so far, each a :class:`ConfigurationError` with ``file``, ``line``, ``key``."""

    def __init__(self, file: str, positions: _Positions | None) -> None:
        self.file = file
        self.positions = positions
        self.errors: list[ConfigurationError] = []

    def add(self, path: Path_, text: str) -> None:
        line = self.positions.line(path) if self.positions is not None else None
        self.at(self.file, line, _dotted(path), f"{_shown(path)}: {text}")

    def at(self, file: str, line: int | None, key: str, text: str) -> None:
        where = f"{file}:{line}" if line is not None else file
        self.errors.append(ConfigurationError(f"{where}: {text}", file=file, line=line, key=key))


def _dotted(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _shown(path: Path_) -> str:
    """``[vtn] url``, ``[[reports]] #2 callback``, ``[vtn]``."""
    last_index = max((i for i, p in enumerate(path) if isinstance(p, int)), default=-1)
    if last_index >= 0:
        table = ".".join(str(p) for p in path[:last_index] if not isinstance(p, int))
        head = f"[[{table}]] #{path[last_index] + 1}"  # type: ignore[operator]
        rest = path[last_index + 1:]
    else:
        head = f"[{path[0]}]"
        rest = path[1:]
    return f"{head} {'.'.join(str(p) for p in rest)}" if rest else head


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "a table", datetime: "a date-time"}
    return names.get(type(value), type(value).__name__)


# ----------------------------------------------------------------------------------------- values


def parse_duration_setting(value: object, *, name: str = "duration") -> float:
    """Seconds from a configuration duration: a number of seconds, ``"10s"``, ``"5m"``, ``"1h"``,
    ``"250ms"``, ``"1h30m"``, ``"2d"`` or ISO 8601 (``"PT10S"``); a string needs its unit.

    The file's reading of :func:`fleetven.openadr.timefmt.parse_seconds`, the duration reader of
    every option.

    :raises ConfigurationError: (a ``ValueError``) anything else, or a negative duration.
    """
    return parse_seconds(value, name=name, unitless=False)


def _import_callable(spec: object) -> Callable[..., Any]:
    """Import ``module:attribute`` (dotted attributes allowed) and check that it is callable.

    :raises ValueError: with what went wrong.
    """
    if not isinstance(spec, str):
        raise ValueError(f"must be an import path 'module:function' (a string), not {_type_name(spec)}")
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute or not all(
        p.isidentifier() for p in (*module_name.split("."), *attribute.split("."))
    ):
        raise ValueError(f"{spec!r} is not an import path of the form 'module:function'")
    try:
        target: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module_name.startswith(exc.name):
            raise ValueError(f"{spec!r}: no module named {exc.name!r}") from None
        raise ValueError(f"{spec!r}: importing {module_name!r} failed: {exc}") from None
    except Exception as exc:
        raise ValueError(f"{spec!r}: importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ValueError(f"{spec!r}: {module_name!r} has no attribute {attribute!r}") from None
    if not callable(target):
        raise ValueError(f"{spec!r} is not callable (it is {_type_name(target)})")
    result: Callable[..., Any] = target
    return result


# ------------------------------------------------------------------------------------ the checker

#: The [fleet] options, from their one declaration (the others are set from [vtn] and [tls]).
_FLEET_OPTIONS: Final = MappingProxyType({o.config_key: o for o in FLEET_OPTIONS if o.section == "fleet"})
#: The fleet options set from [vtn] and [tls] (fields of FleetConfig of the same names).
_SECTION_OPTIONS: Final = tuple(o for o in FLEET_OPTIONS if o.section in ("vtn", "tls"))


def _section_keys(section: str) -> tuple[str, ...]:
    """The keys of ``section`` that set fleet options."""
    return tuple(o.config_key for o in _SECTION_OPTIONS if o.section == section)


#: Fleet parameters set from other sections (or by ``run`` itself), not from [fleet].
_NOT_FLEET_OPTIONS: Final = frozenset(
    ("vtn_url", "store", "observer", "transport_factory", *(o.name for o in FLEET_OPTIONS if o.section != "fleet"))
)
_SECTIONS: Final = ("vtn", "tls", "store", "fleet", "handlers", "reports", "vens", "logging")
_REPORT_KEYS: Final = MappingProxyType({
    "callback": "callable",
    "resource_id": "str",
    "measurement": "measurement",
    "sampling_rate": "duration",
    "report_duration": "duration",
    "report_dtstart": "datetime",
    "data_collection_mode": "str",
    "report_specifier_id": "str",
    "r_id": "str",
    "report_name": "str",
    "reading_type": "str",
    "report_type": "str",
    "scale": "str",
    "unit": "str",
    "power_ac": "bool",
    "power_hertz": "number",
    "power_voltage": "number",
    "market_context": "str",
    "end_device_asset_mrid": "str",
})
_INLINE_VEN_KEYS: Final = ("name", "ven_id", "cert", "key", "passphrase_env", "resource_ids", "group_ids",
                           "party_ids")
_FINGERPRINT = re.compile(r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){9}")


class _Checker:
    """Walks the parsed document, converting values and collecting every mistake."""

    def __init__(self, path: Path, display: str, text: str, environ: Mapping[str, str]) -> None:
        self.base = path.parent
        self.default_store = path.with_suffix(".db")
        self.display = display
        self.environ = environ
        self.problems = _Problems(display, _Positions(text))
        self.names: dict[str, str] = {}  # VEN name -> where it was first given
        self.need_vens = True

    # ----------------------------------------------------------------------------- helpers

    def bad(self, path: Path_, text: str) -> None:
        self.problems.add(path, text)

    def table(self, doc: Mapping[str, Any], name: str, allowed: Iterable[str]) -> dict[str, Any]:
        """``doc[name]`` as a table (empty when absent), with unknown keys reported."""
        value = doc.get(name, {})
        if not isinstance(value, dict):
            self.bad((name,), f"must be a table ([{name}]), not {_type_name(value)}")
            return {}
        known = tuple(allowed)
        for key in value:
            if key not in known:
                self.bad((name, key), f"unknown key; expected one of {', '.join(known)}")
        return value

    def typed(self, table: Mapping[str, Any], path: Path_, kind: type | tuple[type, ...], what: str) -> Any:
        leaf = str(path[-1])
        if leaf not in table:
            return None
        value = table[leaf]
        if isinstance(value, bool) and kind is not bool and not (isinstance(kind, tuple) and bool in kind):
            self.bad(path, f"must be {what}, not {_type_name(value)}")
            return None
        if not isinstance(value, kind):
            self.bad(path, f"must be {what}, not {_type_name(value)}")
            return None
        return value

    def string(self, table: Mapping[str, Any], path: Path_, *, empty: bool = False) -> str | None:
        value: str | None = self.typed(table, path, str, "a string")
        if value is not None and not empty and not value.strip():
            self.bad(path, "must not be empty")
            return None
        return value

    def boolean(self, table: Mapping[str, Any], path: Path_, default: bool) -> bool:
        value = self.typed(table, path, bool, "true or false")
        return default if value is None else bool(value)

    def file(self, table: Mapping[str, Any], path: Path_, *, base: Path | None = None) -> str | None:
        value = self.string(table, path)
        if value is None:
            return None
        return self.existing(value, base or self.base, lambda text: self.bad(path, text))

    @staticmethod
    def existing(value: str, base: Path, report: Callable[[str], None]) -> str | None:
        full = (base / os.path.expanduser(value)).resolve()
        if not full.exists():
            report(f"no such file: {value!r} (looked for {str(full)!r})")
            return None
        if not full.is_file():
            report(f"{value!r} is not a file")
            return None
        if not os.access(full, os.R_OK):
            report(f"{value!r} cannot be read (permission denied)")
            return None
        return str(full)

    def passphrase(self, table: Mapping[str, Any], path: Path_) -> str | None:
        name = self.string(table, path)
        if name is None:
            return None
        if name not in self.environ:
            self.bad(path, f"the environment variable {name!r} is not set")
            return None
        return self.environ[name]

    def duration(self, table: Mapping[str, Any], path: Path_, *, zero: bool = False) -> float | None:
        leaf = str(path[-1])
        if leaf not in table:
            return None
        try:
            return parse_seconds(table[leaf], name=_shown(path), unitless=False, zero=zero)
        except ConfigurationError as exc:
            self.bad(path, exc.fields["problem"])
            return None

    def callable_(self, table: Mapping[str, Any], path: Path_) -> Callable[..., Any] | None:
        leaf = str(path[-1])
        if leaf not in table:
            return None
        try:
            return _import_callable(table[leaf])
        except ValueError as exc:
            self.bad(path, str(exc))
            return None

    # ----------------------------------------------------------------------------- sections

    def check(self, doc: dict[str, Any]) -> FleetConfig | None:
        for name in doc:
            if name not in _SECTIONS:
                self.bad((name,), f"unknown section; expected one of {', '.join(_SECTIONS)}")
        settings: dict[str, Any] = {"path": self.display}
        self.vtn(doc, settings)
        self.tls(doc, settings)
        self.store(doc, settings)
        settings["options"] = self.fleet(doc)
        settings["handlers"] = self.handlers(doc)
        settings["reports"] = self.reports(doc)
        settings["vens"] = self.vens(doc)
        self.logging(doc, settings)
        if self.problems.errors:
            return None
        return FleetConfig(**settings)

    def vtn(self, doc: Mapping[str, Any], out: dict[str, Any]) -> None:
        if "vtn" not in doc:
            self.problems.at(self.display, None, "vtn", "[vtn]: missing; the file must name the VTN (url = ...)")
            out["vtn_url"] = ""
            return
        vtn = self.table(doc, "vtn", ("url", *_section_keys("vtn")))
        url = self.string(vtn, ("vtn", "url"))
        if "url" not in vtn:
            self.bad(("vtn",), "url is missing (the VTN's base URL, e.g. https://vtn:8080/OpenADR2/Simple/2.0b)")
        elif url is not None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                self.bad(("vtn", "url"), f"must be an http:// or https:// URL with a host, not {url!r}")
            else:
                try:
                    parts.port  # noqa: B018 - raises on a bad port
                except ValueError:
                    self.bad(("vtn", "url"), f"has a bad port: {url!r}")
        out["vtn_url"] = url or ""
        fingerprint = self.string(vtn, ("vtn", "fingerprint"))
        if fingerprint is not None and not _FINGERPRINT.fullmatch(fingerprint.strip()):
            self.bad(("vtn", "fingerprint"), f"{fingerprint!r} is not a fingerprint: expected 10 colon-separated "
                     "hex bytes, as `fleetven fingerprint` prints them (AA:BB:...)")
            fingerprint = None
        out["vtn_fingerprint"] = fingerprint.strip().upper() if fingerprint else None
        out["ca_file"] = self.file(vtn, ("vtn", "ca_file"))
        out["require_vtn_signature"] = self.boolean(vtn, ("vtn", "require_signature"), False)
        if out["require_vtn_signature"] and not fingerprint and "ca_file" not in vtn:
            self.bad(("vtn", "require_signature"), "needs fingerprint or ca_file: the VTN's signing certificate "
                     "is checked against one of them")
        out["check_hostname"] = self.boolean(vtn, ("vtn", "check_hostname"), True)

    def tls(self, doc: Mapping[str, Any], out: dict[str, Any]) -> None:
        tls = self.table(doc, "tls", (*_section_keys("tls"), "passphrase"))
        if "passphrase" in tls:
            self.bad(("tls", "passphrase"), "never put the passphrase in the file; name the environment variable "
                     "that holds it with passphrase_env")
        out["cert"] = self.file(tls, ("tls", "cert"))
        out["key"] = self.file(tls, ("tls", "key"))
        if ("cert" in tls) != ("key" in tls):
            missing = "key" if "cert" in tls else "cert"
            self.bad(("tls",), f"{missing} is missing: give cert and key together")
        out["passphrase"] = self.passphrase(tls, ("tls", "passphrase_env"))
        mode = self.string(tls, ("tls", "mode"))
        if mode is not None and mode not in TLS_MODES:
            self.bad(("tls", "mode"), f"must be one of {', '.join(repr(m) for m in TLS_MODES)}, not {mode!r}")
            mode = None
        out["tls_mode"] = mode or "default"
        out["disable_signature"] = self.boolean(tls, ("tls", "disable_signature"), False)

    def store(self, doc: Mapping[str, Any], out: dict[str, Any]) -> None:
        if "store" not in doc:  # durable by default: a SQLite file beside the configuration
            out["store"] = str(self.default_store.resolve())
            return
        store = self.table(doc, "store", ("path",))
        path = self.string(store, ("store", "path"))
        if "path" not in store:
            self.bad(("store",), "path is missing (a database file, or \"memory\")")
        elif path is not None:
            if path == "memory":
                out["store"] = ":memory:"
            elif path.startswith(POSTGRESQL_SCHEMES):
                self.bad(("store", "path"), "a PostgreSQL URL: a fleet on PostgreSQL runs as workers "
                         "(`fleetven fleet create`, then `fleetven worker --store URL --config FILE`); "
                         "`fleetven run` keeps its state in a SQLite file")
            else:
                full = (self.base / os.path.expanduser(path)).resolve()
                if not full.parent.is_dir():
                    self.bad(("store", "path"), f"the directory of {path!r} does not exist ({str(full.parent)!r})")
                elif full.exists() and not full.is_file():
                    self.bad(("store", "path"), f"{path!r} is not a file")
                else:
                    out["store"] = str(full)

    def fleet(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        params = inspect.signature(Fleet).parameters
        accepted = [name for name, p in params.items()
                    if p.kind is p.KEYWORD_ONLY and name not in _NOT_FLEET_OPTIONS]
        fleet = self.table(doc, "fleet", accepted)
        options: dict[str, Any] = {}
        for name in fleet:
            if name not in accepted:
                continue
            path = ("fleet", name)
            option = _FLEET_OPTIONS.get(name)
            value: Any
            if option is None:  # a Fleet option newer than its declaration: passed as written
                value = fleet[name]
            else:
                try:
                    value = option.parse(fleet[name], name=_shown(path))
                except ConfigurationError as exc:
                    self.bad(path, exc.fields["problem"])
                    value = None
            if value is not None:
                options[name] = value
        return options

    def handlers(self, doc: Mapping[str, Any]) -> dict[str, Callable[..., Any]]:
        names = tuple(sorted(HANDLER_NAMES))
        table = self.table(doc, "handlers", names)
        found: dict[str, Callable[..., Any]] = {}
        for name in names:
            handler = self.callable_(table, ("handlers", name))
            if handler is not None:
                found[name] = handler
        return found

    def reports(self, doc: Mapping[str, Any]) -> tuple[ReportConfig, ...]:
        entries = doc.get("reports", [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            self.bad(("reports",), "must be an array of tables ([[reports]])")
            return ()
        out: list[ReportConfig] = []
        specs: list[Any] = []
        for index, entry in enumerate(entries):
            base: Path_ = ("reports", index)
            ok = True
            for key in entry:
                if key not in _REPORT_KEYS:
                    self.bad((*base, key), f"unknown key; expected one of {', '.join(_REPORT_KEYS)}")
                    ok = False
            for key in ("callback", "resource_id"):
                if key not in entry:
                    self.bad(base, f"{key} is missing")
                    ok = False
            values: dict[str, Any] = {}
            for key, kind in _REPORT_KEYS.items():
                if key not in entry:
                    continue
                path = (*base, key)
                value: Any
                if kind == "callable":
                    value = self.callable_(entry, path)
                elif kind == "duration":
                    seconds = self.duration(entry, path)
                    value = None if seconds is None else timedelta(seconds=seconds)
                elif kind == "datetime":
                    value = self.typed(entry, path, datetime, "a date-time with a time zone (1979-05-27T07:32:00Z)")
                    if value is not None and value.tzinfo is None:
                        self.bad(path, "must have a time zone (end it with Z or +01:00)")
                        value = None
                elif kind == "measurement":
                    value = self.typed(entry, path, (str, dict), "a string or a table")
                elif kind == "bool":
                    value = self.typed(entry, path, bool, "true or false")
                elif kind == "number":
                    value = self.typed(entry, path, (int, float), "a number")
                else:
                    value = self.string(entry, path)
                if value is None:
                    ok = False
                else:
                    values[key] = value
            if not ok:
                continue
            callback = values.pop("callback")
            resource_id = values.pop("resource_id")
            measurement = values.pop("measurement", None)
            try:  # the library's own checks: names, units, ids already taken... (what they assume is
                # logged by the real Fleet.add_report in build_fleet, once: not here)
                specs.append(make_report_spec(callback, resource_id, measurement, existing=specs, with_ven=True,
                                              warn=False, **values))
            except ConfigurationError as exc:
                field_name = exc.fields.get("field")
                self.bad((*base, field_name) if isinstance(field_name, str) else base, str(exc))
                continue
            line = self.problems.positions.line(base) if self.problems.positions else None
            out.append(ReportConfig(callback, resource_id, measurement, values, where=f"{self.display}:{line}"))
        return tuple(out)

    def vens(self, doc: Mapping[str, Any]) -> tuple[VenConfig, ...]:
        if "vens" not in doc:
            if not self.need_vens:
                return ()
            self.problems.at(self.display, None, "vens", "[vens]: missing; give identities with csv = ... "
                             "or [[vens.ven]] tables")
            return ()
        table = self.table(doc, "vens", ("csv", "ven"))
        out: list[VenConfig] = []
        if "csv" in table:
            out.extend(self.csv_vens(table))
        inline = table.get("ven", [])
        if not isinstance(inline, list) or not all(isinstance(e, dict) for e in inline):
            self.bad(("vens", "ven"), "must be an array of tables ([[vens.ven]])")
            inline = []
        for index, entry in enumerate(inline):
            ven = self.inline_ven(entry, ("vens", "ven", index))
            if ven is not None:
                out.append(ven)
        if not out and not self.problems.errors and "csv" not in table:
            self.bad(("vens",), "no identities: give csv = ... or [[vens.ven]] tables")
        return tuple(out)

    def inline_ven(self, entry: Mapping[str, Any], base: Path_) -> VenConfig | None:
        errors = len(self.problems.errors)
        for unknown in entry:
            if unknown not in _INLINE_VEN_KEYS:
                self.bad((*base, unknown), f"unknown key; expected one of {', '.join(_INLINE_VEN_KEYS)}")
        name = self.string(entry, (*base, "name"))
        if "name" not in entry:
            self.bad(base, "name is missing")
        ven_id = self.string(entry, (*base, "ven_id"))
        cert = self.file(entry, (*base, "cert"))
        key = self.file(entry, (*base, "key"))
        if ("cert" in entry) != ("key" in entry):
            self.bad(base, f"{'key' if 'cert' in entry else 'cert'} is missing: give cert and key together")
        passphrase = self.passphrase(entry, (*base, "passphrase_env"))
        ids: dict[str, tuple[str, ...]] = {}
        for kind in ("resource_ids", "group_ids", "party_ids"):
            value = entry.get(kind, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                self.bad((*base, kind), "must be an array of non-empty strings")
                value = []
            ids[kind] = tuple(value)
        line = self.problems.positions.line(base) if self.problems.positions else None
        where = f"{self.display}:{line}"
        if name is not None:
            self.unique(name, where, lambda text: self.bad((*base, "name"), text))
        if len(self.problems.errors) > errors or name is None:
            return None
        return VenConfig(name, ven_id, cert, key, passphrase, where=where, **ids)

    def unique(self, name: str, where: str, report: Callable[[str], None]) -> None:
        first = self.names.get(name)
        if first is not None:
            report(f"the VEN name {name!r} is already used at {first}")
        else:
            self.names[name] = where

    def csv_vens(self, table: Mapping[str, Any]) -> list[VenConfig]:
        path = self.file(table, ("vens", "csv"))
        if path is None:
            return []
        shown_csv = str(table["csv"])
        base = Path(path).parent
        out: list[VenConfig] = []

        def report(line: int | None, key: str, text: str) -> None:
            self.problems.at(shown_csv, line, key, f"{key}: {text}" if key else text)

        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                rows = list(_csv_rows(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            self.bad(("vens", "csv"), f"cannot read {shown_csv!r}: {exc}")
            return []
        columns: tuple[str, ...] = CSV_COLUMNS
        if rows and "ven_name" in (c.strip().lower() for c in rows[0][1]):  # a header row
            line, header = rows.pop(0)
            names = tuple(c.strip().lower() for c in header)
            unknown = [c for c in names if c not in CSV_COLUMNS]
            doubled = {c for c in names if names.count(c) > 1}
            if unknown or doubled:
                what = f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else \
                    f"column(s) given twice: {', '.join(map(repr, sorted(doubled)))}"
                report(line, "", f"header: {what}; the columns are {', '.join(CSV_COLUMNS)}")
                return []
            columns = names
        if not rows:
            report(None, "", "holds no identities")
        for line, cells in rows:
            if len(cells) > len(columns):
                report(line, "", f"{len(cells)} columns, but only {len(columns)} are known "
                       f"({', '.join(columns)})")
                continue
            row = dict(zip(columns, (c.strip() for c in cells)))
            before = len(self.problems.errors)
            name = row.get("ven_name", "")
            if not name:
                report(line, "ven_name", "empty; every identity needs a name")
            cert_name, key_name = row.get("cert") or None, row.get("key") or None
            if (cert_name is None) != (key_name is None):
                missing = "key" if cert_name else "cert"
                report(line, missing, "empty, but the row has a " + ("cert" if cert_name else "key") +
                       ": give cert and key together")
            cert = key = None
            if cert_name is not None:
                cert = self.existing(cert_name, base, _reporter(report, line, "cert"))
            if key_name is not None:
                key = self.existing(key_name, base, _reporter(report, line, "key"))
            where = f"{shown_csv}:{line}"
            if name:
                self.unique(name, where, _reporter(report, line, "ven_name"))
            if len(self.problems.errors) == before:
                out.append(VenConfig(name, row.get("ven_id") or None, cert, key, where=where))
        return out

    def logging(self, doc: Mapping[str, Any], out: dict[str, Any]) -> None:
        table = self.table(doc, "logging", ("format", "level"))
        fmt = self.string(table, ("logging", "format"))
        if fmt is not None and fmt not in LOG_FORMATS:
            self.bad(("logging", "format"), f"must be one of {', '.join(map(repr, LOG_FORMATS))}, not {fmt!r}")
            fmt = None
        out["log_format"] = fmt or "text"
        level = self.string(table, ("logging", "level"))
        if level is not None and level.upper() not in LOG_LEVELS:
            self.bad(("logging", "level"), f"must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
            level = None
        out["log_level"] = (level or "INFO").upper()


def _reporter(report: Callable[[int | None, str, str], None], line: int, key: str) -> Callable[[str], None]:
    def tell(text: str) -> None:
        report(line, key, text)

    return tell


def _csv_rows(fh: Any) -> Iterator[tuple[int, list[str]]]:
    """``(line, cells)`` of every row that is not blank or a ``#`` comment."""
    reader = csv.reader(fh)
    start = 1
    for cells in reader:
        line, start = start, reader.line_num + 1
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        yield line, cells


# --------------------------------------------------------------------------------------- public API


def load_config(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None,
                text: str | None = None, need_vens: bool = True) -> FleetConfig:
    """Read and check a ``fleetven run`` file, its CSV of identities and every file they name.

    Imports the handler and report-callback modules (the file's directory first on
    ``sys.path``). Nothing connects.

    :param path: the TOML file.
    :param environ: where ``passphrase_env`` variables are looked up (default ``os.environ``).
    :param text: the file's text, when it is not read from ``path`` (a worker's configuration kept
        in the fleet's database); files it names are still looked for relative to ``path``'s directory.
    :param need_vens: ``False``: a file without ``[vens]`` is fine (a worker's: its identities are the fleet's).
    :returns: the validated configuration.
    :raises ConfigurationError: listing every mistake, one per line, each as
        ``file:line: [section] key: what is wrong``; the ``errors`` field holds them as
        ``ConfigurationError`` objects with ``file``, ``line`` and ``key`` fields.
    """
    display = os.fspath(path)
    file = Path(display)
    try:
        raw = file.read_bytes() if text is None else text.encode("utf-8")
    except OSError as exc:
        error = ConfigurationError(f"{display}: cannot read the configuration: {exc.strerror or exc}",
                                   file=display, line=None, key="")
        raise ConfigurationError(str(error), errors=[error], path=display) from None
    try:
        text = raw.decode("utf-8")
        doc = tomllib.loads(text)
    except UnicodeDecodeError as exc:
        error = ConfigurationError(f"{display}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                                   file=display, line=raw[:exc.start].count(b"\n") + 1, key="")
        raise ConfigurationError(str(error), errors=[error], path=display) from None
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(found.group(1)) if found else None
        reason = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(exc))
        where = f"{display}:{line}" if line else display
        error = ConfigurationError(f"{where}: not valid TOML: {reason}", file=display, line=line, key="")
        raise ConfigurationError(str(error), errors=[error], path=display) from None
    folder = str(file.resolve().parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    checker = _Checker(file.resolve(), display, text, os.environ if environ is None else environ)
    checker.need_vens = need_vens
    config = checker.check(doc)
    _raise_all(display, checker.problems.errors)
    assert config is not None
    return config


def read_identities(path: str | os.PathLike[str]) -> list[VenConfig]:
    """Read a CSV of VEN identities, the ``[vens] csv`` file of ``fleetven run`` (``ven_name``,
    ``ven_id``, ``cert``, ``key`` columns; files named relative to the CSV), checking every row.

    :raises ConfigurationError: listing every mistake as ``file:line: column: what is wrong``.
    """
    display = os.fspath(path)
    full = Path(display).resolve()
    checker = _Checker(full, display, "", os.environ)
    vens = checker.csv_vens({"csv": str(full)})
    _raise_all(display, checker.problems.errors)
    return vens


def build_fleet(config: FleetConfig, **extra: Any) -> Fleet:
    """Make the :class:`~fleetven.fleet.core.Fleet` a configuration describes: its handlers, its reports
    and every VEN (not started).

    :param extra: more :class:`~fleetven.fleet.core.Fleet` keyword arguments (``observer=...``).
    :raises ConfigurationError: what the fleet itself refuses (a certificate that does not load,
        a key that does not match, a store that another fleet has open), every such mistake at
        once, each with where it came from.
    """
    errors: list[ConfigurationError] = []
    try:
        fleet = Fleet(config.vtn_url, **config.fleet_kwargs(), **extra)
    except FleetvenError as exc:
        setting = exc.fields.get("setting")
        if isinstance(exc, StoreError):  # the [store] file: locked by another fleet, not ours, newer...
            key = "store"
        else:
            key = f"fleet.{setting}" if setting in config.options else ("fleet" if setting else "tls")
        error = ConfigurationError(f"{config.path}: [{key.split('.')[0]}] {exc}", file=config.path, line=None,
                                   key=key)
        raise ConfigurationError(str(error), errors=[error], path=config.path) from exc
    for name, handler in config.handlers.items():
        fleet.add_handler(name, handler)
    for report in config.reports:
        try:
            measurement: Any = report.measurement  # a table is a custom measurement
            fleet.add_report(report.callback, report.resource_id, measurement, **report.options)
        except FleetvenError as exc:
            errors.append(_located(report.where, "reports", f"[[reports]]: {exc}"))
    for ven in config.vens:
        try:
            fleet.add_ven(ven.name, ven.ven_id, ven.cert, ven.key, ven.passphrase, resource_ids=ven.resource_ids,
                          group_ids=ven.group_ids, party_ids=ven.party_ids)
        except (FleetvenError, OSError, ValueError) as exc:
            errors.append(_located(ven.where, "vens", f"VEN {ven.name!r}: {exc}"))
    _raise_all(config.path, errors)
    return fleet


def _located(where: str, key: str, text: str) -> ConfigurationError:
    file, _, line = where.rpartition(":")
    number = int(line) if line.isdigit() else None
    return ConfigurationError(f"{where}: {text}", file=file, line=number, key=key)


def _raise_all(display: str, errors: list[ConfigurationError]) -> None:
    if not errors:
        return
    errors.sort(key=lambda e: (e.fields["file"] != display, e.fields["file"], e.fields["line"] or 0))
    if len(errors) == 1:
        text = str(errors[0])
    else:
        text = f"{len(errors)} mistakes in {display}:\n" + "\n".join(f"  {e}" for e in errors)
    raise ConfigurationError(text, errors=errors, path=display)
