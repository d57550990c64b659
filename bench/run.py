"""`make bench`: run every benchmark and write its figures to bench/results/<name>.json.

`bench/run.py NAME...` runs those only; `reliability` (the fault suite, `make reliability`) is not
among the defaults."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import orjson

BENCHMARKS = ("scan", "warmup", "scale")
HERE = Path(__file__).resolve().parent


def main(names: list[str]) -> None:
    sys.path.insert(0, str(HERE))
    sys.path.insert(1, str(HERE.parent))  # the repository: a benchmark may use tests/support
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    for name in names or BENCHMARKS:
        figures = importlib.import_module(name).main()
        (results / f"{name}.json").write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
        print(f"-> bench/results/{name}.json")


if __name__ == "__main__":
    main(sys.argv[1:])
