"""The FEATURES folder: runs kept apart by data, config and code, published atomically, verified on read."""

from __future__ import annotations

import json
import pickle
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import sparse

from training.engines.dask import features_dir
from training.engines.dask.features_dir import MANIFEST_FILE, STATE_FILE, FeaturesDir, FeaturesIntegrityError


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv(features_dir.KEY_ENV, "this machine's key")


def _partition(value: float) -> dict:
    result = {}
    for name in ("train", "validation", "test"):
        result[f"{name}_x"] = sparse.csr_matrix(np.array([[0, value], [2, 0]], dtype=np.float32))
        result[f"{name}_y"] = np.array(["TVs", "Fridges"])
    return result


def _publish(root, fingerprint: str, value: float) -> FeaturesDir:
    folder = FeaturesDir.open(str(root), fingerprint)
    digests = [folder.write_partition(index, _partition(value)) for index in range(2)]
    folder.publish(SimpleNamespace(fingerprint=fingerprint, partition_rows=[{}, {}]), digests)
    return folder


class _Exploit:
    """A pickle that runs code when loaded: what someone with write access to the prefix could leave."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('owned')",))


def test_a_published_run_reads_back_the_same_partitions_and_state(tmp_path):
    _publish(tmp_path, "data A, config A", 1.5)

    state, run, digests = FeaturesDir.open(str(tmp_path), "data A, config A").read_published()
    again = run.read_partition(1, digests[1])

    assert state.fingerprint == "data A, config A"
    assert (again["train_x"] != _partition(1.5)["train_x"]).nnz == 0
    assert again["test_y"].tolist() == ["TVs", "Fridges"]


def test_a_run_that_dies_mid_featurize_never_mixes_with_the_published_one(tmp_path):
    # GIVEN a published run, then a run of the same data and config that dies after writing one partition,
    # and a run of other data that dies the same way
    _publish(tmp_path, "data A, config A", 1.5)
    FeaturesDir.open(str(tmp_path), "data A, config A").write_partition(0, _partition(9.0))
    FeaturesDir.open(str(tmp_path), "data B, config B").write_partition(0, _partition(7.0))

    # WHEN a rerun reads the folder
    _, run, digests = FeaturesDir.open(str(tmp_path), "data A, config A").read_published()

    # THEN it reads the published run's partitions only, and the other data's crashed run gives nothing
    assert run.read_partition(0, digests[0])["train_x"][0, 1] == pytest.approx(1.5)
    assert FeaturesDir.open(str(tmp_path), "data B, config B").read_published() is None


def test_other_code_gets_another_key_and_featurizes_again(tmp_path, monkeypatch):
    _publish(tmp_path, "data A, config A", 1.5)

    monkeypatch.setattr(features_dir, "code_version", lambda: "another version of training/")

    assert FeaturesDir.open(str(tmp_path), "data A, config A").read_published() is None


def test_a_state_replaced_in_the_folder_is_never_unpickled(tmp_path):
    # GIVEN a published run whose state someone replaced with a pickle that runs code when loaded
    folder = _publish(tmp_path, "data A, config A", 1.5)
    marker = tmp_path / "owned"
    (tmp_path / folder.path.rsplit("/", 1)[-1] / folder.run / STATE_FILE).write_bytes(pickle.dumps(_Exploit(marker)))

    # WHEN a rerun reads the folder THEN it featurizes again, and the pickle never ran
    assert FeaturesDir.open(str(tmp_path), "data A, config A").read_published() is None
    assert not marker.exists()


def test_a_manifest_forged_without_the_key_is_refused(tmp_path, monkeypatch):
    # GIVEN the state replaced, and the manifest rewritten with the new state's checksum, signed with another key
    folder = _publish(tmp_path, "data A, config A", 1.5)
    key_folder = tmp_path / folder.path.rsplit("/", 1)[-1]
    marker = tmp_path / "owned"
    payload = pickle.dumps(_Exploit(marker))
    (key_folder / folder.run / STATE_FILE).write_bytes(payload)
    manifest = json.loads((key_folder / MANIFEST_FILE).read_text())
    manifest["files"][STATE_FILE] = features_dir.hashlib.sha256(payload).hexdigest()
    monkeypatch.setenv(features_dir.KEY_ENV, "the attacker's key")
    manifest["hmac"] = features_dir._sign({k: manifest[k] for k in ("fingerprint", "code_version", "run", "files")})
    (key_folder / MANIFEST_FILE).write_text(json.dumps(manifest))
    monkeypatch.setenv(features_dir.KEY_ENV, "this machine's key")

    assert FeaturesDir.open(str(tmp_path), "data A, config A").read_published() is None
    assert not marker.exists()


def test_a_partition_changed_after_publishing_fails_its_checksum(tmp_path):
    folder = _publish(tmp_path, "data A, config A", 1.5)
    _, run, digests = FeaturesDir.open(str(tmp_path), "data A, config A").read_published()
    folder.write_partition(1, _partition(3.0))  # same run folder, overwritten after the manifest

    with pytest.raises(FeaturesIntegrityError, match=r"part-00001\.npz does not match its published SHA-256"):
        run.read_partition(1, digests[1])


def test_an_empty_folder_has_nothing_published(tmp_path):
    assert FeaturesDir.open(str(tmp_path), "data A, config A").read_published() is None


def test_a_rerun_that_reads_a_published_run_leaves_no_folder_of_its_own(tmp_path):
    _publish(tmp_path, "data A, config A", 1.5)

    FeaturesDir.open(str(tmp_path), "data A, config A").read_published()

    [key_folder] = [path for path in tmp_path.iterdir() if path.is_dir()]
    assert len([path for path in key_folder.iterdir() if path.is_dir()]) == 1
