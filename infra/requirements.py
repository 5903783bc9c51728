"""Write handler/requirements.txt (what `sam build` installs) from the `serve` extra pinned in pyproject.toml.

One list of runtime pins, in pyproject.toml; this file is generated so the two cannot drift (a test checks).
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
REQUIREMENTS = ROOT / "handler" / "requirements.txt"
HEADER = (
    "# Generated from pyproject.toml [project.optional-dependencies].serve by `make requirements`; do not edit.\n"
    "# boto3 is not listed: the Lambda python3.12 runtime provides it (used only for MODEL_S3_URI).\n"
)


def render_requirements(pyproject: Path = PYPROJECT) -> str:
    """The requirements file's text for the pinned serving dependencies."""
    serve = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"]["serve"]
    return HEADER + "".join(f"{requirement}\n" for requirement in sorted(serve, key=str.lower))


if __name__ == "__main__":
    REQUIREMENTS.write_text(render_requirements())
    sys.stdout.write(f"wrote {REQUIREMENTS.relative_to(ROOT)}\n")
