"""Paging cost and TLB size sweep (issue 5).

Runs bench workloads (Multiboot kernels built by bt.bench's Builder) in one
process each configuration:

  * paging off (the baseline),
  * paging on with an identity map of all RAM in 4 KiB pages (tables at the top
    of RAM, set up from Python before the kernel's first instruction; the kernel
    never knows), for --tlb-entries in 16 .. 4096,

and writes MIPS, the slowdown against paging off and the TLB hit rate to
bench/results/tlb_sweep.{json,txt} (and .png with matplotlib).

    python bench/tlb_sweep.py [--reps 3] [--workloads qsort,sieve] [--quick]

Workloads: qsort at n = 2**21 (8 MiB of u32, recursive, scattered over the array),
sieve at n = 12,000,000 (12 MiB of bytes, strided passes), matmul 1024 (4 MiB A
plus B), crc32 (256 KiB buffer, few pages: the small-working-set control).
"""
import argparse
import json
import os
import platform
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from bt import Machine                       # noqa: E402
from bt.bench import Builder, default_cache  # noqa: E402
from bt.loaders import load_image            # noqa: E402

RAM = 64 << 20
SIZES = {"qsort": 1 << 21, "sieve": 12_000_000, "matmul": 1024, "crc32": 4_000_000}
QUICK = {"qsort": 1 << 16, "sieve": 300_000, "matmul": 128, "crc32": 100_000}
ENTRIES = (16, 64, 256, 1024, 4096)


def identity_paging(m, ram=RAM):
    """Identity-map all RAM with 4 KiB pages; tables in the top pages of RAM."""
    npt = ram >> 22
    pd = ram - (npt + 1) * 4096
    m.mem.write(pd, b"".join(struct.pack("<I", (pd + 4096 * (i + 1)) | 7) for i in range(npt))
                + bytes(4096 - 4 * npt))
    for i in range(npt):
        m.mem.write(pd + 4096 * (i + 1),
                    b"".join(struct.pack("<I", ((i << 22) | (j << 12)) | 7) for j in range(1024)))
    m.cpu.cr3 = pd
    m.cpu.cr0 = m.cpu.cr0 | 0x80000000


def run_once(image, paging, entries, strategy="block"):
    out = []
    m = Machine(ram_size=RAM, strategy=strategy, tlb_entries=entries,
                serial=lambda b: out.append(bytes(b)))
    load_image(m, image)
    if paging:
        identity_paging(m)
    # CPU time of this process: the machine is shared, wall time swings with its load
    t0 = time.process_time()
    ex = m.run()
    dt = time.process_time() - t0
    st = m.stats
    text = b"".join(out).decode("latin-1")
    if "checksum=" not in text:
        raise SystemExit(f"{image}: no checksum in output ({ex}): {text[-200:]!r}")
    acc = sum(st["tlb_hits"].values()) + sum(st["tlb_misses"].values()) + \
        sum(st["tlb_slow"].values())
    return {"seconds": dt, "insns": st["insns"], "mips": st["insns"] / dt / 1e6,
            "checksum": text.split("checksum=")[1].split()[0],
            "tlb_accesses": acc, "tlb_walks": st["tlb_walks"],
            "tlb_hit_rate": (sum(st["tlb_hits"].values()) / acc) if acc else None,
            "tlb_misses": st["tlb_misses"]}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--workloads", default="qsort,sieve,matmul,crc32")
    p.add_argument("--entries", default=",".join(map(str, ENTRIES)))
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    a = p.parse_args(argv)
    sizes = QUICK if a.quick else SIZES
    builder = Builder(os.path.dirname(HERE), default_cache())
    entries = [int(e) for e in a.entries.split(",")]
    doc = {"machine": platform.processor() or platform.machine(), "python": sys.version.split()[0],
           "ram": RAM, "reps": a.reps, "strategy": "block", "results": {}}
    lines = []
    for w in a.workloads.split(","):
        image = builder.image("mb", w, sizes[w])
        cfgs = [("off", None)] + [("on", e) for e in entries]
        runs = {c: [] for c in cfgs}
        for _ in range(a.reps):           # interleaved: a change of load hits every config
            for cfg in cfgs:
                runs[cfg].append(run_once(image, cfg[0] == "on", cfg[1] or 256))
        res = {}
        for cfg in cfgs:
            best = min(runs[cfg], key=lambda r: r["seconds"])
            key = "paging-off" if cfg[0] == "off" else f"tlb-{cfg[1]}"
            res[key] = dict(best, seconds_all=[r["seconds"] for r in runs[cfg]])
            base = res["paging-off"]
            if best["checksum"] != base["checksum"]:
                raise SystemExit(f"{w} {key}: checksum {best['checksum']} != {base['checksum']}")
            hr = best["tlb_hit_rate"]
            line = (f"{w:7s} n={sizes[w]:<9} {key:11s} {best['mips']:7.1f} MIPS  "
                    f"x{base['seconds'] / best['seconds']:5.3f} of paging-off speed  "
                    f"walks {best['tlb_walks']:>9,}  hit rate "
                    + (f"{100 * hr:7.3f}%" if hr is not None else "      -"))
            print(line, flush=True)
            lines.append(line)
        doc["results"][w] = {"n": sizes[w], "insns": res["paging-off"]["insns"], "configs": res}
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "tlb_sweep.json"), "w") as f:
        json.dump(doc, f, indent=2)
    with open(os.path.join(a.out, "tlb_sweep.txt"), "w") as f:
        f.write(f"# bench/tlb_sweep.py, best of {a.reps} (process CPU time), strategy block, "
                f"64 MiB RAM, identity map in 4 KiB pages\n")
        f.write("\n".join(lines) + "\n")
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(1, 2, figsize=(11, 4))
        for w, d in doc["results"].items():
            c = d["configs"]
            ax[0].plot(entries, [c[f"tlb-{e}"]["mips"] / c["paging-off"]["mips"] for e in entries],
                       marker="o", label=w)
            ax[1].plot(entries, [100 * (1 - c[f"tlb-{e}"]["tlb_hit_rate"]) for e in entries],
                       marker="o", label=w)
        for x in ax:
            x.set_xscale("log", base=2)
            x.set_xlabel("--tlb-entries")
            x.legend()
        ax[0].set_ylabel("speed relative to paging off")
        ax[0].axhline(0.85, ls="--", c="grey")
        ax[1].set_ylabel("accesses off the fast path (%)")
        ax[1].set_yscale("log")
        fig.tight_layout()
        fig.savefig(os.path.join(a.out, "tlb_sweep.png"), dpi=100)
    except ImportError:
        pass


if __name__ == "__main__":
    main()
