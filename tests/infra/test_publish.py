"""Publishing to S3 (moto): gates, immutable versions, verified pointer moves, and nothing partial."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import boto3
import onnx
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError
from moto import mock_aws
from typer.testing import CliRunner

from handler.model import load_model
from handler.settings import Settings
from infra.exceptions import GateError, PublishError
from infra.publish import app, publish_model
from tests.conftest import make_command

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "models"
PREFIX = "product-classifier"


@pytest.fixture
def artifacts(tmp_path, model_path):
    folder = tmp_path / "artifacts"
    folder.mkdir()
    shutil.copy(model_path, folder / "model.onnx")
    metadata = json.loads(onnx.load(model_path).metadata_props[0].value)
    (folder / "model.json").write_text(json.dumps(metadata))
    metrics = {
        "model_version": metadata["model_version"],
        "macro_f1": 0.91,
        "parity_label_agreement": 1.0,
        "parity_passed": True,
        "onnx_sha256": hashlib.sha256(model_path.read_bytes()).hexdigest(),
        "promotion": {"promoted": True, "reason": "no champion yet"},
    }
    (folder / "metrics.json").write_text(json.dumps(metrics))
    parity = {"passed": True, "label_agreement": 1.0, "max_abs_diff": 3e-7, "tolerance": 1e-5}
    (folder / "parity_report.json").write_text(json.dumps(parity))
    (folder / "model_card.md").write_text("# Model card: product-classifier test-synthetic-1\n")
    return folder


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _keys(client) -> set[str]:
    return {o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def _pointer(client) -> dict:
    return json.loads(client.get_object(Bucket=BUCKET, Key=f"{PREFIX}/current.json")["Body"].read())


def test_publish_uploads_a_versioned_model_and_moves_the_pointer(s3, artifacts, tmp_path):
    publication = publish_model(s3, artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)

    base = f"{PREFIX}/models/test-synthetic-1"
    published = ("model.onnx", "model.json", "metrics.json", "parity_report.json", "model_card.md")
    assert _keys(s3) == {f"{base}/{n}" for n in published} | {f"{PREFIX}/current.json"}
    assert _pointer(s3)["model_key"] == f"{base}/model.onnx"
    assert _pointer(s3)["sha256"] == publication.sha256
    assert s3.head_object(Bucket=BUCKET, Key=f"{base}/model.onnx")["Metadata"]["sha256"] == publication.sha256
    types = {name: s3.head_object(Bucket=BUCKET, Key=f"{base}/{name}")["ContentType"] for name in published}
    assert types["model_card.md"].startswith("text/markdown")
    assert types["model.json"] == "application/json"

    # THEN the handler serves exactly what was published
    served = load_model(Settings(model_s3_uri=publication.model_s3_uri, model_cache_dir=tmp_path))
    assert served.version == "test-synthetic-1"


def test_publishing_the_same_version_again_succeeds_without_rewriting_it(s3, artifacts):
    # A failed deploy re-run alone publishes the version it published before: the same bytes are a success.
    first = publish_model(s3, artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)
    before = {k: s3.head_object(Bucket=BUCKET, Key=k)["ETag"] for k in _keys(s3) if "/models/" in k}

    again = publish_model(s3, artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)

    assert (again.model_key, again.sha256) == (first.model_key, first.sha256)
    assert {k: s3.head_object(Bucket=BUCKET, Key=k)["ETag"] for k in _keys(s3) if "/models/" in k} == before


def test_republishing_an_older_version_says_the_pointer_moved_back(s3, artifacts, caplog):
    publish_model(s3, artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/current.json", Body=b'{"model_version": "newer"}')

    again = publish_model(s3, artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)

    assert (again.keys, again.previous_version) == ([], "newer")
    assert _pointer(s3)["model_version"] == "test-synthetic-1"
    assert "current.json named newer and now names test-synthetic-1 again" in caplog.text


class WithoutListBucket:
    """A real (moto) client answering a missing key as S3 does to a caller without s3:ListBucket: 403."""

    def __init__(self, client) -> None:
        self._client = client

    def get_object(self, **kwargs):
        try:
            return self._client.get_object(**kwargs)
        except ClientError:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetObject") from None

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_first_publish_by_a_role_without_list_bucket_succeeds(s3, artifacts):
    publication = publish_model(WithoutListBucket(s3), artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)

    assert publication.previous_version is None
    assert _pointer(s3)["model_version"] == "test-synthetic-1"


@pytest.mark.parametrize("prefix", ["", "/"])
def test_an_empty_prefix_publishes_at_the_buckets_root(s3, artifacts, prefix):
    publication = publish_model(s3, artifacts, bucket=BUCKET, prefix=prefix, min_macro_f1=0.8)

    assert publication.model_s3_uri == f"s3://{BUCKET}/models/test-synthetic-1/model.onnx"
    assert "current.json" in _keys(s3)
    assert not [key for key in _keys(s3) if key.startswith("/")]


def test_an_existing_version_is_never_overwritten_with_other_bytes(s3, artifacts):
    publish_model(s3, artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)
    before = {k: s3.head_object(Bucket=BUCKET, Key=k)["ETag"] for k in _keys(s3)}
    (artifacts / "model_card.md").write_text("another card for the same version")

    with pytest.raises(PublishError, match="already exists with other content: versions are never overwritten"):
        publish_model(s3, artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)

    assert {k: s3.head_object(Bucket=BUCKET, Key=k)["ETag"] for k in _keys(s3)} == before


class RacedBy:
    """A real (moto) client where another publisher writes the same key just before each of our puts lands,
    as two CI runs publishing one version at once would."""

    def __init__(self, client) -> None:
        self._client = client

    def put_object(self, **kwargs):
        if kwargs["Key"].endswith("/model.json"):
            self._client.put_object(Bucket=kwargs["Bucket"], Key=kwargs["Key"], Body=b"the other publisher's")
        return self._client.put_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_of_two_concurrent_publishes_of_one_version_the_second_never_overwrites(s3, artifacts):
    with pytest.raises(PublishError, match="already exists with other content: versions are never overwritten"):
        publish_model(RacedBy(s3), artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)

    key = f"{PREFIX}/models/test-synthetic-1/model.json"
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"the other publisher's"
    assert f"{PREFIX}/current.json" not in _keys(s3)


class FailingOn:
    """A real (moto) client whose put_object fails for one key, as a network drop mid-publish would."""

    def __init__(self, client, suffix: str) -> None:
        self._client = client
        self._suffix = suffix

    def put_object(self, **kwargs):
        if kwargs["Key"].endswith(self._suffix):
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "injected"}}, "PutObject")
        return self._client.put_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


@pytest.mark.parametrize("failing", ["metrics.json", "model.onnx", "current.json"])
def test_failure_mid_publish_leaves_nothing_partial_and_current_unchanged(s3, artifacts, failing):
    # GIVEN an earlier version that is current
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/current.json", Body=b'{"model_version": "old"}')

    # WHEN an upload fails part-way
    with pytest.raises(PublishError, match=r"failed: .*SlowDown"):
        publish_model(FailingOn(s3, failing), artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)

    # THEN no object of the new version remains and the pointer still names the old one
    assert _keys(s3) == {f"{PREFIX}/current.json"}
    assert _pointer(s3) == {"model_version": "old"}


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda f: (f / "model.onnx").unlink(), "lacks model.onnx: run `make train`"),
        (lambda f: (f / "parity_report.json").write_text('{"passed": false}'), "parity gate failed"),
        (lambda f: _edit_metrics(f, macro_f1=0.5), "quality gate failed: macro-F1 0.5000"),
        (
            lambda f: _edit_metrics(f, macro_f1=1.0, classes_evaluated=1, classes_learnt=2),
            "quality gate failed: macro-F1 1.0000 is over 1 class.es. with test rows, of the 2 learnt",
        ),
        (lambda f: _edit_metrics(f, macro_f1=float("nan")), "metrics.json has no macro-F1 \\(macro_f1: nan\\)"),
        (lambda f: _edit_metrics(f, macro_f1=None), "metrics.json has no macro-F1 \\(macro_f1: None\\)"),
        (lambda f: _edit_metrics(f, parity_passed=False), "parity gate failed"),
        (
            lambda f: _edit_metrics(
                f, promotion={"promoted": False, "reason": "macro-F1 0.9 is below the champion's 0.95"}
            ),
            "was not promoted to candidate: macro-F1 0.9 is below the champion's 0.95",
        ),
        # a graph cut short by a full disk, or copied from another run, is not the one these metrics gated
        (
            lambda f: (f / "model.onnx").write_bytes((f / "model.onnx").read_bytes()[:1000]),
            "model.onnx is not the graph metrics.json gated .*comes from another run; retrain",
        ),
        (lambda f: _edit_metrics(f, onnx_sha256=None), "metrics.json records no onnx_sha256, .*: retrain"),
        (lambda f: (f / "metrics.json").write_text('{"model_version": "test-'), "metrics.json is not valid JSON"),
        (lambda f: (f / "parity_report.json").write_text("[]"), "parity_report.json holds a JSON list"),
        # a metrics file without the promotion decision (damaged, or written by hand) fails closed
        (lambda f: _edit_metrics(f, promotion=None), "metrics.json records no promotion decision"),
        (lambda f: _edit_metrics(f, promotion="no"), "metrics.json records no promotion decision"),
        (lambda f: _edit_metrics(f, parity_passed=False), "metrics.json records passed False"),
        (lambda f: _edit_metrics(f, macro_f1=7.5), "metrics.json has no macro-F1 \\(macro_f1: 7.5\\)"),
        # the version names its folder: an empty one would write into models/ itself, "../x" beside it
        (lambda f: _version(f, ""), "names model version '', which names no folder"),
        (lambda f: _version(f, "../../evil"), "names model version '../../evil', which names no folder"),
    ],
)
def test_a_model_that_failed_a_gate_is_refused(s3, artifacts, edit, message):
    edit(artifacts)

    with pytest.raises(GateError, match=message):
        publish_model(s3, artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)
    assert _keys(s3) == set()


def _version(artifacts: Path, version: str) -> None:
    """Both files that name the model's version name it `version`."""
    _edit_metrics(artifacts, model_version=version)
    metadata = json.loads((artifacts / "model.json").read_text())
    (artifacts / "model.json").write_text(json.dumps(metadata | {"model_version": version}))


