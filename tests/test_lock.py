"""The locked development environment (``requirements/dev.lock``) and ``pyproject.toml`` agree.

``pyproject.toml`` keeps ranges for users; the lock pins the one tested set, with hashes, for
``make test``, ``make demo`` and CI. These tests catch a lock that was edited by hand, a range
changed without ``make lock``, and an environment that is not the locked one.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements" / "dev.lock"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

# One pin: `name==version` and an optional environment marker, then the hashes on the next lines.
_PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)"
    r"\s*(?:;\s*(?P<marker>[^\\]+?))?\s*\\?$"
)


@dataclass(frozen=True, slots=True)
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: int

    def applies(self) -> bool:
        """True when this pin is for the running interpreter and platform."""
        return self.marker is None or self.marker.evaluate()


def parse_lock(text: str) -> list[Pin]:
    """Every pin of a lock file written by ``uv pip compile --generate-hashes``."""
    pins: list[Pin] = []
    for line in text.splitlines():
        match = _PIN.match(line)
        if match is not None:
            marker = Marker(match["marker"]) if match["marker"] else None
            pins.append(Pin(canonicalize_name(match["name"]), Version(match["version"]), marker, 0))
        elif line.strip().startswith("--hash=sha256:") and pins:
            last = pins[-1]
            pins[-1] = Pin(last.name, last.version, last.marker, last.hashes + 1)
    return pins


def declared_requirements() -> dict[str, list[Requirement]]:
    """pyproject.toml's requirements by where they are declared: runtime, each extra, and the build."""
    project = PYPROJECT["project"]
    groups = {"runtime": project["dependencies"], "build-system": PYPROJECT["build-system"]["requires"]}
    groups.update({f"extra {name}": reqs for name, reqs in project["optional-dependencies"].items()})
    return {group: [Requirement(r) for r in reqs] for group, reqs in groups.items()}


PINS = parse_lock(LOCK.read_text())
BY_NAME: dict[str, list[Pin]] = {}
for _pin in PINS:
    BY_NAME.setdefault(_pin.name, []).append(_pin)


def test_the_lock_parses_and_every_pin_has_hashes() -> None:
    assert len(PINS) > 40, f"{LOCK} holds only {len(PINS)} pins: the parser or the lock is broken"
    unhashed = [p.name for p in PINS if p.hashes == 0]
    assert not unhashed, f"pins without --hash lines (pip's hash-checking mode refuses them): {unhashed}"


def test_every_declared_requirement_is_locked_and_satisfied() -> None:
    problems = []
    for group, requirements in declared_requirements().items():
        for req in requirements:
            name = canonicalize_name(req.name)
            pins = BY_NAME.get(name)
            if not pins:
                problems.append(f"{req} ({group}) is not in the lock")
                continue
            for pin in pins:
                if not req.specifier.contains(pin.version, prereleases=True):
                    problems.append(f"{req} ({group}): the lock pins {pin.name}=={pin.version}")
    assert not problems, "run `make lock` after changing pyproject.toml:\n" + "\n".join(problems)


def test_the_lock_holds_one_version_per_environment() -> None:
    """Several pins of one package are allowed only when their markers tell them apart."""
    clashes = [name for name, pins in BY_NAME.items() if len(pins) > 1 and any(p.marker is None for p in pins)]
    assert not clashes, f"packages pinned twice without markers: {clashes}"


def test_the_parser_sees_what_pip_sees() -> None:
    """The same parser on a sample the way uv writes it: markers, continuation lines, comments."""
    sample = (
        "sphinx==9.0.4 ; python_full_version < '3.12' \\\n"
        "    --hash=sha256:aa \\\n"
        "    --hash=sha256:bb\n"
        "    # via fleetven (pyproject.toml)\n"
        "yarl==1.25.1 \\\n"
        "    --hash=sha256:cc\n"
    )
    assert parse_lock(sample) == [
        Pin("sphinx", Version("9.0.4"), Marker("python_full_version < '3.12'"), 2),
        Pin("yarl", Version("1.25.1"), None, 1),
    ]


@pytest.mark.skipif(bool(os.environ.get("FLEETVEN_UNLOCKED")), reason="make test-latest installs the newest releases")
def test_the_environment_is_the_locked_one() -> None:
    """What `make test` installed is exactly the lock: the same versions, and nothing the lock lacks."""
    wanted = {p.name: p.version for p in PINS if p.applies()}
    installed = {canonicalize_name(d.metadata["Name"]): Version(d.version) for d in metadata.distributions()}
    tooling = {"pip", "fleetven", "uv"}  # the installer itself, the project in editable mode, `make lock`'s tool
    wrong = {n: (str(wanted[n]), str(v)) for n, v in installed.items() if n in wanted and wanted[n] != v}
    extra = sorted(n for n in installed if n not in wanted and n not in tooling)
    missing = sorted(n for n in wanted if n not in installed)
    assert not wrong, f"installed versions differ from the lock (locked, installed): {wrong}"
    assert not extra, f"installed but not locked: {extra}"
    assert not missing, f"locked but not installed: {missing}"
