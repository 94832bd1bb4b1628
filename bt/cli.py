"""The ``bt`` command line.

    bt run [IMAGE] [options]     boot a Multiboot kernel, ELF32 or flat binary (default:
                                 the bundled hello guest) with its serial console on stdout
    bt demo [--strategy S]       run the bundled integer demo, print its counters
    bt disasm FILE [--bits 16|32] [--addr A] [--offset N] [--count N]

Exit codes of ``bt run``: the guest's exit-port status when it used the exit port;
0 when it halted; 2 for a bad option or image; 3 when the guest crashed (an exception
it could not take, an access outside RAM, an unsupported instruction); 4 when the
instruction budget ran out; 130 on Ctrl-C.
"""
import argparse
import json
import os
import sys
import time

from bt.machine import STRATEGIES, BtError, ExitKind, Machine


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
    m = Machine(ram_size=8 << 20, strategy=args.strategy, debugcon=sys.stdout)
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


EXIT_BAD_INPUT = 2
EXIT_GUEST_CRASH = 3
EXIT_BUDGET = 4
EXIT_INTERRUPTED = 130


def _size(s):
    """A memory size: bytes, or with a K/M/G suffix (64M)."""
    t = s.strip().upper().rstrip("B")
    mult = 1
    if t and t[-1] in "KMG":
        mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[t[-1]]
        t = t[:-1]
    try:
        v = int(t, 0) * mult
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a memory size: {s!r} (e.g. 64M)")
    if v < 4096 or v % 4096 or v >= 1 << 32:
        raise argparse.ArgumentTypeError(f"memory size {s!r} must be a multiple of 4 KiB "
                                         "between 4 KiB and 4 GiB")
    return v


def _open_serial(spec):
    if spec == "stdio":
        return sys.stdout, None
    if spec == "none":
        return None, None
    if spec.startswith("file:"):
        path = spec[5:]
        try:
            f = open(path, "w", encoding="latin-1")
        except OSError as e:
            raise BtError(f"--serial {spec}: cannot open {path}: {e.strerror}")
        return f, f
    raise BtError(f"--serial {spec!r}: expected stdio, file:PATH or none")


def cmd_run(args):
    from bt import guests
    from bt.loaders import load_image
    image = args.image or guests.path("hello")
    if not os.path.exists(image) and image in guests.names():
        image = guests.path(image)          # a bundled guest by name: bt run selfcheck
    out, closer = _open_serial(args.serial)
    m = Machine(ram_size=args.memory, strategy=args.strategy, serial=out,
                serial_stdin=args.serial_stdin, max_blocks=args.tcache_size,
                clock=args.clock, ns_per_insn=args.ns_per_insn,
                rtc_start=_rtc_start(args.rtc_start), on_triple_fault=args.on_triple_fault,
                tlb_entries=args.tlb_entries)
    if args.log_unmapped:
        m.ports.log_unmapped = lambda msg: print(f"[bt] {msg}", file=sys.stderr)
    kind = load_image(m, image, cmdline=args.append or "", modules=args.module,
                      flat_addr=args.flat)
    if not args.quiet:
        print(f"[bt] booting {image} ({kind}, {args.memory >> 20} MiB, strategy "
              f"{args.strategy})", file=sys.stderr)
    progress = sys.stderr.isatty() and not args.quiet
    left = args.max_insns
    t0 = time.perf_counter()
    last = t0
    ex = None
    try:
        while True:
            # run in slices so that Ctrl-C and the progress line are seen promptly
            chunk = 20_000_000 if left is None else min(left, 20_000_000)
            before = m.stats["insns"] if left is not None else 0
            ex = m.run(max_insns=chunk)
            if left is not None:
                left -= m.stats["insns"] - before
            if ex.kind != ExitKind.MAX_INSNS or left == 0:
                break
            now = time.perf_counter()
            if progress and now - last > 0.5:
                last = now
                n = m.stats["insns"]
                print(f"\r[bt] {n:,} instructions, {n / (now - t0) / 1e6:.1f} MIPS",
                      end="", file=sys.stderr, flush=True)
    except KeyboardInterrupt:
        ex = None
    finally:
        m.uart.flush()
        if closer is not None:
            closer.close()
    dt = time.perf_counter() - t0
    stats = m.stats
    if progress:
        print("\r\033[K", end="", file=sys.stderr)
    if ex is None:
        msg, rc = "interrupted", EXIT_INTERRUPTED
    elif ex.kind == ExitKind.GUEST_EXIT:
        msg, rc = str(ex), ex.status
    elif ex.kind == ExitKind.HLT:
        if m.cpu.eflags & 0x200:
            msg = f"guest halted with interrupts enabled and nothing to wake it at eip={ex.eip:#x}"
        else:
            msg = str(ex)
        rc = 0
    elif ex.kind == ExitKind.MAX_INSNS:
        msg, rc = f"instruction budget of {args.max_insns:,} spent at eip={ex.eip:#x}", EXIT_BUDGET
    else:
        msg, rc = f"guest stopped: {ex}", EXIT_GUEST_CRASH
    if not args.quiet or rc == EXIT_GUEST_CRASH:
        print(f"[bt] {msg}; {stats['insns']:,} instructions in {dt:.3f} s "
              f"({stats['insns'] / max(dt, 1e-9) / 1e6:.1f} MIPS)", file=sys.stderr)
    if args.print_stats or ex is None or args.stats == "-":
        print("[bt] counters:\n" + format_stats(stats), file=sys.stderr)
    if args.stats and args.stats != "-":
        try:
            with open(args.stats, "w") as f:
                json.dump(stats, f, indent=2, default=str)
        except OSError as e:
            print(f"bt: error: cannot write --stats {args.stats}: {e.strerror}", file=sys.stderr)
    return rc