def test_a_prefix_with_spaces_is_refused_before_anything_is_written(s3, artifacts):
    with pytest.raises(PublishError, match="PREFIX 'my models' holds spaces"):
        publish_model(s3, artifacts, bucket=BUCKET, prefix="my models", min_macro_f1=0.8)
    assert _keys(s3) == set()


def test_a_prefix_with_a_double_quote_is_refused_before_anything_is_written(s3, artifacts):
    # sam deploy's parameter overrides would read it as a quote, and the stack's ModelKey would end before it
    with pytest.raises(PublishError, match="""PREFIX 'pc"v2' holds a '"'"""):
        publish_model(s3, artifacts, bucket=BUCKET, prefix='pc"v2', min_macro_f1=0.8)
    assert _keys(s3) == set()


@pytest.mark.parametrize("prefix", ["models?v=2", "team#1/models"])
def test_a_prefix_the_build_could_not_name_in_an_s3_uri_is_refused_before_anything_is_written(s3, artifacts, prefix):
    # GIVEN a prefix whose `?` or `#` would end the key of the s3:// URI `make build MODEL_URI=` takes
    with pytest.raises(PublishError, match="an s3:// URI's key ends there"):
        publish_model(s3, artifacts, bucket=BUCKET, prefix=prefix, min_macro_f1=0.8)
    assert _keys(s3) == set()


