"""deploy/: the Kubernetes manifests against Kubernetes' published schemas (kubernetes-validate,
strict: an unknown field fails), their probes against the port and path the worker serves metrics
on, and the systemd template unit (systemd-analyze where it is installed, the keys it must have
everywhere)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import kubernetes_validate
import pytest
import yaml

from fleetven import Fleet
from fleetven.observe.metrics import FleetMetrics

ROOT = Path(__file__).resolve().parents[1]
KUBERNETES = ROOT / "deploy" / "kubernetes"
UNIT = ROOT / "deploy" / "systemd" / "fleetven-worker@.service"

#: The Kubernetes versions the manifests are validated for: the oldest one deploy/README.md
#: promises, and a recent one.
KUBERNETES_VERSIONS = ("1.30.0", "1.35.0")


def _manifest_files() -> list[Path]:
    return sorted(p for p in KUBERNETES.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


DOCUMENTS = [(f"{path.name}#{i}", doc) for path in _manifest_files() for i, doc in enumerate(_documents(path))]


def _one(kind: str) -> dict[str, Any]:
    (doc,) = [d for _, d in DOCUMENTS if d["kind"] == kind]
    return doc


def _worker() -> dict[str, Any]:
    (container,) = _one("Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def _metrics_port() -> int:
    """The port the worker is told to serve metrics on (its --metrics-port argument)."""
    args = _worker()["args"]
    return int(args[args.index("--metrics-port") + 1])


def _resolve(port: int | str, container: dict[str, Any]) -> int:
    """A probe's or a Service's port, by number or by the container port's name."""
    if isinstance(port, int):
        return port
    (number,) = [p["containerPort"] for p in container["ports"] if p.get("name") == port]
    return int(number)


# ------------------------------------------------------------------ schemas

def test_the_manifests_are_there() -> None:
    kinds = sorted(d["kind"] for _, d in DOCUMENTS)
    assert kinds == ["Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("where", "doc"), DOCUMENTS, ids=[w for w, _ in DOCUMENTS])
def test_every_manifest_is_valid_for_kubernetes(where: str, doc: dict[str, Any], version: str) -> None:
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        problem = f"{exc.message} at {'/'.join(map(str, exc.path))}"
    else:
        return
    pytest.fail(f"{where} is not a valid {doc.get('kind')} for Kubernetes {version}: {problem}")


@pytest.mark.parametrize(("mistake", "change"), [
    ("an unknown field", lambda d: d["spec"]["template"]["spec"]["containers"][0].update(livenessProbes={})),
    ("a wrong type", lambda d: d["spec"].update(replicas="three")),
    ("a missing required field", lambda d: d["spec"]["template"]["spec"]["containers"][0].pop("name")),
])
def test_a_broken_deployment_is_refused(mistake: str, change: Any) -> None:
    doc = yaml.safe_load((KUBERNETES / "deployment.yaml").read_text())
    change(doc)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)


