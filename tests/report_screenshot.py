"""Write the README's screenshots of the report at catalog scale: `python -m tests.report_screenshot OUT_DIR`.

The shipped cassettes are copied under `--models` model names (40 by default, as the report bench
does) and replayed offline into a temporary directory; that report is photographed at 1440 px twice:
`screenshot.png`, the first screen, and `screenshot-evidence.png`, a feature group opened in place with
one cell's evidence open. Re-running this after re-recording keeps the pictures true to the cassettes.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from conformance.paths import cassettes_dir
from conformance.plan import replay_plans
from conformance.records import MatrixHead
from conformance.session import Session
from tests.browser import Browser, find_chromium
from tests.report_bench import build_corpus

WIDTH, HEIGHT = 1440, 900
OPENED = "tools"  # the group the second picture opens


def replay_corpus(root: Path, models: int) -> Path:
    build_corpus(cassettes_dir(), root / "cassettes", models)
    Session(root / "report", MatrixHead(mode="replay")).run(replay_plans(root / "cassettes"))
    return root / "report" / "matrix.html"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.report_screenshot", description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="the folder for the PNGs, e.g. reports/sample")
    parser.add_argument("--models", type=int, default=40, help="models in the replayed corpus (default 40)")
    args = parser.parse_args(argv)
    executable = find_chromium()
    if executable is None:
        print("Chromium not found: apt-get install -y chromium, or set CONFORMANCE_CHROMIUM", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as scratch:
        page = replay_corpus(Path(scratch), args.models)
        with Browser(executable, Path(scratch) / "chromium", WIDTH, HEIGHT) as browser:
            browser.open(page.resolve().as_uri())
            first = browser.screenshot(args.out / "screenshot.png")
            index = browser.eval("Array.from(document.querySelectorAll('.exp'), (b) => b.textContent)").index(OPENED)
            browser.click(f".exp[data-g='{index}']")
            browser.click(f"#matrix tbody tr:nth-child(2) td.pc[data-g='{index}']:not([data-s='PASS'])")
            deadline = time.monotonic() + 10
            while browser.eval("document.getElementById('panel').dataset.loaded") != "true":
                if time.monotonic() > deadline:
                    raise SystemExit("the evidence panel did not load")
                time.sleep(0.05)
            second = browser.screenshot(args.out / "screenshot-evidence.png")
    print(f"screenshots: {first}, {second}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
