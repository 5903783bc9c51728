"""Remove what the function never imports from the built artifact: test suites, build tools, converters.

`sam build` installs whole wheels; these parts of them are only for developers (numpy's tests and f2py,
onnxruntime's model-conversion and quantisation tools). Removing them keeps the unzipped package well under
the 150 MB budget with room for a larger model.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

UNUSED = (
    "numpy/tests",
    "numpy/*/tests",
    "numpy/f2py",
    "numpy/_pyinstaller",
    "onnxruntime/transformers",
    "onnxruntime/tools",
    "onnxruntime/quantization",
    "onnxruntime/datasets",
    "**/__pycache__",
)


def trim(folder: Path) -> float:
    """Delete the unused parts under `folder`; return the megabytes freed."""
    freed = 0
    for pattern in UNUSED:
        for path in sorted(folder.glob(pattern)):
            if path.is_dir():
                freed += sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
                shutil.rmtree(path)
    return freed / 1e6


if __name__ == "__main__":
    target = Path(sys.argv[1])
    print(f"{target}: removed {trim(target):.1f} MB of tests and developer tools")
