"""Finding spliced passages (index/spliced.py) on a built library: how long the build step takes, and how it grows.

    python bench/spliced.py BUILD_DIR            # a build's passages.jsonl and speeches.json
    python bench/spliced.py BUILD_DIR --times 4  # also on the passages repeated up to 4 times

The step is one pass with a dict of paragraph keys, so its time should grow with the characters, not
with the pairs of passages: repeating the library checks that (each copy's lines marked as its own, so
it is a library of its own beside the others, reprint groups kept within each copy: as many passages
spliced each time, in as many times the work).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import describe, machine  # noqa: E402
from index.build import mark_spliced  # noqa: E402
from index.store import read_passages  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path)
    parser.add_argument("--times", type=int, default=1)
    args = parser.parse_args(argv)
    print(describe(machine()))
    passages = [replace(p, spliced_from=()) for p in read_passages(args.build)]
    dates = {s["id"]: s.get("date") for s in json.loads((args.build / "speeches.json").read_text(encoding="utf-8"))}
    for times in range(1, args.times + 1):
        repeated = [replace(p, id=f"{p.id}~{copy}", duplicate_of=p.duplicate_of and f"{p.duplicate_of}~{copy}",
                            text=p.text.replace("\n", f"第{copy}版\n") + f"第{copy}版")
                    for copy in range(times) for p in passages]
        started = time.perf_counter()
        marked = mark_spliced(repeated, dates)
        seconds = time.perf_counter() - started
        characters = sum(len(p.text) for p in repeated)
        spliced = sum(bool(p.spliced_from) for p in marked)
        print(f"x{times}: {len(repeated):,} passages, {characters / 1e6:.1f} M characters: {seconds:.2f} s, "
              f"{spliced:,} spliced")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
