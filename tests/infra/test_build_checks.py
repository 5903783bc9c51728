"""The build's size budget and trimming, on small stand-in folders."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from infra.check_size import main as check_size
from infra.exceptions import InfraError
from infra.stage_build import stage
from infra.trim_build import compile_bytecode, trim
from tests.conftest import make_command, with_metadata

ROOT = Path(__file__).resolve().parents[2]


def _file(path, size):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)


def test_trim_removes_tests_and_tools_but_keeps_runtime_code(tmp_path):
    _file(tmp_path / "numpy/_core/tests/test_a.py", 1000)
    _file(tmp_path / "numpy/_core/multiarray.py", 10)
    _file(tmp_path / "onnxruntime/transformers/big.py", 2000)
    _file(tmp_path / "onnxruntime/capi/onnxruntime_pybind11_state.so", 10)
    _file(tmp_path / "handler/__pycache__/main.cpython-312.pyc", 5)
    _file(tmp_path / "numpy/__init__.pyi", 7)
    _file(tmp_path / "google/protobuf/message.py", 100)

    freed = trim(tmp_path)

    assert freed == 3112 / 1e6
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()) == [
        "numpy/_core/multiarray.py",
        "onnxruntime/capi/onnxruntime_pybind11_state.so",
    ]


def test_bytecode_is_precompiled_for_a_read_only_code_folder(tmp_path):
    _file(tmp_path / "pkg/__init__.py", 0)
    (tmp_path / "pkg/mod.py").write_text("VALUE = 1\n")

    assert compile_bytecode(tmp_path)

    (pyc,) = (tmp_path / "pkg/__pycache__").glob("mod.cpython-312.pyc")
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, unchecked: valid whatever mtime the zip gives the source


def test_size_check_passes_under_and_fails_over_the_limit(tmp_path, capsys):
    _file(tmp_path / "fn/model.onnx", 2_000_000)

    assert check_size([str(tmp_path / "fn"), "--limit-mb", "3"]) == 0
    assert check_size([str(tmp_path / "fn"), "--limit-mb", "1"]) == 1
    assert "2.0 MB unzipped (limit 1 MB" in capsys.readouterr().out
    assert check_size([str(tmp_path / "absent")]) == 1


def test_a_build_over_the_budget_but_under_lambdas_limit_is_built_with_a_note(tmp_path, capsys):
    # a 5,000-category model's build (153 MB measured) is over the 150 MB budget and deploys
    _file(tmp_path / "fn/model.onnx", 2_000_000)

    assert check_size([str(tmp_path / "fn"), "--budget-mb", "1"]) == 0
    assert "2.0 MB unzipped (limit 250 MB, Lambda's for a zip package) OK, over the 1 MB budget" in (
        capsys.readouterr().out
    )


def test_build_without_a_trained_model_says_to_train(tmp_path):
    completed = subprocess.run(
        make_command("build", f"MODEL={tmp_path / 'absent.onnx'}"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode != 0
    assert f"no trained model at {tmp_path / 'absent.onnx'}; run `make train` first" in completed.stderr


def test_a_model_whose_golden_examples_lack_paths_is_refused_at_build(tmp_path, model_path):
    # GIVEN a model exported before category paths: golden examples without `path`
    def without_paths(metadata):
        metadata["golden_examples"] = [{k: v for k, v in e.items() if k != "path"} for e in metadata["golden_examples"]]

    old = with_metadata(model_path, tmp_path / "old.onnx", without_paths)

    # WHEN it is staged THEN the build stops, before anything is written, saying to retrain
    with pytest.raises(InfraError, match="golden examples carry no category paths"):
        stage(old, tmp_path / "build", architecture="x86_64")
    assert not (tmp_path / "build").exists()


@pytest.mark.parametrize(
    ("change", "target", "message"),
    [
        # metadata that does not belong to its graph (a golden answer it does not give), refused at init
        (
            lambda metadata: metadata["golden_examples"][0].update(label="Fridges?"),
            0.98,
            "the function would refuse to load it: golden example",
        ),
        # 0.984 rounds to 0.98, but the function decides only at a recorded target
        (lambda metadata: None, 0.984, r"TARGET_PRECISION 0.984 is not one of the model's operating points"),
        (lambda metadata: None, 0.0, "TARGET_PRECISION 0.0: Input should be greater than 0"),
    ],
)
def test_a_model_the_function_would_refuse_is_refused_at_build_and_leaves_no_release(
    tmp_path, model_path, change, target, message
):
    # GIVEN an earlier build, and a model (or target) the function would refuse
    stage(model_path, tmp_path / "build", architecture="x86_64")
    refused = with_metadata(model_path, tmp_path / "refused.onnx", change)

    with pytest.raises(InfraError, match=message):
        stage(refused, tmp_path / "build", architecture="x86_64", target_precision=target)
    assert list((tmp_path / "build").iterdir()) == []  # no release.json of the build before to deploy


def test_every_check_checkov_skips_is_explained_in_the_operating_docs():
    import yaml

    root = Path(__file__).resolve().parents[2]
    skipped = yaml.safe_load((root / ".checkov.yaml").read_text())["skip-check"]
    operating = (root / "docs" / "operating.md").read_text()

    assert skipped
    assert [check for check in skipped if f"| {check} " not in operating] == []