def _edit_metrics(artifacts: Path, **changes) -> None:
    metrics = json.loads((artifacts / "metrics.json").read_text())
    (artifacts / "metrics.json").write_text(json.dumps(metrics | changes))


@pytest.mark.parametrize("threshold", [float("nan"), -0.1, 1.5])
def test_a_quality_gate_that_could_never_fire_is_refused(s3, artifacts, threshold):
    _edit_metrics(artifacts, macro_f1=0.01)

    with pytest.raises(GateError, match="the quality gate needs a macro-F1 from 0 to 1"):
        publish_model(s3, artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=threshold)
    assert _keys(s3) == set()


class TimingOutOn(FailingOn):
    """A real (moto) client whose put_object times out for one key: botocore's error then carries no response."""

    def put_object(self, **kwargs):
        if kwargs["Key"].endswith(self._suffix):
            raise ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")
        return self._client.put_object(**kwargs)


def test_a_timeout_mid_publish_is_one_error_and_leaves_nothing(s3, artifacts):
    with pytest.raises(PublishError, match="failed: Read timeout on endpoint URL"):
        publish_model(TimingOutOn(s3, "model.onnx"), artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)

    assert _keys(s3) == set()


class AppliedThenTimingOutOn(FailingOn):
    """A real (moto) client whose put_object of one key lands, but whose answer is lost to a timeout."""

    def put_object(self, **kwargs):
        answer = self._client.put_object(**kwargs)
        if kwargs["Key"].endswith(self._suffix):
            raise ReadTimeoutError(endpoint_url="https://s3.amazonaws.com")
        return answer


