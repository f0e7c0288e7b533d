"""``make bench``: run every benchmark module in turn and print its figures.

Add a benchmark by writing ``bench/<name>.py`` with ``main(*, quick: bool) -> list[dict]`` (it prints as it
goes and returns one dict of figures per case) and listing it in ``BENCHMARKS``.

    python bench/run.py            # the full sizes recorded in BENCHMARKS.md
    python bench/run.py --quick    # small sizes, to check the harness works
    python bench/run.py --only seed
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ("seed", "import_orders", "nightly", "segments", "send", "pages", "api", "scaling", "load")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke test of the benchmarks")
    parser.add_argument("--only", choices=BENCHMARKS, action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--json", type=Path, help="also write all figures to this JSON file")
    args = parser.parse_args(argv)

    # Run as a script (``python bench/run.py``), the project root is not on the path yet.
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    results: dict[str, list[dict]] = {}
    for name in args.only or BENCHMARKS:
        module = importlib.import_module(f"bench.{name}")
        print(f"== bench/{name}.py{' (quick)' if args.quick else ''}", flush=True)
        started = time.perf_counter()
        results[name] = module.main(quick=args.quick)
        print(f"== bench/{name}.py done in {time.perf_counter() - started:.1f} s", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
        print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
