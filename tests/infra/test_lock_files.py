"""The hashed pins the deploy job installs (`make install tools LOCKED=1`) say what pyproject.toml says."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
LOCKS = {"project.txt": ("serve", "train", "dev"), "tools.txt": ("tools",)}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def locked(name: str) -> dict[str, tuple[str, list[str]]]:
    """Each pinned distribution of a lock file: its version and hashes."""
    pins: dict[str, tuple[str, list[str]]] = {}
    current = ""
    for line in (ROOT / "requirements" / name).read_text().splitlines():
        if match := PIN.match(line):
            current = canonicalize_name(match[1])
            pins[current] = (match[2], [])
        elif line.strip().startswith("--hash=sha256:"):
            pins[current][1].append(line.strip().removeprefix("--hash=sha256:").rstrip(" \\"))
    return pins


@pytest.mark.parametrize(("lock", "extras"), LOCKS.items())
def test_every_pin_of_pyproject_is_locked_at_its_version(lock, extras):
    pins = locked(lock)
    declared = [Requirement(text) for extra in extras for text in PYPROJECT["project"]["optional-dependencies"][extra]]

    drifted = {
        str(req): pins.get(canonicalize_name(req.name), ("missing", []))[0]
        for req in declared
        if pins.get(canonicalize_name(req.name), ("missing", []))[0] not in req.specifier
    }

    assert declared
    assert drifted == {}, "pyproject.toml and the lock disagree: run `make lock`"


@pytest.mark.parametrize("lock", LOCKS)
def test_every_locked_distribution_has_a_hash(lock):
    pins = locked(lock)

    assert len(pins) > 20
    assert [name for name, (_, hashes) in pins.items() if not hashes] == []
    assert all(re.fullmatch(r"[0-9a-f]{64}", digest) for _, hashes in pins.values() for digest in hashes)


def test_the_project_lock_holds_its_build_backend():
    # `pip install --no-build-isolation -e .` builds with what is installed: the backend must come hashed too
    backend = Requirement(PYPROJECT["build-system"]["requires"][0])

    assert locked("project.txt")[canonicalize_name(backend.name)][0] in backend.specifier
