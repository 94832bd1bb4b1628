"""Paging on (identity map, 4 KiB pages) against paging off, in PAIRS: each
repetition runs off then on, so that a change of the shared machine's load hits
both; reports min and median process CPU time of each and their ratios.  Writes
bench/results/paging_overhead.txt.

    python bench/paging_overhead.py [--pairs 7] [--entries 4096] [--workloads ...]
"""
import argparse
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import tlb_sweep as T                         # noqa: E402
from bt.bench import Builder, default_cache   # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pairs", type=int, default=7)
    p.add_argument("--entries", type=int, default=4096)
    p.add_argument("--workloads", default="qsort,sieve,matmul,crc32")
    p.add_argument("--out", default=os.path.join(HERE, "results", "paging_overhead.txt"))
    a = p.parse_args(argv)
    b = Builder(os.path.dirname(HERE), default_cache())
    lines = [f"# bench/paging_overhead.py: {a.pairs} pairs (off, on), --tlb-entries {a.entries}, "
             "process CPU time, strategy block; ratio = time off / time on (1.0: no cost)"]
    for w in a.workloads.split(","):
        img = b.image("mb", w, T.SIZES[w])
        off, on = [], []
        for _ in range(a.pairs):
            off.append(T.run_once(img, False, a.entries)["seconds"])
            on.append(T.run_once(img, True, a.entries)["seconds"])
        line = (f"{w:7s} n={T.SIZES[w]:<9} off min {min(off):.3f} s med {statistics.median(off):.3f} s"
                f" | on min {min(on):.3f} s med {statistics.median(on):.3f} s"
                f" | ratio min {min(off) / min(on):.3f} med "
                f"{statistics.median(off) / statistics.median(on):.3f}")
        print(line, flush=True)
        lines.append(line)
    with open(a.out, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
