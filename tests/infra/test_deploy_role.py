"""The deploy job's role (infra/deploy-role.yaml): only this repository's deploy job may assume it, long enough."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.rollout_budget import role_seconds
from tests.infra.test_release_path import allowed_deployment_types

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    """CloudFormation's short form (`!Sub x`) as its long form (`{"Fn::Sub": x}`)."""
    value = (
        loader.construct_scalar(node)
        if isinstance(node, yaml.ScalarNode)
        else loader.construct_sequence(node, deep=True)
        if isinstance(node, yaml.SequenceNode)
        else loader.construct_mapping(node, deep=True)
    )
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


@pytest.fixture(scope="module")
def role() -> dict[str, Any]:
    loader = type("CloudFormationLoader", (yaml.SafeLoader,), {})
    loader.add_multi_constructor("!", _intrinsic)
    template = yaml.load((ROOT / "infra/deploy-role.yaml").read_text(), Loader=loader)
    return template | {"Role": template["Resources"]["DeployRole"]["Properties"]}


def test_only_the_repositorys_deploy_environment_may_assume_it(role):
    (statement,) = role["Role"]["AssumeRolePolicyDocument"]["Statement"]

    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    # Exact matches only: a StringLike wildcard would let any branch, pull request or environment in
    assert statement["Condition"] == {
        "StringEquals": {
            "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
            "token.actions.githubusercontent.com:sub": {"Fn::Sub": "repo:${Repository}:environment:${Environment}"},
        }
    }
    assert role["Parameters"]["Environment"]["Default"] == WORKFLOW["jobs"]["deploy"]["environment"]
    assert "Default" not in role["Parameters"]["Repository"]


def test_a_session_lasts_as_long_as_the_slowest_rollout_asks(role):
    longest = max(role_seconds(kind) for kind in allowed_deployment_types())

    assert role["Role"]["MaxSessionDuration"] >= longest


def test_the_trusted_provider_is_githubs_for_the_official_actions_audience(role):
    provider = role["Resources"]["GitHubOidcProvider"]["Properties"]

    assert provider["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["ClientIdList"] == ["sts.amazonaws.com"]
    assert role["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Federated"] == {
        "Fn::If": ["CreateProvider", {"Ref": "GitHubOidcProvider"}, {"Ref": "ExistingProviderArn"}]
    }
