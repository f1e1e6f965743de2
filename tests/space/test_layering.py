"""tunegym.space is the bottom layer: importing it loads no other tunegym layer, nor Optuna."""

from __future__ import annotations

import json
import subprocess
import sys

CODE = """
import json, sys
import tunegym.space
print(json.dumps(sorted(sys.modules)))
"""


def test_import_loads_only_the_bottom_layer() -> None:
    run = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, check=True)
    loaded = set(json.loads(run.stdout))
    tunegym_modules = {m for m in loaded if m.startswith("tunegym.")}
    assert {m for m in tunegym_modules if not m.startswith("tunegym.space")} == {"tunegym.errors"}
    assert not loaded & {"optuna", "scipy", "torch", "pandas"}
