"""``fleetven run`` configuration files: every kind of mistake is reported with its file, line and key,
all of them at once, before anything connects; a good file builds the fleet it describes."""

from __future__ import annotations

import itertools
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from fleetven.app.config import (
    FleetConfig,
    build_fleet,
    load_config,
    parse_duration_setting,
)
from fleetven.exceptions import ConfigurationError
from fleetven.loadtest.options import FLEET_OPTIONS
from fleetven.testing.certs import CertificateAuthority

_modules = itertools.count()


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """load_config puts the file's directory on sys.path: keep that from leaking between tests."""
    monkeypatch.setattr(sys, "path", list(sys.path))


@pytest.fixture
def handlers(tmp_path: Path) -> str:
    """The name of a fresh handler module beside the configuration files."""
    name = f"fleet_handlers_{next(_modules)}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent("""
        def on_event(ven, event):
            return "optIn"

        async def on_update(ven, event):
            return "optOut"

        def on_status(ven, event, status):
            pass

        def power(ven):
            return 1.5

        class meters:
            @staticmethod
            def voltage(ven):
                return 230.0

        NOT_CALLABLE = 42
    """))
    return name


def write(tmp_path: Path, text: str, name: str = "fleet.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def mistakes(path: Path, **kwargs: object) -> list[ConfigurationError]:
    with pytest.raises(ConfigurationError) as info:
        load_config(path, **kwargs)  # type: ignore[arg-type]
    errors: list[ConfigurationError] = info.value.errors  # type: ignore[attr-defined]
    assert errors, "a ConfigurationError from load_config lists its mistakes"
    # The summary names each one.
    for error in errors:
        assert str(error) in str(info.value)
    return errors


def only(path: Path, **kwargs: object) -> ConfigurationError:
    errors = mistakes(path, **kwargs)
    assert len(errors) == 1, [str(e) for e in errors]
    return errors[0]


def where(error: ConfigurationError) -> tuple[str, int | None, str]:
    return Path(error.file).name, error.line, error.key  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------- a good file


def test_a_good_file_builds_the_fleet_it_describes(tmp_path: Path, handlers: str) -> None:
    ca = CertificateAuthority.create(tmp_path, key_type="ec")
    fleet_cert = ca.issue_client("fleet", passphrase="s3cret").cert
    own = CertificateAuthority.create(tmp_path / "ids", key_type="ec").issue_client("site-0002")
    own_cert, own_key = own.cert, own.key
    ca_file = ca.cert
    (tmp_path / "ids" / "vens.csv").write_text(
        "ven_name,ven_id,cert,key\n"
        "site-0001,,,\n"
        "# a comment, then a blank line\n"
        "\n"
        f"site-0002,VEN-2,{Path(own_cert).name},{Path(own_key).name}\n"
    )
    path = write(tmp_path, f"""
        [vtn]
        url = "https://vtn.example.com:8443/OpenADR2/Simple/2.0b"
        fingerprint = "aa:bb:cc:dd:ee:ff:00:11:22:33"
        ca_file = "ca.pem"
        check_hostname = false

        [tls]
        cert = "fleet.pem"
        key = "fleet.key"
        passphrase_env = "FLEET_PASS"
        mode = "certification"

        [fleet]
        poll_interval = "1m30s"
        request_timeout = "PT20S"
        handler_timeout = 5
        max_clock_skew = 0
        max_connections = 8
        seed = 7

        [handlers]
        on_event = "{handlers}:on_event"
        on_update_event = "{handlers}:on_update"
        on_event_status = "{handlers}:on_status"

        [[reports]]
        callback = "{handlers}:power"
        resource_id = "meter"
        measurement = "power_real"
        sampling_rate = "10s"
        report_duration = "2h"

        [[reports]]
        callback = "{handlers}:meters.voltage"
        resource_id = "meter"
        measurement = "voltage"

        [vens]
        csv = "ids/vens.csv"

        [[vens.ven]]
        name = "inline-1"
        ven_id = "000123"
        resource_ids = ["r1", "r2"]
        group_ids = ["g"]

        [logging]
        format = "json"
        level = "debug"
    """)
    config = load_config(path, environ={"FLEET_PASS": "s3cret"})
    assert isinstance(config, FleetConfig)
    assert config.vtn_url == "https://vtn.example.com:8443/OpenADR2/Simple/2.0b"
    assert config.vtn_fingerprint == "AA:BB:CC:DD:EE:FF:00:11:22:33"
    assert config.ca_file == str(Path(ca_file).resolve())
    assert config.check_hostname is False
    assert config.tls_mode == "certification"
    assert config.passphrase == "s3cret" and "s3cret" not in repr(config)
    assert dict(config.options) == {"poll_interval": 90.0, "request_timeout": 20.0, "handler_timeout": 5.0,
                                    "max_clock_skew": 0.0, "max_connections": 8, "seed": 7}
    assert (config.log_format, config.log_level) == ("json", "DEBUG")
    assert config.reports[0].options["sampling_rate"] == timedelta(seconds=10)

    fleet = build_fleet(config)
    assert list(fleet.vens) == ["site-0001", "site-0002", "inline-1"]
    first, second, inline = fleet.vens.values()
    assert (first.cert, first.ven_id) == (str(Path(fleet_cert).resolve()), None)  # the fleet's identity
    assert (second.cert, second.key, second.ven_id) == (str(Path(own_cert).resolve()), str(Path(own_key).resolve()),
                                                        "VEN-2")
    assert inline.ven_id == "000123"  # a string, never a number
    assert inline.resource_ids == {"r1", "r2"} and inline.group_ids == {"g"}
    module = sys.modules[handlers]
    assert first.handler("on_event") is module.on_event
    assert first.handler("on_update_event") is module.on_update
    assert first.handler("on_event_status") is module.on_status
    specs = fleet._shared.specs
    assert [(s.resource_id, s.callback) for s in specs] == [("meter", module.power), ("meter", module.meters.voltage)]
    assert fleet.max_connections == 8 and fleet.tls_mode == "certification"


def test_inline_identities_alone_are_enough(tmp_path: Path) -> None:
    path = write(tmp_path, """
        [vtn]
        url = "http://127.0.0.1:8080/OpenADR2/Simple/2.0b"
        [[vens.ven]]
        name = "only"
    """)
    fleet = build_fleet(load_config(path))
    assert list(fleet.vens) == ["only"]
    assert fleet.vens["only"].handler("on_event") is None


# ------------------------------------------------------------------------------ one mistake at a time

GOOD_HEAD = """\
[vtn]
url = "http://127.0.0.1:8080/OpenADR2/Simple/2.0b"
"""
GOOD_VENS = """\
[[vens.ven]]
name = "v"
"""


@pytest.mark.parametrize(
    ("body", "line", "key", "words"),
    [
        # [vtn]
        ('[vtn]\nurl = "ftp://vtn/x"\n' + GOOD_VENS, 2, "vtn.url", "http:// or https://"),
        ('[vtn]\nurl = "http://"\n' + GOOD_VENS, 2, "vtn.url", "with a host"),
        ('[vtn]\nurl = "http://vtn:99999/x"\n' + GOOD_VENS, 2, "vtn.url", "bad port"),
        ("[vtn]\nurl = 8080\n" + GOOD_VENS, 2, "vtn.url", "must be a string, not an integer"),
        ("[vtn]\n# no url\ncheck_hostname = true\n" + GOOD_VENS, 1, "vtn", "url is missing"),
        (GOOD_HEAD + 'fingerprint = "AA:BB"\n' + GOOD_VENS, 3, "vtn.fingerprint", "10 colon-separated"),
        (GOOD_HEAD + "check_hostname = 1\n" + GOOD_VENS, 3, "vtn.check_hostname", "true or false"),
        (GOOD_HEAD + 'ca_file = "nowhere.pem"\n' + GOOD_VENS, 3, "vtn.ca_file", "no such file"),
        (GOOD_HEAD + 'urll = "x"\n' + GOOD_VENS, 3, "vtn.urll", "unknown key"),
        # [tls]
        (GOOD_HEAD + '[tls]\ncert = "fleet.toml"\n' + GOOD_VENS, 3, "tls", "key is missing"),
        (GOOD_HEAD + '[tls]\npassphrase = "hunter2"\n' + GOOD_VENS, 4, "tls.passphrase", "passphrase_env"),
        (GOOD_HEAD + '[tls]\npassphrase_env = "NOT_SET_ANYWHERE"\n' + GOOD_VENS, 4, "tls.passphrase_env",
         "'NOT_SET_ANYWHERE' is not set"),
        (GOOD_HEAD + '[tls]\nmode = "strict"\n' + GOOD_VENS, 4, "tls.mode", "'default', 'certification'"),
        (GOOD_HEAD + "[tls]\ndisable_signature = 'no'\n" + GOOD_VENS, 4, "tls.disable_signature",
         "true or false, not a string"),
        # [fleet]
        (GOOD_HEAD + '[fleet]\npoll_interval = "10 seconds"\n' + GOOD_VENS, 4, "fleet.poll_interval",
         "not a duration"),
        (GOOD_HEAD + "[fleet]\npoll_interval = -5\n" + GOOD_VENS, 4, "fleet.poll_interval", "negative"),
        (GOOD_HEAD + "[fleet]\nrequest_timeout = 0\n" + GOOD_VENS, 4, "fleet.request_timeout", "longer than zero"),
        (GOOD_HEAD + "[fleet]\nbackoff_cap = true\n" + GOOD_VENS, 4, "fleet.backoff_cap", "not a boolean"),
        (GOOD_HEAD + '[fleet]\nmax_connections = "64"\n' + GOOD_VENS, 4, "fleet.max_connections",
         "an integer, not a string"),
        (GOOD_HEAD + "[fleet]\nmax_connections = 0\n" + GOOD_VENS, 4, "fleet.max_connections", "positive"),
        (GOOD_HEAD + "[fleet]\npoll_intervall = 10\n" + GOOD_VENS, 4, "fleet.poll_intervall", "unknown key"),
        (GOOD_HEAD + '[fleet]\nvtn_url = "http://x"\n' + GOOD_VENS, 4, "fleet.vtn_url", "unknown key"),
        # [logging] and unknown sections
        (GOOD_HEAD + '[logging]\nformat = "xml"\n' + GOOD_VENS, 4, "logging.format", "'text', 'json'"),
        (GOOD_HEAD + '[logging]\nlevel = "LOUD"\n' + GOOD_VENS, 4, "logging.level", "DEBUG"),
        (GOOD_HEAD + "[metrics]\nport = 9000\n" + GOOD_VENS, 3, "metrics", "unknown section"),
        (GOOD_HEAD + "vens = 3\n" + GOOD_VENS, 3, "vtn.vens", "unknown key"),
        # [vens]
        (GOOD_HEAD, None, "vens", "[vens]: missing"),
        (GOOD_HEAD + "[vens]\n", 3, "vens", "no identities"),
        (GOOD_HEAD + '[vens]\ncsv = "missing.csv"\n', 4, "vens.csv", "no such file"),
        (GOOD_HEAD + "[[vens.ven]]\nname = 'a'\n[[vens.ven]]\nname = ''\n", 6, "vens.ven[1].name", "empty"),
        (GOOD_HEAD + "[[vens.ven]]\nname = 'a'\n[[vens.ven]]\nven_id = 'x'\n", 5, "vens.ven[1]", "name is missing"),
        (GOOD_HEAD + "[[vens.ven]]\nname = 'a'\n\n[[vens.ven]]\nname = 'a'\n", 7, "vens.ven[1].name",
         "is already used at "),
        (GOOD_HEAD + "[[vens.ven]]\nname = 'a'\nsite = 'x'\n", 5, "vens.ven[0].site", "unknown key"),
        (GOOD_HEAD + "[[vens.ven]]\nname = 'a'\ncert = 'fleet.toml'\n", 3, "vens.ven[0]", "key is missing"),
        (GOOD_HEAD + "[[vens.ven]]\nname = 'a'\ngroup_ids = 'g'\n", 5, "vens.ven[0].group_ids",
         "array of non-empty strings"),
        # no [vtn] at all
        (GOOD_VENS, None, "vtn", "[vtn]: missing"),
    ],
)
def test_each_mistake_is_reported_with_its_line_and_key(
    tmp_path: Path, body: str, line: int | None, key: str, words: str
) -> None:
    path = write(tmp_path, body)
    error = only(path)
    assert where(error) == ("fleet.toml", line, key), str(error)
    assert words in str(error)
    assert str(error).startswith(f"{path}:{line}: " if line else f"{path}: ")


@pytest.mark.parametrize(
    ("handler", "words"),
    [
        ("{m}:nope", "has no attribute 'nope'"),
        ("{m}:NOT_CALLABLE", "is not callable"),
        ("{m}", "not an import path of the form 'module:function'"),
        ("{m}:on event", "not an import path"),
        ("no_such_module_anywhere:f", "no module named 'no_such_module_anywhere'"),
        ("{broken}:f", "importing '{broken}' failed: ZeroDivisionError"),
    ],
)
def test_handler_import_paths_that_do_not_import_or_call(
    tmp_path: Path, handlers: str, handler: str, words: str
) -> None:
    broken = f"broken_module_{next(_modules)}"
    (tmp_path / f"{broken}.py").write_text("1 / 0\n")
    spec = handler.format(m=handlers, broken=broken)
    path = write(tmp_path, GOOD_HEAD + f'\n[handlers]\non_event = "{spec}"\n' + GOOD_VENS)
    error = only(path)
    assert where(error) == ("fleet.toml", 5, "handlers.on_event")
    assert words.format(broken=broken) in str(error)


def test_unknown_handler_name(tmp_path: Path, handlers: str) -> None:
    path = write(tmp_path, GOOD_HEAD + f'[handlers]\non_events = "{handlers}:on_event"\n' + GOOD_VENS)
    error = only(path)
    assert where(error) == ("fleet.toml", 4, "handlers.on_events")
    assert "on_event, on_event_status, on_update_event" in str(error)


@pytest.mark.parametrize(
    ("lines", "line", "key", "words"),
    [
        (["resource_id = 'meter'"], 8, "reports[1]", "callback is missing"),
        (["callback = '{m}:power'"], 8, "reports[1]", "resource_id is missing"),
        (["callback = '{m}:power'", "resource_id = 'm'", "sampling_rate = 'often'"], 11, "reports[1].sampling_rate",
         "not a duration"),
        (["callback = '{m}:power'", "resource_id = 'm'", "report_name = 'BOGUS'"], 11, "reports[1].report_name",
         "not a valid report_name"),
        (["callback = '{m}:power'", "resource_id = 'm'", "scale = 'huge'"], 11, "reports[1].scale",
         "not a valid scale"),
        (["callback = '{m}:power'", "resource_id = 'm'", "report_dtstart = 2024-01-01T00:00:00"], 11,
         "reports[1].report_dtstart", "time zone"),
        (["callback = '{m}:power'", "resource_id = 'm'", "colour = 'red'"], 11, "reports[1].colour", "unknown key"),
        (["callback = '{m}:power'", "resource_id = 'm'", "r_id = 'same'"], 11, "reports[1].r_id", "already used"),
    ],
)
def test_report_mistakes(tmp_path: Path, handlers: str, lines: list[str], line: int, key: str, words: str) -> None:
    first = f"[[reports]]\ncallback = '{handlers}:power'\nresource_id = 'm'\nr_id = 'same'\nmeasurement = 'voltage'\n"
    body = "\n".join(entry.format(m=handlers) for entry in lines) + "\nmeasurement = 'voltage'"
    # lines 1-2: [vtn]; 3-7: the first [[reports]]; the second starts at line 8.
    path = write(tmp_path, GOOD_HEAD + first + "[[reports]]\n" + body + "\n" + GOOD_VENS)
    error = only(path)
    assert error.key == key  # type: ignore[attr-defined]
    assert error.line == line, str(error)  # type: ignore[attr-defined]
    assert words in str(error)


# ------------------------------------------------------------------------------------------ the CSV


def test_csv_mistakes_are_reported_with_their_row_lines(tmp_path: Path) -> None:
    good = CertificateAuthority.create(tmp_path, key_type="ec").issue_client("good")
    cert, key = good.cert, good.key
    (tmp_path / "vens.csv").write_text(
        "ven_name,ven_id,cert,key\n"          # 1
        "ok-1,,,\n"                            # 2
        ",id-without-name,,\n"                 # 3
        f"ok-2,,{Path(cert).name},\n"          # 4: cert without key
        "ok-3,,missing.crt,missing.key\n"      # 5: two missing files
        "\n"                                   # 6
        "ok-1,,,\n"                            # 7: duplicate
        "ok-4,,,,extra\n"                      # 8: too many columns
        f'"ok,5",,{Path(cert).name},{Path(key).name}\n'  # 9: fine (quoted comma)
    )
    path = write(tmp_path, GOOD_HEAD + '[vens]\ncsv = "vens.csv"\n')
    errors = mistakes(path)
    found = [(where(e)[0], e.line, e.key) for e in errors]  # type: ignore[attr-defined]
    assert found == [
        ("vens.csv", 3, "ven_name"),
        ("vens.csv", 4, "key"),
        ("vens.csv", 5, "cert"),
        ("vens.csv", 5, "key"),
        ("vens.csv", 7, "ven_name"),
        ("vens.csv", 8, ""),
    ], [str(e) for e in errors]
    text = "\n".join(map(str, errors))
    assert "vens.csv:7: ven_name: the VEN name 'ok-1' is already used at vens.csv:2" in text
    assert "vens.csv:5: cert: no such file: 'missing.crt'" in text
    assert "5 columns" in text


def test_csv_without_a_header_and_with_reordered_columns(tmp_path: Path) -> None:
    (tmp_path / "plain.csv").write_text("a\nb,VEN-B\n")
    (tmp_path / "ordered.csv").write_text("ven_id,ven_name\nID-C,c\n")
    for name, expected in (("plain.csv", {"a": None, "b": "VEN-B"}), ("ordered.csv", {"c": "ID-C"})):
        path = write(tmp_path, GOOD_HEAD + f'[vens]\ncsv = "{name}"\n')
        config = load_config(path)
        assert {v.name: v.ven_id for v in config.vens} == expected


def test_csv_header_with_an_unknown_column(tmp_path: Path) -> None:
    (tmp_path / "vens.csv").write_text("ven_name,venid\na,b\n")
    error = only(write(tmp_path, GOOD_HEAD + '[vens]\ncsv = "vens.csv"\n'))
    assert (where(error)[0], error.line) == ("vens.csv", 1)  # type: ignore[attr-defined]
    assert "unknown column(s) 'venid'" in str(error)


def test_a_csv_name_clashing_with_an_inline_one(tmp_path: Path) -> None:
    (tmp_path / "vens.csv").write_text("ven_name\nx\n")
    error = only(write(tmp_path, GOOD_HEAD + '[vens]\ncsv = "vens.csv"\n[[vens.ven]]\nname = "x"\n'))
    assert where(error) == ("fleet.toml", 6, "vens.ven[0].name")
    assert "already used at vens.csv:2" in str(error)


def test_what_only_the_fleet_can_check_is_reported_with_the_row(tmp_path: Path) -> None:
    (tmp_path / "garbage.crt").write_text("not a certificate\n")
    (tmp_path / "garbage.key").write_text("not a key\n")
    (tmp_path / "vens.csv").write_text("ven_name,ven_id,cert,key\nfine,,,\nbad,,garbage.crt,garbage.key\n")
    config = load_config(write(tmp_path, GOOD_HEAD + '[vens]\ncsv = "vens.csv"\n'))
    with pytest.raises(ConfigurationError) as info:
        build_fleet(config)
    (error,) = info.value.errors  # type: ignore[attr-defined]
    assert (Path(error.file).name, error.line) == ("vens.csv", 3)
    assert str(error).startswith("vens.csv:3: VEN 'bad':")


# ------------------------------------------------------------------------------- all at once, syntax


def test_every_mistake_is_reported_together(tmp_path: Path, handlers: str) -> None:
    (tmp_path / "vens.csv").write_text("ven_name,ven_id\n\n,x\n")
    path = write(tmp_path, f"""
        [vtn]
        url = "tcp://vtn"
        [tls]
        mode = "fast"
        [fleet]
        poll_interval = "soon"
        [handlers]
        on_event = "{handlers}:NOT_CALLABLE"
        [vens]
        csv = "vens.csv"
        [logging]
        format = "yaml"
    """)
    errors = mistakes(path)
    assert [(where(e)[0], e.line, e.key) for e in errors] == [  # type: ignore[attr-defined]
        ("fleet.toml", 2, "vtn.url"),
        ("fleet.toml", 4, "tls.mode"),
        ("fleet.toml", 6, "fleet.poll_interval"),
        ("fleet.toml", 8, "handlers.on_event"),
        ("fleet.toml", 12, "logging.format"),
        ("vens.csv", 3, "ven_name"),
    ]
    with pytest.raises(ConfigurationError, match=r"^6 mistakes in .*fleet\.toml:\n  .*fleet\.toml:2: \[vtn\] url"):
        load_config(path)


def test_invalid_toml_names_its_line(tmp_path: Path) -> None:
    error = only(write(tmp_path, '[vtn]\nurl = "http://x"\n\n[vens\n'))
    assert where(error) == ("fleet.toml", 4, "")
    assert "not valid TOML" in str(error)


def test_a_missing_file(tmp_path: Path) -> None:
    error = only(tmp_path / "absent.toml")
    assert "cannot read the configuration" in str(error)


# ------------------------------------------------------------------------------------------- [store]


def test_store_path_memory_and_default(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD_HEAD + '[store]\npath = "state/fleet.db"\n' + GOOD_VENS)
    error = only(path)
    assert where(error) == ("fleet.toml", 4, "store.path") and "does not exist" in str(error)
    (tmp_path / "state").mkdir()
    assert load_config(path).store == str((tmp_path / "state" / "fleet.db").resolve())
    memory = write(tmp_path, GOOD_HEAD + '[store]\npath = "memory"\n' + GOOD_VENS, name="memory.toml")
    assert load_config(memory).store == ":memory:"
    # without a [store] section the state is durable all the same: a SQLite file beside the configuration
    plain = write(tmp_path, GOOD_HEAD + GOOD_VENS, name="plain.toml")
    assert load_config(plain).store == str((tmp_path / "plain.db").resolve())
    # a PostgreSQL URL is for workers, named as such (not a file in a directory "postgresql:")
    pg = write(tmp_path, GOOD_HEAD + '[store]\npath = "postgresql://db/fleet"\n' + GOOD_VENS, name="pg.toml")
    error = only(pg)
    assert where(error) == ("pg.toml", 4, "store.path") and "fleetven worker" in str(error)


def test_every_declared_fleet_option_is_a_fleet_key(tmp_path: Path) -> None:
    """The [fleet] table takes exactly the options declared for it, each read by its declared kind."""
    samples = {"duration": '"1m30s"', "duration0": '"PT0S"', "int": "7", "int+": "3", "bool": "false"}
    declared = [o for o in FLEET_OPTIONS if o.section == "fleet"]
    assert {o.name for o in declared} >= {"poll_interval", "request_timeout", "max_connections", "seed"}
    body = "".join(f"{o.config_key} = {samples[o.kind]}\n" for o in declared)
    config = load_config(write(tmp_path, GOOD_HEAD + "[fleet]\n" + body + GOOD_VENS))
    expected = {"duration": 90.0, "duration0": 0.0, "int": 7, "int+": 3, "bool": False}
    assert dict(config.options) == {o.name: expected[o.kind] for o in declared}
    for o in FLEET_OPTIONS:
        if o.section != "fleet":  # set from [vtn] or [tls], never from [fleet]
            errors = mistakes(write(tmp_path, GOOD_HEAD + f"[fleet]\n{o.name} = 1\n" + GOOD_VENS))
            assert any("unknown key" in str(e) for e in errors), o.name


# -------------------------------------------------------------------------------- durations, positions


@pytest.mark.parametrize(
    ("value", "seconds"),
    [(10, 10.0), (0.5, 0.5), ("10s", 10.0), ("5m", 300.0), ("1h", 3600.0), ("1h30m", 5400.0), ("250ms", 0.25),
     ("2d", 172800.0), ("PT10S", 10.0), ("pt1m", 60.0), ("P1DT1S", 86401.0), ("1.5s", 1.5)],
)
def test_durations(value: object, seconds: float) -> None:
    assert parse_duration_setting(value) == seconds


@pytest.mark.parametrize("value", ["", "10", "10 sec", "s", "-5s", "P", "PT", True, [], "1h-5m", float("nan")])
def test_not_durations(value: object) -> None:
    with pytest.raises(ValueError):
        parse_duration_setting(value)


def test_lines_survive_multiline_values_quoted_and_dotted_keys(tmp_path: Path) -> None:
    """Each mistake names the line of its key (or of the table or key holding it) through TOML that
    line-by-line reading gets wrong: a multi-line string holding a table header and a key, a
    multi-line array with a comment holding brackets, a header with a comment, quoted and dotted
    keys, arrays of tables (also dotted, and reopened by a later header), escaped and extra quotes
    ending a string, and keys inside inline tables and arrays."""
    tricky = write(tmp_path, '''
        title = """
        [fake]
        url = 1
        """
        list = [
          "a", # [not a table]
          'b',
        ]
        [vtn]  # comment
        "url" = "x"
        a.b = { c = 1 }
        [[reports]]
        x = 1
        [[reports]]
        y = "a\\"b"
        z = """q"""" # ends here
        [[vens.ven]]
        name = 1
        [vens]
        csv = "c"
    ''')
    assert [(line, key) for _, line, key in map(where, mistakes(tricky))] == [
        (1, "title"),  # the header-like lines in its string are no table ([fake] has no line)
        (5, "list"),
        (10, "vtn.url"),
        (11, "vtn.a"),
        (12, "reports[0]"),  # callback is missing
        (12, "reports[0]"),  # resource_id is missing
        (13, "reports[0].x"),
        (14, "reports[1]"),
        (14, "reports[1]"),
        (15, "reports[1].y"),
        (16, "reports[1].z"),
        (18, "vens.ven[0].name"),
        (20, "vens.csv"),
    ]
    inline = write(tmp_path, '''
        vens.ven = [{ name = "n", colour = "red" }, { name = "m", size = { big = 1 } }]
        [vtn]  # a comment after a header
        check_hostname = true
    ''', name="inline.toml")
    assert [(line, key) for _, line, key in map(where, mistakes(inline))] == [
        (1, "vens.ven[0].colour"),  # inside an inline table: the holder's line
        (1, "vens.ven[1].size"),
        (2, "vtn"),  # url is missing: the table's line
    ]
