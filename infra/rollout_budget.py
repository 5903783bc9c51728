"""How long a release may take for a CodeDeploy DeploymentType: the deploy job's timeout and the session of its role.

CodeDeploy watches the rollback alarms only while it shifts traffic, and the job waits for the whole shift
(`sam deploy` returns when CloudFormation does, after the traffic shift). A job or an OIDC session that ends
earlier leaves a rollout half done with nobody reporting it, so both are derived from the type chosen.
"""

from __future__ import annotations

import argparse
import json
import re

# CodeDeploy's predefined Lambda configurations: 10 % first, then the rest after N minutes (canary), or 10 %
# more every N minutes until 100 % (linear: the last step starts after 9 intervals).
TYPE = re.compile(r"^(Canary10Percent(?P<canary>\d+)Minutes?|Linear10PercentEvery(?P<linear>\d+)Minutes?)$")
# Time around the shift, in minutes: the pre-traffic hook (its 5-minute Lambda timeout), CloudFormation's own
# work before and after (creating versions, SnapStart publishing, alarms), and a margin for slow API calls.
HOOK_MINUTES = 5
CLOUDFORMATION_MINUTES = 20
BUILD_AND_PUBLISH_MINUTES = 20
MARGIN_MINUTES = 15
MAX_ROLE_SECONDS = 43_200  # IAM's ceiling for a role session (the role's MaxSessionDuration must allow it)


def shift_minutes(deployment_type: str) -> int:
    """Minutes from the first traffic shift to the last, during which the alarms are watched.

    Raises:
        ValueError: Not a canary or linear type (AllAtOnce shifts at once: no alarm could act on it).
    """
    match = TYPE.match(deployment_type)
    if not match:
        raise ValueError(f"{deployment_type!r} is not a Canary10Percent…/Linear10PercentEvery… deployment type")
    if match["canary"]:
        return int(match["canary"])
    return 9 * int(match["linear"])


def job_minutes(deployment_type: str) -> int:
    """The deploy job's timeout: building, publishing, the hook, CloudFormation, the shift and a margin."""
    return (
        BUILD_AND_PUBLISH_MINUTES
        + HOOK_MINUTES
        + CLOUDFORMATION_MINUTES
        + shift_minutes(deployment_type)
        + MARGIN_MINUTES
    )


def role_seconds(deployment_type: str) -> int:
    """The OIDC role session: as long as the job, at least IAM's default hour."""
    return min(MAX_ROLE_SECONDS, max(3600, job_minutes(deployment_type) * 60))


def main() -> None:
    """Print the budget as JSON (the workflow reads it into the deploy job's timeout and role duration)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("deployment_type")
    args = parser.parse_args()
    try:
        budget = {"job_minutes": job_minutes(args.deployment_type), "role_seconds": role_seconds(args.deployment_type)}
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from None
    print(json.dumps(budget))


if __name__ == "__main__":
    main()
