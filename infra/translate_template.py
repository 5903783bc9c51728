"""Translate template.yaml to plain CloudFormation offline with samtranslator, for cfn-lint to check.

cfn-lint on the SAM template misses errors inside AWS::Serverless::Function (a bad Runtime or
Architectures); on the translated template it sees the real AWS::Lambda::Function. Runs with the tools
environment's Python (samtranslator comes with aws-sam-cli).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class OfflinePolicyLoader:
    """Managed policy names resolved without calling IAM (the template names none)."""

    def load(self) -> dict[str, str]:
        """No lookups: an empty map."""
        return {}


def translate(
    template: Path, parameters: dict[str, str] | None = None, code_uris: dict[str, str] | None = None
) -> dict[str, Any]:
    """The CloudFormation document SAM would deploy with these parameter values (defaults for the rest).

    The translator accepts only S3 code locations (what `sam package` substitutes: the uploaded zip, named by
    its content hash); `code_uris` gives them per function, other local folders become a placeholder object,
    which changes nothing that cfn-lint checks.
    """
    document = yaml_parse(template.read_text())
    for name, resource in document.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::Function" and not str(properties.get("CodeUri", "")).startswith(
            "s3://"
        ):
            properties["CodeUri"] = (code_uris or {}).get(name, "s3://placeholder-bucket/function.zip")
    return transform(document, parameters or {}, OfflinePolicyLoader())  # type: ignore[arg-type]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("template", type=Path)
    parser.add_argument("target", type=Path)
    parser.add_argument("--parameter", action="append", default=[], help="Key=Value, repeatable")
    parser.add_argument("--code-uri", action="append", default=[], help="Function=s3://bucket/key, repeatable")
    args = parser.parse_args()
    values = dict(item.split("=", 1) for item in args.parameter)
    code_uris = dict(item.split("=", 1) for item in args.code_uri)
    args.target.parent.mkdir(parents=True, exist_ok=True)
    args.target.write_text(json.dumps(translate(args.template, values, code_uris), indent=2))
    print(f"translated {args.template} -> {args.target}")
