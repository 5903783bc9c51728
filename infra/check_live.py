"""After `sam deploy` (`make deploy`): the pre-traffic hook's checks against the version the stack now serves.

CodeDeploy runs the hook only when the `live` alias moves from one version to another, so a new stack's first
version would go live unchecked. This asks the stack's own hook (output `PreTrafficHookName`) for its verdict
with `{"CheckOnly": true}`: the same golden set, the same version, the same code and permissions as a canary's
check, the verdict returned instead of reported to CodeDeploy. After an update it repeats a check that already
passed, which costs a few dozen invocations.

The stack and region come from the samconfig.toml that `sam deploy --guided` saved, unless given.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from infra.aws_client import aws_client
from infra.exceptions import InfraError

HOOK_OUTPUT = "PreTrafficHookName"
CHECK_ONLY_EVENT = {"CheckOnly": True}
# Lambda's longest timeout (the hook's is 300 s in template.yaml) and a margin to receive the answer.
INVOKE_READ_TIMEOUT_S = 960
NOT_DEPLOYED = {"REVIEW_IN_PROGRESS"}


@dataclass(frozen=True)
class Target:
    """Which stack to check, where, and with which credentials."""

    stack_name: str
    region: str | None
    profile: str | None


@dataclass(frozen=True)
class Verdict:
    """The hook's answer: Succeeded or Failed, with what failed."""

    status: str
    failures: tuple[str, ...]


def target_from(config_file: Path, *, stack_name: str | None, region: str | None, profile: str | None) -> Target:
    """The stack, region and profile: given ones first, then those `sam deploy --guided` saved.

    Raises:
        InfraError: No stack name is given or saved, or the config file is not TOML.
    """
    saved: dict[str, Any] = {}
    if config_file.is_file():
        try:
            document = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InfraError(f"{config_file} is not valid TOML ({exc}); run `sam deploy --guided` again") from exc
        saved = _saved_parameters(document, config_file)
    name = stack_name or saved.get("stack_name")
    if not name:
        raise InfraError(
            f"no stack to check: {config_file} (written by `sam deploy --guided`) names none; pass --stack-name"
        )
    return Target(stack_name=name, region=region or saved.get("region"), profile=profile or saved.get("profile"))


def _saved_parameters(document: dict[str, Any], config_file: Path) -> dict[str, Any]:
    """The parameters `sam deploy --guided` saved: its `default` environment's global ones, then its deploy ones.

    Raises:
        InfraError: The file is TOML laid out otherwise (a hand edit: `default = 5`, `parameters = "x"`).
    """
    try:
        default = document.get("default", {})
        return {**default.get("global", {}).get("parameters", {}), **default.get("deploy", {}).get("parameters", {})}
    except (AttributeError, TypeError):
        raise InfraError(f"{config_file} is not laid out as `sam deploy --guided` writes it; run it again") from None


def hook_of(cloudformation: Any, stack_name: str) -> str | None:
    """The stack's pre-traffic hook function, or None when nothing was deployed (a change set never executed).

    Raises:
        InfraError: The stack does not exist, cannot be read, or has no hook output.
    """
    try:
        stack = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as exc:
        raise InfraError(f"cannot read stack {stack_name!r}: {exc}") from exc
    except (IndexError, KeyError):
        raise InfraError(f"stack {stack_name!r} was not described (no such stack in this region?)") from None
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    if HOOK_OUTPUT in outputs:
        return str(outputs[HOOK_OUTPUT])
    if stack["StackStatus"] in NOT_DEPLOYED:
        return None
    raise InfraError(
        f"stack {stack_name!r} ({stack['StackStatus']}) has no {HOOK_OUTPUT} output: it was deployed from another "
        "template; deploy this one with `make deploy`"
    )


def ask_hook(lambda_client: Any, hook: str) -> Verdict:
    """Invoke the hook for its verdict alone.

    Raises:
        InfraError: The invocation failed or the hook crashed or answered something that is no verdict.
    """
    try:
        response = lambda_client.invoke(FunctionName=hook, Payload=json.dumps(CHECK_ONLY_EVENT).encode())
        payload = response["Payload"].read().decode("utf-8", errors="replace")
    except (BotoCoreError, ClientError) as exc:
        raise InfraError(f"cannot invoke the pre-traffic hook {hook}: {exc}") from exc
    if response.get("FunctionError"):
        raise InfraError(f"the pre-traffic hook {hook} failed ({response['FunctionError']}): {payload[:500]}")
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = None
    if not (isinstance(answer, dict) and answer.get("status") in {"Succeeded", "Failed"}):
        raise InfraError(f"the pre-traffic hook {hook} answered no verdict: {payload[:300]}")
    if answer["status"] == "Succeeded" and answer.get("failures"):
        raise InfraError(
            f"the pre-traffic hook {hook} answered Succeeded with failures, which is no verdict: {payload[:300]}"
        )
    return Verdict(status=answer["status"], failures=tuple(map(str, answer.get("failures") or ())))


def check(target: Target, session: Any) -> Verdict | None:
    """The verdict on the version `target` serves, or None when the stack has nothing deployed.

    Raises:
        InfraError: The stack or its hook cannot be reached, or there are no credentials.
    """
    try:
        hook = hook_of(aws_client(session, "cloudformation", region_name=target.region), target.stack_name)
        if hook is None:
            return None
        config = Config(read_timeout=INVOKE_READ_TIMEOUT_S, retries={"max_attempts": 1})
        return ask_hook(aws_client(session, "lambda", region_name=target.region, config=config), hook)
    except NoCredentialsError as exc:
        raise InfraError(f"no AWS credentials found ({exc}); use the profile or role `sam deploy` used") from exc


def main(argv: list[str] | None = None) -> int:
    """CLI entry: exit 0 when the served version passes (or nothing was deployed), 1 otherwise."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-file", type=Path, default=Path("samconfig.toml"), help="What sam deploy saved")
    parser.add_argument("--stack-name", help="The stack (default: samconfig.toml's stack_name)")
    parser.add_argument("--region", help="Its region (default: samconfig.toml's, else the AWS configuration's)")
    parser.add_argument("--profile", help="The AWS profile (default: samconfig.toml's, else the default chain)")
    args = parser.parse_args(argv)
    import boto3

    try:
        target = target_from(args.config_file, stack_name=args.stack_name, region=args.region, profile=args.profile)
        verdict = check(target, boto3.Session(profile_name=target.profile))
    except (InfraError, BotoCoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if verdict is None:
        print(f"stack {target.stack_name!r}: nothing deployed (the change set was not executed), nothing to check")
        return 0
    if verdict.status == "Succeeded":
        print(f"stack {target.stack_name!r}: the version it serves passed the pre-traffic checks")
        return 0
    print(
        f"error: stack {target.stack_name!r} serves a version that fails the pre-traffic checks:\n  "
        + "\n  ".join(verdict.failures or ("(no failure named; see the hook's log group)",))
        + "\nA new stack has had no traffic routed by CodeDeploy: fix the model and `make deploy` again (the next"
        " version gets the canary and its check), or remove the stack with `sam delete`.",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
