"""The source root ``operator/`` must never shadow the standard library's ``operator``."""

from __future__ import annotations

import operator
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_operator_source_root_is_not_a_package() -> None:
    assert not (ROOT / "operator" / "__init__.py").exists(), "operator/__init__.py would shadow the stdlib"


def test_import_operator_is_the_standard_library() -> None:
    assert hasattr(operator, "itemgetter")
    # The same from a fresh interpreter started in the source root, where shadowing would bite.
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import operator, wisp; print(operator.__file__, hasattr(operator, 'itemgetter'))",
        ],
        cwd=ROOT / "operator",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "True" in out and str(ROOT / "operator" / "operator") not in out
