"""The fleet's options, declared once.

Each :class:`FleetOption` names one keyword argument of :class:`~fleetven.Fleet` and says
everything the tools around the fleet need to know about it: its type (and so its parser), the
load tester's default, its help text, its ``fleetven loadtest`` flag and its key in a
``fleetven run`` file. The configuration file (:mod:`fleetven.app.config`), the ``loadtest``
command line (:mod:`fleetven.app.commands`) and :class:`~fleetven.loadtest.LoadTestConfig` all
read :data:`FLEET_OPTIONS`, so a new option is declared here and nowhere else (a
``LoadTestConfig`` field of the same name carries it through a load test).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal

from fleetven.exceptions import ConfigurationError
from fleetven.openadr.timefmt import parse_seconds

__all__ = ("FleetOption", "FLEET_OPTIONS", "option", "fleet_kwargs")

#: What an option's value is: a duration in seconds (``duration0``: zero allowed), an integer
#: (``int+``: at least 1), a string, a file name, one of ``choices``, a boolean, or a secret read
#: from an environment variable on the command line.
Kind = Literal["duration", "duration0", "int", "int+", "str", "file", "choice", "bool", "secret"]


@dataclass(frozen=True, slots=True, kw_only=True)
class FleetOption:
    """One keyword option of :class:`~fleetven.Fleet`, as every tool around the fleet spells it.

    :ivar name: the ``Fleet`` keyword, and the ``LoadTestConfig`` field when ``flag`` is set.
    :ivar kind: its type, which decides its parser (:meth:`parse`).
    :ivar help: the help text of its flag.
    :ivar default: its default in a load test (the ``LoadTestConfig`` field's and the flag's).
    :ivar flag: its ``fleetven loadtest`` flag (``None``: not on that command line). A ``bool``
        option whose default is true has the flag that turns it off (``--no-check-hostname``).
    :ivar group: the section of ``fleetven loadtest --help`` it is listed in.
    :ivar section: the table of a ``fleetven run`` file it is set in (``None``: not in the file).
    :ivar key: its key in that table.
    :ivar choices: the values a ``choice`` option takes.
    :ivar metavar: the flag's value placeholder in ``--help``.
    """

    name: str
    kind: Kind
    help: str
    default: Any = None
    flag: str | None = None
    group: Literal["tls", "limits"] = "limits"
    section: str | None = "fleet"
    key: str = ""
    choices: tuple[str, ...] = ()
    metavar: str | None = None

    @property
    def config_key(self) -> str:
        """The key in :attr:`section` (the option's name unless told otherwise)."""
        return self.key or self.name

    def parse(self, value: object, *, name: str | None = None, text: bool = False) -> Any:
        """Convert and check ``value``.

        :param name: what the value is called in the message (default: the flag, else the name).
        :param text: ``value`` was typed on a command line: a duration may lack its unit and an
            integer may have ``_`` or ``,`` separators.
        :raises ConfigurationError: a value of the wrong type or out of range; the message is
            ``"{name}: {problem}"`` and the ``problem`` field holds the part after the name.
        """
        label = name or self.flag or self.name
        kind = self.kind
        if kind in ("duration", "duration0"):
            return parse_seconds(value, name=label, unitless=text, zero=kind == "duration0")
        problem: str | None = None
        if kind in ("int", "int+"):
            if text and isinstance(value, str):
                try:
                    value = int(value.replace("_", "").replace(",", ""))
                except ValueError:
                    problem = f"{value!r} is not a whole number"
            if problem is None and (isinstance(value, bool) or not isinstance(value, int)):
                problem = f"must be an integer, not {_type_name(value)}"
            elif problem is None and kind == "int+" and value < 1:  # type: ignore[operator]
                problem = f"must be a positive integer, not {value}"
        elif kind == "bool":
            if not isinstance(value, bool):
                problem = f"must be true or false, not {_type_name(value)}"
        elif not isinstance(value, str):
            problem = f"must be a string, not {_type_name(value)}"
        elif kind == "choice" and value not in self.choices:
            problem = f"must be one of {', '.join(repr(c) for c in self.choices)}, not {value!r}"
        if problem is not None:
            raise ConfigurationError(f"{label}: {problem}", setting=label, problem=problem)
        return value

    def add_argument(self, parser: argparse._ActionsContainer) -> None:
        """Add the option's flag (:attr:`flag`) to ``parser``; its value lands in ``args.<name>``
        (a ``secret``'s environment variable name in ``args.<name>_env``)."""
        if self.flag is None:
            return
        if self.kind == "bool":
            parser.add_argument(self.flag, dest=self.name, action="store_false" if self.default else "store_true",
                                help=self.help)
        elif self.kind == "secret":
            parser.add_argument(self.flag, dest=f"{self.name}_env", metavar=self.metavar or "VAR", help=self.help)
        elif self.kind == "choice":
            parser.add_argument(self.flag, dest=self.name, choices=self.choices, default=self.default,
                                help=self.help)
        else:
            parser.add_argument(self.flag, dest=self.name, type=self._argument, default=self.default,
                                metavar=self.metavar, help=self.help)

    def _argument(self, text: str) -> Any:
        if self.kind in ("str", "file"):
            return text
        try:
            return self.parse(text, text=True)
        except ConfigurationError as exc:  # argparse names the flag itself
            raise argparse.ArgumentTypeError(exc.fields["problem"]) from None


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array",
             dict: "a table"}
    return names.get(type(value), type(value).__name__)


