"""The ``fleetven`` command: ``fingerprint`` against OpenLEADR's own fingerprint function, exit
statuses, ``--version``, ``python -m fleetven`` and the installed console script."""

from __future__ import annotations

import datetime
import io
import subprocess
import sys
import sysconfig
from importlib.metadata import entry_points
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from openleadr.utils import certificate_fingerprint

import fleetven
from fleetven.app.cli import main


def _self_signed(name: str, kind: str) -> x509.Certificate:
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) if kind == "rsa" else ec.generate_private_key(
            ec.SECP256R1()
        )
    )
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """PEM files of an RSA and an EC certificate, and the EC one as DER."""
    d = tmp_path_factory.mktemp("cli")
    rsa_cert, ec_cert = _self_signed("vtn-rsa", "rsa"), _self_signed("vtn-ec", "ec")
    paths = {"rsa": d / "rsa.pem", "ec": d / "ec.pem", "ec-der": d / "ec.der"}
    paths["rsa"].write_bytes(rsa_cert.public_bytes(serialization.Encoding.PEM))
    paths["ec"].write_bytes(ec_cert.public_bytes(serialization.Encoding.PEM))
    paths["ec-der"].write_bytes(ec_cert.public_bytes(serialization.Encoding.DER))
    return paths


def _openleadr(path: Path) -> str:
    """The fingerprint as OpenLEADR computes it (it reads PEM text only)."""
    return str(certificate_fingerprint(path.read_text()))


@pytest.mark.parametrize("kind", ["rsa", "ec"])
def test_fingerprint_matches_openleadr(certs: dict[str, Path], kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fingerprint", str(certs[kind])]) == 0
    out = capsys.readouterr()
    assert out.out == _openleadr(certs[kind]) + "\n"
    assert out.err == ""


def test_fingerprint_of_der_and_of_several(certs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fingerprint", str(certs["ec-der"])]) == 0
    assert capsys.readouterr().out == _openleadr(certs["ec"]) + "\n"
    assert main(["fingerprint", str(certs["rsa"]), str(certs["ec-der"])]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{_openleadr(certs['rsa'])}  {certs['rsa']}",
        f"{_openleadr(certs['ec'])}  {certs['ec-der']}",
    ]


def test_fingerprint_from_stdin(
    certs: dict[str, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(certs["rsa"].read_bytes())))
    assert main(["fingerprint", "-"]) == 0
    assert capsys.readouterr().out == _openleadr(certs["rsa"]) + "\n"


def test_unreadable_and_wrong_files_exit_2(
    certs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "missing.pem"
    assert main(["fingerprint", str(missing)]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "cannot read" in out.err and "missing.pem" in out.err and "No such file" in out.err

    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n")
    assert main(["fingerprint", str(junk)]) == 2
    assert "junk.pem' holds no PEM or DER X.509 certificate" in capsys.readouterr().err

    # the good ones are still printed, the status says something failed
    assert main(["fingerprint", str(certs["ec"]), str(missing)]) == 2
    out = capsys.readouterr()
    assert out.out == f"{_openleadr(certs['ec'])}  {certs['ec']}\n"
    assert "missing.pem" in out.err


@pytest.mark.parametrize("argv", [[], ["fingerprint"], ["no-such-command"], ["--no-such-option"]])
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert "usage: fleetven" in out.err


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"fleetven {fleetven.__version__}\n"
    assert main(["--help"]) == 0
    assert "fingerprint" in capsys.readouterr().out


def test_python_dash_m(certs: dict[str, Path]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "fleetven", "fingerprint", str(certs["ec"])],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, _openleadr(certs["ec"]) + "\n", "")


def test_installed_console_script(certs: dict[str, Path]) -> None:
    (entry,) = entry_points(group="console_scripts", name="fleetven")
    assert entry.value == "fleetven.app.cli:main"
    script = Path(sysconfig.get_path("scripts")) / "fleetven"
    assert script.exists(), f"{script} is missing: reinstall fleetven (pip install -e .) to get the entry point"
    done = subprocess.run(
        [str(script), "fingerprint", str(certs["rsa"]), str(certs["ec"])],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"{_openleadr(certs['rsa'])}  {certs['rsa']}",
        f"{_openleadr(certs['ec'])}  {certs['ec']}",
    ]
    missing = subprocess.run(
        [str(script), "fingerprint", str(certs["rsa"]) + ".missing"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert missing.returncode == 2 and "cannot read" in missing.stderr