def test_a_pointer_write_that_may_have_landed_never_names_a_removed_version(s3, artifacts, tmp_path):
    # GIVEN an earlier version that is current, and a pointer write S3 applies but whose answer times out
    s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/current.json", Body=b'{"model_version": "old"}')

    with pytest.raises(PublishError, match=r"it may have moved all the same .* run `make publish` again"):
        publish_model(
            AppliedThenTimingOutOn(s3, "current.json"), artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8
        )

    # THEN what the pointer names is there to serve, and publishing again completes the publication
    assert _pointer(s3)["model_key"] in _keys(s3)
    again = publish_model(s3, artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)
    assert again.keys == []
    assert _pointer(s3)["sha256"] == again.sha256


class RefusingDeletes(FailingOn):
    """A failing upload by credentials that may write but not delete (a deploy role without s3:DeleteObject)."""

    def delete_object(self, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "DeleteObject")


def test_leftovers_a_failed_publish_cannot_remove_are_named(s3, artifacts):
    with pytest.raises(PublishError) as raised:
        publish_model(RefusingDeletes(s3, "current.json"), artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)

    assert "5 object(s) of the failed upload could not be removed" in str(raised.value)
    assert f"delete s3://{BUCKET}/{PREFIX}/models/test-synthetic-1/ by hand" in str(raised.value)
    assert f"{PREFIX}/current.json" not in _keys(s3)


def test_missing_bucket_is_named(s3, artifacts):
    with pytest.raises(PublishError, match="bucket 'absent' does not exist"):
        publish_model(s3, artifacts, bucket="absent", prefix=PREFIX, min_macro_f1=0.8)


def test_cli_without_credentials_fails_in_one_line(artifacts, no_aws_credentials):
    result = CliRunner().invoke(app, ["--bucket", BUCKET, "--artifacts", str(artifacts)])

    assert result.exit_code == 1
    assert "no AWS credentials found" in result.output
    assert "Traceback" not in result.output


def test_cli_quality_gate_that_is_no_number_is_one_line_naming_min_macro_f1(s3, artifacts):
    result = CliRunner().invoke(app, ["--bucket", BUCKET, "--artifacts", str(artifacts), "--min-macro-f1", "high"])

    assert result.exit_code == 1
    assert "MIN_MACRO_F1 must be a macro-F1 from 0 to 1 such as 0.8, got 'high'" in result.output
    assert "Usage" not in result.output
    assert _keys(s3) == set()


def test_cli_publishes_and_prints_what_it_did(s3, artifacts):
    result = CliRunner().invoke(app, ["--bucket", BUCKET, "--artifacts", str(artifacts)])

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["model_s3_uri"] == f"s3://{BUCKET}/{PREFIX}/models/test-synthetic-1/model.onnx"


@pytest.mark.slow
def test_make_publish_against_a_local_s3_then_serve_it(moto_server, artifacts, tmp_path):
    # GIVEN a bucket on a local S3 endpoint
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)

    # WHEN the Make target publishes the artifacts there
    completed = subprocess.run(
        make_command("--silent", "publish", f"BUCKET={BUCKET}", f"OUT={artifacts}"),
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip

    # THEN it reports the published model, and the handler loads exactly that from S3
    assert completed.returncode == 0, completed.stderr
    uri = json.loads(completed.stdout)["model_s3_uri"]
    assert load_model(Settings(model_s3_uri=uri, model_cache_dir=tmp_path)).version == "test-synthetic-1"


class DenyingReads(WithoutListBucket):
    """Credentials that may write but not read objects back (a role without s3:GetObject)."""

    def get_object(self, **kwargs):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetObject")


def test_a_refused_read_back_is_named_as_a_read_not_a_write(s3, artifacts):
    with pytest.raises(
        PublishError, match=f"access denied \\(AccessDenied\\): the credentials cannot read objects of s3://{BUCKET}"
    ):
        publish_model(DenyingReads(s3), artifacts, bucket=BUCKET, prefix=PREFIX, min_macro_f1=0.8)