def test_the_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [p.name for p in _manifest_files()]
    assert [i["name"] for i in kustomization["images"]] == [_worker()["image"].split(":")[0]]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_kubectl_kustomize_builds_valid_manifests() -> None:
    proc = subprocess.run(["kubectl", "kustomize", str(KUBERNETES)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    built = [d for d in yaml.safe_load_all(proc.stdout) if d is not None]
    assert sorted(d["kind"] for d in built) == sorted(d["kind"] for _, d in DOCUMENTS)
    for doc in built:
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)


# ------------------------------------------------------------------ what the manifests say

def test_the_worker_runs_on_the_store_the_secret_gives() -> None:
    worker = _worker()
    assert worker["args"][:3] == ["worker", "--store", "$(FLEETVEN_STORE)"]
    (store,) = [e for e in worker["env"] if e["name"] == "FLEETVEN_STORE"]
    assert store["valueFrom"]["secretKeyRef"] == {"name": "fleetven-postgres", "key": "url"}
    (password,) = [e for e in worker["env"] if e["name"] == "PGPASSWORD"]
    assert password["valueFrom"]["secretKeyRef"] == {"name": "fleetven-postgres", "key": "password", "optional": True}


def test_the_ven_certificates_are_a_read_only_secret_volume() -> None:
    pod = _one("Deployment")["spec"]["template"]["spec"]
    (mount,) = [m for m in _worker()["volumeMounts"] if m["name"] == "ven-certs"]
    assert mount["readOnly"] is True and mount["mountPath"] == "/etc/fleetven/certs"
    (volume,) = [v for v in pod["volumes"] if v["name"] == "ven-certs"]
    assert volume["secret"]["secretName"] == "fleetven-ven-certs"
    assert volume["secret"]["defaultMode"] == 0o440 and pod["securityContext"]["fsGroup"]


def test_every_probe_and_the_service_point_at_the_metrics_port() -> None:
    worker, port = _worker(), _metrics_port()
    assert _resolve("metrics", worker) == port
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = worker[probe]["httpGet"]
        assert _resolve(get["port"], worker) == port, probe
        assert get["path"] == "/metrics", probe
    (service_port,) = _one("Service")["spec"]["ports"]
    assert _resolve(service_port["targetPort"], worker) == port
    annotations = _one("Deployment")["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == port


async def test_the_probe_path_is_served_by_the_fleets_metrics_endpoint() -> None:
    # The path the probes ask for, on the endpoint `fleetven run --metrics-port` serves (the one
    # the worker serves too): it answers 200 with the fleet's metrics.
    fleet = Fleet("http://127.0.0.1:1/OpenADR2/Simple/2.0b")
    metrics = FleetMetrics(fleet)
    port = await metrics.serve(host="127.0.0.1", port=0)
    try:
        paths = {_worker()[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")}
        async with aiohttp.ClientSession() as session:
            for path in paths:
                async with session.get(f"http://127.0.0.1:{port}{path}") as response:
                    assert response.status == 200, path
                    assert "fleetven_requests" in await response.text()
            async with session.get(f"http://127.0.0.1:{port}/no-such-path") as response:
                assert response.status == 404  # a wrong probe path would fail its probe
    finally:
        await metrics.close()
        fleet.store.close()


def test_the_worker_command_line_parses_once_fleetven_worker_exists() -> None:
    from fleetven.app.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    if "worker" not in commands.choices:
        pytest.skip("`fleetven worker` does not exist yet (issue 16): its command line is checked once it does")
    args = [a.replace("$(FLEETVEN_STORE)", "postgresql://fleetven@db/fleetven") for a in _worker()["args"]]
    parsed = parser.parse_args(args)
    assert parsed.metrics_port == _metrics_port()


def test_the_selectors_match_the_pods() -> None:
    deployment = _one("Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"], _one("PodDisruptionBudget")["spec"]["selector"][
            "matchLabels"], _one("Service")["spec"]["selector"]):
        assert selector.items() <= labels.items()


def test_resources_and_hardening() -> None:
    worker, pod = _worker(), _one("Deployment")["spec"]["template"]["spec"]
    assert set(worker["resources"]["requests"]) == set(worker["resources"]["limits"]) == {"cpu", "memory"}
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True
    assert worker["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["automountServiceAccountToken"] is False
    assert _one("PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    strategy = _one("Deployment")["spec"]["strategy"]["rollingUpdate"]
    assert strategy == {"maxSurge": 1, "maxUnavailable": 0}


# ------------------------------------------------------------------ systemd

def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file's settings: section -> key -> every value given, in order (systemd
    allows a key more than once, which configparser refuses); continuation lines joined."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    lines: Iterator[str] = iter(text.splitlines())
    for raw in lines:
        line = raw.strip()
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines, "").strip()
        if not line or line[0] in "#;":
            continue
        header = re.fullmatch(r"\[([A-Za-z]+)\]", line)
        if header:
            current = sections.setdefault(header[1], {})
            continue
        key, sep, value = line.partition("=")
        if current is None or not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key.strip()):
            raise ValueError(f"not a unit file line: {raw!r}")
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


UNIT_SETTINGS = parse_unit(UNIT.read_text())


def test_the_unit_has_what_a_worker_needs() -> None:
    unit, service = UNIT_SETTINGS["Unit"], UNIT_SETTINGS["Service"]
    assert UNIT_SETTINGS["Install"]["WantedBy"] == ["multi-user.target"]
    assert "network-online.target" in unit["After"][0] and unit["StartLimitIntervalSec"] == ["0"]
    (start,) = service["ExecStart"]
    assert re.fullmatch(r"/\S+/fleetven worker --store \$\{FLEETVEN_STORE\} --metrics-port %i", start), start
    assert service["EnvironmentFile"] == ["/etc/fleetven/worker.env", "-/etc/fleetven/worker-%i.env"]
    assert service["Restart"] == ["always"] and service["KillSignal"] == ["SIGTERM"]
    for key, value in {"DynamicUser": "yes", "NoNewPrivileges": "yes", "ProtectSystem": "strict",
                       "ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": ""}.items():
        assert service[key] == [value], key


def test_the_unit_parser_refuses_what_is_not_a_unit() -> None:
    with pytest.raises(ValueError, match="not a unit file line"):
        parse_unit("[Service]\nthis is not a setting\n")
    with pytest.raises(ValueError, match="not a unit file line"):
        parse_unit("Key=before any section\n")
    assert parse_unit("[Service]\nA=1\nA=2\\\n  3\n") == {"Service": {"A": ["1", "2 3"]}}


def _verify(text: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """systemd-analyze verify on an instance of ``text`` whose program is this environment's own
    ``fleetven`` (verify insists that the program exists)."""
    program = Path(sys.executable).with_name("fleetven")
    unit = tmp_path / "fleetven-worker@9464.service"
    unit.write_text(re.sub(r"^ExecStart=\S+", f"ExecStart={program}", text, flags=re.M))
    return subprocess.run(["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)


needs_systemd_analyze = pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                                           reason="systemd-analyze is not installed")


@needs_systemd_analyze
def test_systemd_analyze_verify_finds_nothing(tmp_path: Path) -> None:
    proc = _verify(UNIT.read_text(), tmp_path)
    # an unknown key is only a warning (exit status 0): any output is a finding
    assert proc.returncode == 0 and not (proc.stdout + proc.stderr).strip(), proc.stdout + proc.stderr


@needs_systemd_analyze
def test_systemd_analyze_verify_would_catch_a_mistake(tmp_path: Path) -> None:
    proc = _verify(UNIT.read_text().replace("Restart=always", "Restart=always\nRestartt=always"), tmp_path)
    assert "Restartt" in proc.stdout + proc.stderr


@needs_systemd_analyze
def test_the_unit_is_hardened_by_systemds_own_measure(tmp_path: Path) -> None:
    verified = _verify(UNIT.read_text(), tmp_path)
    assert verified.returncode == 0
    unit = tmp_path / "fleetven-worker@9464.service"
    proc = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=20", str(unit)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    if "--offline" in proc.stderr or "--threshold" in proc.stderr:
        pytest.skip(f"this systemd-analyze cannot score a unit file offline: {proc.stderr.strip()}")
    exposure = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", proc.stdout)
    assert exposure is not None, proc.stdout + proc.stderr
    assert proc.returncode == 0 and float(exposure[1]) <= 2.0, proc.stdout
