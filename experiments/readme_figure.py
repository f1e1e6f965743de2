"""The README's picture: run its ten-line example as printed and keep the PNG it writes.

    .venv/bin/python experiments/readme_figure.py     # -> docs/figures/readme_tuning.png

The example (README.md, "Tune in ten lines") tunes sklearn's breast-cancer table with the
freeze-thaw agent and calls ``result.plot("tuning.png")``; this script runs that block in a
scratch folder and copies the figure, so the picture is exactly what a reader's run draws.
"""

from __future__ import annotations

import argparse
import runpy
import shutil
import tempfile
from contextlib import chdir
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ten_line_example(readme: Path = ROOT / "README.md") -> str:
    """The Python block of the README's "Tune in ten lines" section."""
    section = readme.read_text().split("## Tune in ten lines", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs/figures/readme_tuning.png")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tunegym-figure-") as scratch, chdir(scratch):
        script = Path("example.py")
        script.write_text(ten_line_example())
        runpy.run_path(str(script), run_name="__main__")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile("tuning.png", args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
