"""Write the README's screenshot of the matrix: `python -m tests.report_screenshot OUT.png [MATRIX_HTML]`.

Without MATRIX_HTML the shipped cassettes are replayed offline into a temporary directory and that
report is shown, so re-running this after re-recording keeps the picture true to the cassettes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from conformance.paths import cassettes_dir
from conformance.session import Session, replay_plans
from tests.browser import Browser, find_chromium

WIDTH, HEIGHT = 1600, 1000


def replay_shipped(out: Path) -> Path:
    plans = replay_plans(cassettes_dir())
    if not plans:
        raise SystemExit(f"no recorded provider under {cassettes_dir()}: pass a MATRIX_HTML")
    Session(out, {"mode": "replay"}).run(plans)
    return out / "matrix.html"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.report_screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the PNG to write, e.g. reports/sample/screenshot.png")
    parser.add_argument(
        "matrix_html", type=Path, nargs="?", help="a rendered matrix.html (default: replay the shipped cassettes)"
    )
    args = parser.parse_args(argv)
    executable = find_chromium()
    if executable is None:
        print("Chromium not found: apt-get install -y chromium, or set CONFORMANCE_CHROMIUM", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        page = args.matrix_html or replay_shipped(Path(scratch) / "replay")
        with Browser(executable, Path(scratch) / "chromium", WIDTH, HEIGHT) as browser:
            browser.open(page.resolve().as_uri())
            used = browser.eval("Math.ceil(document.querySelector('main').getBoundingClientRect().bottom) + 8")
            browser.screenshot(args.out, height=min(HEIGHT, used))
    print(f"screenshot: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