def _positive_float(s):
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {s!r}")
    if not v > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {s!r}")
    return v


def _rtc_start(s):
    if s is None or s == "host":
        return s
    try:
        return int(s, 0)
    except ValueError:
        raise BtError(f"--rtc-start {s!r}: expected seconds since 1970 or 'host'")


def _positive(s):
    v = _int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1: {s!r}")
    return v


def _pow2(s):
    v = _int(s)
    if v < 2 or v > 1 << 20 or v & (v - 1):
        raise argparse.ArgumentTypeError(f"must be a power of two between 2 and {1 << 20}: {s!r}")
    return v


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
    p.add_argument("--debug", action="store_true", help="show Python tracebacks of bt errors")
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="boot a guest image (default: the bundled hello guest)",
                       description="Boot a Multiboot kernel, an ELF32 executable or (with "
                       "--flat) a raw binary, like qemu-system-i386 -kernel.  Exit code: the "
                       "guest's exit-port status; 0 after HLT; 2 bad option or image; 3 guest "
                       "crash; 4 instruction budget spent; 130 Ctrl-C.")
    r.add_argument("image", nargs="?", help="kernel image, or the name of a bundled guest "
                   "(hello, selfcheck; default: hello)")
    r.add_argument("-m", "--memory", type=_size, default=64 << 20, metavar="SIZE",
                   help="guest RAM, e.g. 64M (default 64M)")
    r.add_argument("--strategy", choices=STRATEGIES, default="block",
                   help="translation strategy (default block)")
    r.add_argument("--append", metavar="CMDLINE", help="Multiboot command line")
    r.add_argument("--module", action="append", default=[], metavar="FILE",
                   help="Multiboot module (repeatable; 'FILE args' passes a string)")
    r.add_argument("--flat", type=_int, metavar="ADDR",
                   help="load IMAGE as a raw binary at ADDR and start there")
    r.add_argument("--serial", default="stdio", metavar="stdio|file:PATH|none",
                   help="where COM1 output goes (default stdio)")
    r.add_argument("--serial-stdin", action="store_true", help="feed stdin to COM1 input")
    r.add_argument("--max-insns", type=_int, metavar="N", help="stop after N instructions")
    r.add_argument("--tcache-size", type=_positive, default=65536, metavar="BLOCKS",
                   help="bound on cached translated blocks; a full cache is flushed "
                   "(default 65536)")
    r.add_argument("--tlb-entries", type=_pow2, default=None, metavar="N",
                   help="software TLB entries per privilege level, a power of two "
                        "(default 4096)")
    r.add_argument("--clock", choices=("virtual", "host"), default="virtual",
                   help="guest time: 'virtual' advances with retired instructions "
                   "(deterministic, the default) or 'host' follows the wall clock")
    r.add_argument("--ns-per-insn", type=_positive_float, default=1.0, metavar="NS",
                   help="virtual clock rate: nanoseconds per instruction (default 1.0)")
    r.add_argument("--rtc-start", default=None, metavar="EPOCH|host",
                   help="RTC start time: seconds since 1970, or 'host' (default "
                   "2000-01-01 00:00:00 UTC, deterministic)")
    r.add_argument("--on-triple-fault", choices=("stop", "reset"), default="stop",
                   help="stop with a report (default) or reset the CPU")
    r.add_argument("--stats", metavar="FILE", help="write the counters as JSON ('-': print "
                   "them as a table)")
    r.add_argument("--print-stats", action="store_true", help="print the counters at the end")
    r.add_argument("--log-unmapped", action="store_true", help="log unmapped port accesses")
    r.add_argument("-q", "--quiet", action="store_true", help="only the guest's output")
    r.set_defaults(fn=cmd_run)
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
    b = sub.add_parser("bench", help="benchmark bt against Unicorn, QEMU and native "
                       "(needs the source tree)", description="Run the workloads of "
                       "bench/workloads under bt, Unicorn, QEMU and natively; print a table, "
                       "write JSON and a PNG chart.  See bench/README.md.")
    from bt import bench as _bench
    _bench.add_arguments(b)
    b.set_defaults(fn=_bench.cmd_bench)
    args = p.parse_args(argv)
    try:
        return args.fn(args)
    except BtError as e:
        if args.debug:
            raise
        print(f"bt: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
