"""Private internals are patched only on the library versions the patches were written for."""

from __future__ import annotations

import importlib
import re
import tomllib

import pytest

from training.config import PROJECT_ROOT
from training.exceptions import PinnedVersionError
from training.model import pins

PATCHING_MODULES = {
    "lightgbm": "training.model.export",
    "skl2onnx": "training.model.onnx_ops",
    "scikit-learn": "training.engines.dask.title_models",
}


def pyproject_pins() -> dict[str, str]:
    """`name==version` pins of every dependency list in pyproject.toml."""
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    lines = [*project["dependencies"], *(d for group in project["optional-dependencies"].values() for d in group)]
    pinned = [line.split(";")[0].split("==") for line in lines if "==" in line]
    return {re.sub(r"\[.*\]", "", name).strip(): version.strip() for name, version in pinned}


@pytest.mark.parametrize("package", sorted(pins.PATCHED))
def test_the_patched_version_is_the_pinned_one(package):
    # A pin bumped in pyproject.toml without re-reading the patch fails here.
    assert pins.PATCHED[package][0] == pyproject_pins()[package]


@pytest.mark.parametrize(("package", "module"), sorted(PATCHING_MODULES.items()))
def test_each_patching_module_checks_its_version_at_import(package, module):
    source = (PROJECT_ROOT / (module.replace(".", "/") + ".py")).read_text()
    assert f'require_pinned("{package}")' in source


@pytest.mark.parametrize(("package", "module"), sorted(PATCHING_MODULES.items()))
def test_an_upgrade_fails_loudly_at_import(monkeypatch, package, module):
    # GIVEN the patching module, then another version of the patched library installed
    imported = importlib.import_module(module)
    monkeypatch.setattr(pins, "version", lambda name: "99.0.0" if name == package else pins.PATCHED[name][0])
    # WHEN the patching module is imported again THEN it refuses, naming the patch and what to do
    with pytest.raises(PinnedVersionError, match=rf"{package} 99\.0\.0 is installed, but .* Re-check that patch"):
        importlib.reload(imported)
    monkeypatch.undo()
    importlib.reload(imported)
