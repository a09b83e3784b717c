"""The scoring package stays pure: importing it loads neither Flask nor SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

CODE = """
import sys
import scoring
assert scoring.load_grid("pack_ia").name == "pack_ia"
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {"flask", "sqlalchemy", "flask_sqlalchemy", "werkzeug"})
print(",".join(loaded) or "-")
"""


def test_import_scoring_does_not_import_flask_or_sqlalchemy() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "-"


def test_no_framework_import_in_sources() -> None:
    for path in (ROOT / "scoring").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for name in ("flask", "sqlalchemy"):
            assert f"import {name}" not in text and f"from {name}" not in text, path
