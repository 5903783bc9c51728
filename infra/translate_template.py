"""Translate template.yaml to plain CloudFormation offline with samtranslator, for cfn-lint to check.

cfn-lint on the SAM template misses errors inside AWS::Serverless::Function (a bad Runtime or
Architectures); on the translated template it sees the real AWS::Lambda::Function. Runs with the tools
environment's Python (samtranslator comes with aws-sam-cli).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicyLoader:
    """Managed policy names resolved without calling IAM (the template names none)."""

    def load(self) -> dict[str, str]:
        """No lookups: an empty map."""
        return {}


def translate(template: Path) -> dict[str, Any]:
    """The CloudFormation document SAM would deploy.

    The translator accepts only S3 code locations (what `sam package` substitutes); local folders are
    replaced by a placeholder object, which changes nothing that cfn-lint checks.
    """
    document = yaml_parse(template.read_text())
    for resource in document.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and not str(properties.get("CodeUri", "")).startswith(
            "s3://"
        ):
            properties["CodeUri"] = "s3://placeholder-bucket/function.zip"
    return transform(document, {}, OfflinePolicyLoader())  # type: ignore[arg-type]


if __name__ == "__main__":
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(translate(source), indent=2))
    print(f"translated {source} -> {target}")
