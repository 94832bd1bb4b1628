"""The ``bt`` command line.

    bt demo [--strategy S] [--stats FILE]    run the bundled demo guest, print its counters
    bt disasm FILE [--bits 16|32] [--addr A] [--offset N] [--count N]
"""
import argparse
import json
import os
import sys
import time

from bt.machine import STRATEGIES, BtError, ExitKind, Machine


class _DebugPort:
    """Port 0xE9 (Bochs-style debug console): bytes the guest writes go to out."""

    def __init__(self, out):
        self.out = out
        self.data = bytearray()

    def io_read(self, port, size):
        return 0xE9          # Bochs answers reads of its debug port with 0xE9

    def io_write(self, port, size, value):
        self.data.append(value & 0xFF)
        self.out.write(chr(value & 0xFF))
        self.out.flush()


def format_stats(stats):
    """Counters as aligned 'name value' lines."""
    lines = []
    for k, v in stats.items():
        if isinstance(v, dict):
            v = ", ".join(f"{kk}={vv}" for kk, vv in v.items()) or "-"
        elif isinstance(v, int):
            v = f"{v:,}"
        lines.append(f"  {k:22s} {v}")
    return "\n".join(lines)


def cmd_demo(args):
    from bt import demo_image
    m = Machine(ram_size=8 << 20, strategy=args.strategy)
    port = _DebugPort(sys.stdout)
    m.ports.register(port, 0xE9)
    m.mem.write(demo_image.LOAD_ADDR, demo_image.CODE)
    m.cpu.eip = demo_image.ENTRY
    m.cpu.esp = 0x90000
    t0 = time.perf_counter()
    try:
        ex = m.run(max_insns=args.max_insns)
    except KeyboardInterrupt:
        ex = None
        print("\ninterrupted", file=sys.stderr)
    dt = time.perf_counter() - t0
    stats = m.stats
    print(f"\n[bt] {ex if ex is not None else 'stopped'}; strategy {args.strategy}; "
          f"{stats['insns']:,} guest instructions in {dt:.3f} s "
          f"({stats['insns'] / max(dt, 1e-9) / 1e6:.1f} MIPS)")
    print("[bt] counters:")
    print(format_stats(stats))
    if args.stats:
        with open(args.stats, "w") as f:
            json.dump(stats, f, indent=2, default=str)
    if ex is None:
        return 130
    return 0 if ex.kind == ExitKind.HLT else 1


def _int(s):
    try:
        return int(s, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {s!r}")


def cmd_disasm(args):
    from bt.decoder import Decoder
    try:
        with open(args.file, "rb") as f:
            f.seek(args.offset)
            data = f.read(args.length if args.length else -1)
    except OSError as e:
        raise BtError(f"cannot read {args.file}: {e.strerror}")
    for addr, raw, text in Decoder().disasm(data, args.addr, args.bits, args.count):
        print(f"{addr:08x}  {raw.hex(' '):30s} {text}")
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(prog="bt", description="bt: an IA-32 hypervisor built on "
                                "dynamic binary translation")
    sub = p.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("demo", help="run the bundled demo guest and print its counters")
    d.add_argument("--strategy", choices=STRATEGIES, default="block")
    d.add_argument("--max-insns", type=_int, default=None, help="instruction budget")
    d.add_argument("--stats", metavar="FILE", help="write the counters as JSON")
    d.set_defaults(fn=cmd_demo)
    s = sub.add_parser("disasm", help="disassemble a raw binary file")
    s.add_argument("file")
    s.add_argument("--bits", type=int, choices=(16, 32), default=32)
    s.add_argument("--addr", type=_int, default=0, help="address of the first byte")
    s.add_argument("--offset", type=_int, default=0, help="file offset to start at")
    s.add_argument("--length", type=_int, default=0, help="bytes to read (0: all)")
    s.add_argument("--count", type=_int, default=0, help="instructions (0: all)")
    s.set_defaults(fn=cmd_disasm)
    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except BtError as e:
        print(f"bt: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