#: Every option of :class:`~fleetven.Fleet` a tool sets, in ``--help`` order.
FLEET_OPTIONS: Final[tuple[FleetOption, ...]] = (
    FleetOption(name="cert", kind="file", flag="--cert", group="tls", section="tls",
                help="the VENs' client certificate (PEM); messages are signed with it too"),
    FleetOption(name="key", kind="file", flag="--key", group="tls", section="tls",
                help="the private key of --cert (PEM)"),
    FleetOption(name="passphrase", kind="secret", flag="--passphrase-env", group="tls", section="tls",
                key="passphrase_env", help="environment variable holding the key's passphrase"),
    FleetOption(name="ca_file", kind="file", flag="--ca-file", group="tls", section="vtn",
                help="CA bundle that the VTN's TLS certificate must chain to"),
    FleetOption(name="vtn_fingerprint", kind="str", flag="--vtn-fingerprint", group="tls", section="vtn",
                key="fingerprint", help="verify every VTN message's signature against this fingerprint"),
    FleetOption(name="require_vtn_signature", kind="bool", default=False, flag="--require-vtn-signature",
                group="tls", section="vtn", key="require_signature",
                help="require every VTN message to be signed by a certificate from --ca-file"),
    FleetOption(name="check_hostname", kind="bool", default=True, flag="--no-check-hostname", group="tls",
                section="vtn", help="do not check the VTN certificate's host name"),
    FleetOption(name="disable_signature", kind="bool", default=False, flag="--disable-signature", group="tls",
                section="tls", help="send unsigned messages even with --cert"),
    FleetOption(name="tls_mode", kind="choice", default="default", choices=("default", "certification"),
                flag="--tls-mode", group="tls", section="tls", key="mode",
                help="'certification' offers exactly the OpenADR 2.0b TLS 1.2 suites"),
    FleetOption(name="poll_interval", kind="duration", help="poll every this long when the VTN names no frequency"),
    FleetOption(name="handler_timeout", kind="duration", help="time a handler may take"),
    FleetOption(name="replay_window", kind="duration", help="how long a seen signature nonce is remembered"),
    FleetOption(name="max_clock_skew", kind="duration0", help="how far a signed message's timestamp may be ahead"),
    FleetOption(name="backoff_base", kind="duration", help="the first retry's delay after a failed registration"),
    FleetOption(name="backoff_cap", kind="duration", help="the longest retry delay"),
    FleetOption(name="max_connections", kind="int+", default=64, flag="--max-connections",
                help="connection pool size (default 64)"),
    FleetOption(name="max_registering", kind="int+", help="VENs registering at once (default twice the pool)"),
    FleetOption(name="max_message_size", kind="int+", help="the largest message accepted, in bytes"),
    FleetOption(name="request_timeout", kind="duration", default=30.0, flag="--request-timeout",
                help="time one request may take (30s)"),
    # A load test's tick is finer than a fleet's usual 100 ms (see LoadTestConfig.timer_resolution).
    FleetOption(name="timer_resolution", kind="duration", default=0.01, help="the timer wheel's tick"),
    FleetOption(name="seed", kind="int", flag="--seed", help="random seed (poll phases, backoff jitter)"),
    FleetOption(name="freeze_gc", kind="bool", default=True, flag="--no-freeze-gc",
                help="leave Python's garbage collector alone (no gc.freeze() after each full collection)"),
)

_BY_NAME: Final[Mapping[str, FleetOption]] = MappingProxyType({o.name: o for o in FLEET_OPTIONS})


def option(name: str) -> FleetOption:
    """The declaration of the fleet option ``name``.

    :raises KeyError: no such option.
    """
    return _BY_NAME[name]


def fleet_kwargs(source: object, options: tuple[FleetOption, ...] = FLEET_OPTIONS) -> dict[str, Any]:
    """``Fleet`` keyword arguments from the attributes of ``source`` named after ``options`` (those it has)."""
    missing = object()
    out: dict[str, Any] = {}
    for opt in options:
        value = getattr(source, opt.name, missing)
        if value is not missing:
            out[opt.name] = value
    return out
