"""``bt bench``: bt against Unicorn, QEMU and native on the same guest code.

    bt bench [--quick] [--runners R,...] [--workloads W,...] [--reps N] [--out DIR]

The workloads are C sources in the source tree (``bench/workloads``); ``bt bench``
needs that tree (a checkout of bt: it looks beside the ``bt`` package, then in the
current directory, or takes ``--src DIR``) and zig's clang (``pip install ziglang``,
in the ``test`` extra).  Each workload is compiled once into an i386 object file,
then linked three ways: a Multiboot kernel (guests/rt: bt, qemu-system-i386), a static
i386 Linux executable (native, qemu-i386) and a flat image (Unicorn).  The size is an
absolute symbol given at link time (a generated one-line object defining
``bench_n``), so the empty run (n = 0)
is the same program doing no work: its time, the runner's start-up (process start,
loading, clearing .bss, printing), is subtracted from the full run's.  Builds are
cached under ``--cache`` (default ``$XDG_CACHE_HOME/bt/bench``), keyed by a hash of
the sources and the zig version.

Every runner is a subprocess timed by wall clock: ``python -m bt run`` for bt's
strategies, ``python -m bt.bench unicorn`` (this module) for Unicorn, the QEMUs, and
the native executable.  Repetitions are interleaved (rep 1 of every runner and
workload, then rep 2, ...), and the table shows medians.  A runner whose checksum
differs from native's (or, without native, from the others') fails the run.
"""
import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time

from bt.machine import BtError

WORKLOADS = ("sieve", "crc32", "matmul", "qsort", "fib", "nbody")
# n per workload: full sizes take ~0.2-2 s under bt's block strategy, quick ones a few ms.
SIZES = {"sieve": 6_000_000, "crc32": 4_000_000, "matmul": 1024, "qsort": 524_288, "fib": 33,
         "nbody": 50_000}
QUICK_SIZES = {"sieve": 20_000, "crc32": 8_000, "matmul": 32, "qsort": 2_000, "fib": 16, "nbody": 50}
WHAT = {
    "sieve": "byte sieve of Eratosthenes below n (integer, branches)",
    "crc32": "bitwise CRC-32 of n bytes (shifts, masks, a tight loop)",
    "matmul": "u32 matrix multiply, A n x n (4 MiB at n=1024) times B n x 16",
    "qsort": "recursive quicksort of n u32 (2 MiB at n=524288)",
    "fib": "naive recursive fib(n) (calls and returns)",
    "nbody": "five-body simulation in double, n steps (x87 floating point)",
}

# Privileged nanobenchmarks: op number in bench/workloads/nano.c -> name.
NANO_OPS = {1: "out+in", 2: "cli+sti", 3: "call+ret", 4: "pushf+popf", 5: "cpuid", 6: "rdtsc"}
# Iterations per op: whole-process timing has ~0.1 s of start-up jitter, so n must
# make the op's total time large against it.  Op 0 (the bare loop) is per-iteration,
# subtracted.
NANO_N = {0: 5_000_000, 1: 2_000_000, 2: 5_000_000, 3: 5_000_000, 4: 5_000_000,
          5: 2_000_000, 6: 5_000_000}
# Ops that need IDT delivery, paging, ring 3 (their own GDT/TSS/IDT from guests/sysrt).
NANO_SYS_OPS = {7: "int80+iret", 8: "sysenter+sysexit", 9: "mov cr3", 10: "invlpg",
                11: "#PF round trip", 12: "#DE round trip", 13: "pte write+invlpg"}
NANO_SYS_RUNNERS = ("qemu-system",)
# the system ops bt runs (all of them since paging landed)
NANO_SYS_BT = tuple(NANO_SYS_OPS)
NANO_N.update({7: 2_000_000, 8: 2_000_000, 9: 500_000, 10: 2_000_000, 11: 500_000,
               12: 2_000_000, 13: 2_000_000})
NANO_QUICK_N = {op: 2_000 for op in NANO_N}
NANO_NOT_YET = tuple(NANO_SYS_OPS[op] for op in NANO_SYS_OPS if op not in NANO_SYS_BT)
NANO_NOT_YET_WHY = "not yet in bt"

_NANO_ALL = {**NANO_OPS, **NANO_SYS_OPS}


def _nano_ops(runner):
    """The nano ops a runner measures."""
    if runner in NANO_SYS_RUNNERS:
        return list(NANO_OPS) + list(NANO_SYS_OPS)
    if runner.startswith("bt"):
        return list(NANO_OPS) + list(NANO_SYS_BT)
    return list(NANO_OPS)


RUNNERS = ("bt-block", "bt-chain", "bt-native", "bt-interp", "unicorn", "unicorn-hook",
           "qemu-system", "qemu-user", "native")
DEFAULT_RUNNERS = ("bt-block", "bt-chain", "bt-native", "unicorn", "unicorn-hook", "qemu-system",
                   "qemu-user", "native")
NANO_RUNNERS = ("bt-block", "bt-chain", "bt-native", "bt-interp", "qemu-system")
RUNNER_WHAT = {
    "bt-block": "bt run --strategy block (subprocess)",
    "bt-chain": "bt run --strategy chain (subprocess)",
    "bt-native": "bt run --strategy native (subprocess): chain + blocks as x86-64 code",
    "bt-interp": "bt run --strategy interp (subprocess; not in the default set: slow)",
    "unicorn": "Unicorn 2 as shipped, no hooks: emu_start(entry, until=done) on the flat image",
    "unicorn-hook": "Unicorn 2 with a Python UC_HOOK_BLOCK callback counting blocks",
    "qemu-system": "qemu-system-i386 -accel tcg -kernel (isa-debug-exit, -serial stdio)",
    "qemu-user": "qemu-i386 on the static i386 Linux executable",
    "native": "the static i386 Linux executable on this host",
}

CHECK_RE = re.compile(r"checksum=(0x[0-9a-f]{8})")


class BenchError(BtError):
    """A user-facing error: bad option, missing source tree or toolchain."""


# ---------------------------------------------------------------- source and build
def find_source(src=None):
    """The bt source tree: a directory holding bench/workloads and guests/build.py."""
    cands = [src] if src else [os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                               os.getcwd()]
    for c in cands:
        if c and os.path.isdir(os.path.join(c, "bench", "workloads")) and \
                os.path.isfile(os.path.join(c, "guests", "build.py")):
            return os.path.abspath(c)
    raise BenchError("bt bench needs bt's source tree (bench/workloads and guests/build.py); "
                     "run it from a checkout of bt or pass --src DIR"
                     + (f" (not found under {src})" if src else ""))


def _import_build(src):
    import importlib.util
    path = os.path.join(src, "guests", "build.py")
    spec = importlib.util.spec_from_file_location("bt_guests_build", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def default_cache():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bt", "bench")


class Builder:
    """Compiles each workload once (i386 object) and links it per platform and size."""

    def __init__(self, src, cache):
        self.src = src
        self.wdir = os.path.join(src, "bench", "workloads")
        self.build = _import_build(src)
        try:
            import ziglang  # noqa: F401
        except ImportError:
            raise BenchError("bt bench builds its workloads with zig's clang: pip install ziglang")
        h = hashlib.sha256(self.build.zig_version().encode())
        for d in (self.wdir, os.path.join(src, "guests", "rt"), os.path.join(src, "guests", "sysrt")):
            for f in sorted(os.listdir(d)):
                p = os.path.join(d, f)
                if os.path.isfile(p):
                    h.update(f.encode() + b"\0")
                    with open(p, "rb") as fh:
                        h.update(fh.read())
        with open(os.path.join(src, "guests", "build.py"), "rb") as fh:
            h.update(fh.read())
        self.dir = os.path.join(cache, h.hexdigest()[:16])
        os.makedirs(self.dir, exist_ok=True)

    def _obj(self, src, name, native=False):
        out = os.path.join(self.dir, "obj", name + ".o")
        if not os.path.exists(out):
            try:
                self.build.compile_object(src, out + ".tmp", native=native,
                                          extra=["-I", self.wdir])
            except SystemExit as e:
                raise BenchError(f"compiling {src} failed: {e}")
            os.replace(out + ".tmp", out)
        return out

    def _param(self, n, op=None):
        """An object defining the absolute symbols bench_n (and bench_op): the size is
        a link-time constant (zig's linker has no --defsym), the workload object stays
        the same."""
        name = f"param-{n}" + (f"-op{op}" if op is not None else "")
        src = os.path.join(self.dir, "obj", name + ".S")
        os.makedirs(os.path.dirname(src), exist_ok=True)
        with open(src, "w") as f:
            f.write(f"\t.globl bench_n\n\t.set bench_n, {int(n)}\n")
            if op is not None:
                f.write(f"\t.globl bench_op\n\t.set bench_op, {int(op)}\n")
        return self._obj(src, name)

    def _objs(self, platform_):
        rt = os.path.join(self.src, "guests", "rt")
        common = [self._obj(os.path.join(rt, "rt.c"), "rt")]
        if platform_ == "mb":
            return common + [self._obj(os.path.join(rt, "multiboot.S"), "multiboot"),
                             self._obj(os.path.join(rt, "platform_mb.c"), "platform_mb")]
        if platform_ == "native":
            return common + [self._obj(os.path.join(rt, "platform_linux.c"), "platform_linux",
                                       native=True)]
        return common + [self._obj(os.path.join(self.wdir, "flat.S"), "flat_S"),
                         self._obj(os.path.join(self.wdir, "flat.c"), "flat_c")]

    def image(self, platform_, workload, n, op=None):
        """Path of ``workload`` linked for platform "mb" (Multiboot), "native" or "flat"."""
        tag = f"{workload}-{n}" + (f"-op{op}" if op is not None else "")
        ext = {"mb": ".elf", "native": "", "flat": ".bin"}[platform_]
        out = os.path.join(self.dir, platform_, tag + ext)
        if os.path.exists(out):
            return out
        if workload == "nano":
            sysrt = os.path.join(self.src, "guests", "sysrt")
            objs = [self._obj(os.path.join(self.wdir, "nano.c"), "nano"),
                    self._obj(os.path.join(self.wdir, "nano_sys.S"), "nano_sys"),
                    self._obj(os.path.join(sysrt, "sys.c"), "sysrt_sys"),
                    self._obj(os.path.join(sysrt, "sysstub.S"), "sysrt_stub")]
        else:
            objs = [self._obj(os.path.join(self.wdir, "driver.c"), "driver"),
                    self._obj(os.path.join(self.wdir, workload + ".c"), workload)]
        objs += self._objs(platform_)
        objs.append(self._param(n, op))
        tmp = out + ".tmp"
        try:
            if platform_ == "mb":
                self.build.link_kernel(objs, tmp)
            elif platform_ == "native":
                self.build.link_native(objs, tmp)
            else:
                self.build.link_kernel(objs, tmp + ".elf",
                                       script=os.path.join(self.wdir, "flat.ld"))
        except SystemExit as e:          # build.py reports a failed compile this way
            raise BenchError(f"building {tag} for {platform_} failed: {e}")
        if platform_ == "flat":
            with open(tmp + ".elf", "rb") as f:
                data = f.read()
            with open(tmp, "wb") as f:
                f.write(elf_to_flat(data))
            os.unlink(tmp + ".elf")
        os.replace(tmp, out)
        if platform_ == "native":
            os.chmod(out, 0o755)
        return out


FLAT_BASE = 0x100000


def elf_to_flat(data):
    """The PT_LOAD file contents of an ELF linked at FLAT_BASE as one raw image (.bss
    left out: it is zero in the runner's fresh memory, and flat.S clears it anyway)."""
    from bt.loaders.elf import parse_elf32
    _entry, segs = parse_elf32(data, "flat image")
    end = max(p + fs for p, _o, fs, _m, _h in segs)
    img = bytearray(end - FLAT_BASE)
    for paddr, off, filesz, _memsz, _h in segs:
        img[paddr - FLAT_BASE:paddr - FLAT_BASE + filesz] = data[off:off + filesz]
    return bytes(img)


# ---------------------------------------------------------------- the Unicorn child
def unicorn_run(path, count_blocks=False):
    """Run a flat image under Unicorn; returns (guest output bytes, blocks or None)."""
    from unicorn import UC_ARCH_X86, UC_HOOK_BLOCK, UC_MODE_32, Uc
    with open(path, "rb") as f:
        data = f.read()
    magic, entry, done, out_buf, out_len, end = struct.unpack_from("<4sIIIII", data)
    if magic != b"BTFL":
        raise BenchError(f"{path}: not a bt bench flat image (no BTFL header)")
    uc = Uc(UC_ARCH_X86, UC_MODE_32)
    uc.mem_map(0, (end + 0x10FFFF) & ~0xFFFFF)
    uc.mem_write(FLAT_BASE, data)
    blocks = [0]
    if count_blocks:
        def hook(_uc, _addr, _size, b):
            b[0] += 1
        uc.hook_add(UC_HOOK_BLOCK, hook, blocks)
    uc.emu_start(entry, done)
    n = struct.unpack("<I", uc.mem_read(out_len, 4))[0]
    return bytes(uc.mem_read(out_buf, n)), (blocks[0] if count_blocks else None)


def _unicorn_main(argv):
    ap = argparse.ArgumentParser(prog="python -m bt.bench unicorn")
    ap.add_argument("image")
    ap.add_argument("--count-blocks", action="store_true")
    a = ap.parse_args(argv)
    out, blocks = unicorn_run(a.image, a.count_blocks)
    sys.stdout.write(out.decode("latin-1"))
    if blocks is not None:
        print(f"[unicorn] blocks={blocks}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- runners
class Runner:
    platform = "mb"
    ok_rc = (0,)

    def __init__(self, name):
        self.name = name

    def missing(self):
        """None if the runner can run here, else why not."""
        return None

    def cmd(self, image, stats):
        raise NotImplementedError

    def run(self, image, timeout):
        """Run once: (seconds, stdout, insns or None)."""
        stats = None
        if self.name.startswith("bt-"):
            fd, stats = tempfile.mkstemp(suffix=".json", prefix="btbench-")
            os.close(fd)
        try:
            cmd = self.cmd(image, stats)
            t0 = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, timeout=timeout,
                               env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
            dt = time.perf_counter() - t0
            out = r.stdout.decode("latin-1")
            if r.returncode not in self.ok_rc:
                err = (r.stderr.decode("latin-1").strip().splitlines() or ["(no stderr)"])[-1]
                raise BenchError(f"{self.name}: exit status {r.returncode}: {err}")
            insns = None
            if stats:
                with open(stats) as f:
                    insns = json.load(f)["insns"]
            return dt, out, insns
        except subprocess.TimeoutExpired:
            raise BenchError(f"{self.name}: timed out after {timeout} s")
        finally:
            if stats:
                os.unlink(stats)


class BtRunner(Runner):
    ok_rc = (1,)            # exit port with code 0: status (0 << 1) | 1

    def __init__(self, name):
        super().__init__(name)
        self.strategy = name.split("-", 1)[1]

    def cmd(self, image, stats):
        return [sys.executable, "-m", "bt", "run", image, "--strategy", self.strategy,
                "-m", "64M", "-q", "--stats", stats]


class UnicornRunner(Runner):
    platform = "flat"

    def missing(self):
        try:
            import unicorn  # noqa: F401
        except ImportError:
            return "unicorn is not installed (pip install unicorn)"
        return None

    def cmd(self, image, stats):
        return [sys.executable, "-m", "bt.bench", "unicorn", image] + \
            (["--count-blocks"] if self.name == "unicorn-hook" else [])


class QemuSystemRunner(Runner):
    ok_rc = (1,)

    def missing(self):
        if shutil.which("qemu-system-i386") is None:
            return "qemu-system-i386 not found (Debian: apt-get install qemu-system-x86)"
        return None

    def cmd(self, image, stats):
        return ["qemu-system-i386", "-accel", "tcg", "-m", "128M", "-display", "none",
                "-nodefaults", "-no-reboot", "-serial", "stdio",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-kernel", image]


class QemuUserRunner(Runner):
    platform = "native"

    def missing(self):
        if shutil.which("qemu-i386") is None:
            return "qemu-i386 not found (Debian: apt-get install qemu-user)"
        return None

    def cmd(self, image, stats):
        return ["qemu-i386", image]


class NativeRunner(Runner):
    platform = "native"

    def missing(self):
        if platform.machine() not in ("x86_64", "i386", "i686", "AMD64"):
            return f"the host is {platform.machine()}, not x86"
        return None

    def cmd(self, image, stats):
        return [image]


def make_runner(name):
    if name.startswith("bt-"):
        return BtRunner(name)
    if name.startswith("unicorn"):
        return UnicornRunner(name)
    return {"qemu-system": QemuSystemRunner, "qemu-user": QemuUserRunner,
            "native": NativeRunner}[name](name)


# ---------------------------------------------------------------- measuring
def _med(xs):
    return statistics.median(xs) if xs else None


def run_bench(runners, workloads, quick=False, reps=3, builder=None, nano=True,
              timeout=600, log=print):
    """Measure; returns the result document (see bench/README.md)."""
    sizes = QUICK_SIZES if quick else SIZES
    active, skipped = [], {}
    for name in runners:
        r = make_runner(name)
        why = r.missing()
        if why:
            skipped[name] = why
        else:
            active.append(r)
    # build everything first, so that build time never lands in a measurement
    jobs = []                                  # (runner, workload, kind, image)
    for w in workloads:
        for r in active:
            for kind, n in (("empty", 0), ("full", sizes[w])):
                jobs.append((r, w, kind, builder.image(r.platform, w, n)))
    nano_jobs = []
    nano_n = NANO_QUICK_N if quick else NANO_N
    nano_runners = [r for r in active if r.name in NANO_RUNNERS] if nano else []
    for r in nano_runners:
        for op in [0] + _nano_ops(r.name):
            for kind, n in (("empty", 0), ("full", nano_n[op])):
                nano_jobs.append((r, f"op{op}", kind, builder.image("mb", "nano", n, op=op)))
    times, outs, insns = {}, {}, {}
    for rep in range(reps):
        log(f"[bench] repetition {rep + 1}/{reps}")
        # interleave: every runner and workload once per repetition, runner order rotated
        order = active[rep % max(len(active), 1):] + active[:rep % max(len(active), 1)]
        for r in order:
            for (jr, w, kind, img) in jobs + nano_jobs:
                if jr is not r:
                    continue
                key = (r.name, w, kind)
                try:
                    dt, out, n_ins = r.run(img, timeout)
                except BenchError as e:
                    outs[key] = f"ERROR {e}"
                    times.setdefault(key, [])
                    log(f"[bench] {e}")
                    continue
                times.setdefault(key, []).append(dt)
                outs[key] = out
                if n_ins is not None:
                    insns[key] = n_ins
    return _summarize(active, skipped, workloads, sizes, times, outs, insns, reps, quick,
                      nano_runners, nano_n)


def _checksum(out):
    m = CHECK_RE.search(out or "")
    return m.group(1) if m else None


def _summarize(active, skipped, workloads, sizes, times, outs, insns, reps, quick,
               nano_runners, nano_n):
    doc = {"machine": machine_info(), "date": time.strftime("%Y-%m-%d %H:%M"),
           "quick": quick, "reps": reps, "sizes": {w: sizes[w] for w in workloads},
           "runners": [r.name for r in active], "skipped": skipped, "results": {},
           "failures": [], "nano": {}}
    for w in workloads:
        res = {}
        guest_insns = None
        for r in active:
            full, empty = times.get((r.name, w, "full"), []), times.get((r.name, w, "empty"), [])
            cs = _checksum(outs.get((r.name, w, "full")))
            err = outs.get((r.name, w, "full"), "")
            entry = {"checksum": cs, "full_s": full, "empty_s": empty,
                     "median_full_s": _med(full), "median_empty_s": _med(empty)}
            if full and empty:
                t = _med(full) - _med(empty)
                if t > 0:
                    entry["time_s"] = t
                else:                     # the work is lost in the start-up's noise
                    entry["time_s"] = None
                    entry["note"] = "below start-up noise"
            if err.startswith("ERROR") or not (full and empty):
                entry["error"] = err[6:] if err.startswith("ERROR") else "no successful run"
            fi, ei = insns.get((r.name, w, "full")), insns.get((r.name, w, "empty"))
            if fi is not None and ei is not None:
                entry["guest_insns"] = fi - ei
                guest_insns = guest_insns or fi - ei
            res[r.name] = entry
        # the reference checksum: native's, else the most common one
        ref = res.get("native", {}).get("checksum")
        if ref is None:
            seen = [e["checksum"] for e in res.values() if e["checksum"]]
            ref = max(set(seen), key=seen.count) if seen else None
        for name, e in res.items():
            if "error" in e:
                doc["failures"].append(f"{w}/{name}: {e['error']}")
            elif e["checksum"] != ref:
                e["error"] = f"checksum {e['checksum']} differs from {ref}"
                doc["failures"].append(f"{w}/{name}: {e['error']}")
        nat = res.get("native", {}).get("time_s") if "error" not in res.get("native", {}) else None
        qs = res.get("qemu-system", {})
        qemu = qs.get("time_s") if "error" not in qs else None
        for name, e in res.items():
            t = e.get("time_s")
            if t is None or "error" in e:
                continue
            if guest_insns:
                e["mips"] = guest_insns / t / 1e6
            if nat:
                e["slowdown"] = t / nat
            if qemu:
                e["vs_qemu"] = t / qemu
        doc["results"][w] = {"n": sizes[w], "checksum": ref, "guest_insns": guest_insns,
                             "runners": res}
    for r in nano_runners:
        per = {}
        for op in [0] + _nano_ops(r.name):
            full = times.get((r.name, f"op{op}", "full"), [])
            empty = times.get((r.name, f"op{op}", "empty"), [])
            if full and empty and "done" in outs.get((r.name, f"op{op}", "full"), ""):
                per[op] = (_med(full) - _med(empty)) / nano_n[op] * 1e9
            else:
                doc["failures"].append(f"nano op{op}/{r.name}: "
                                       f"{outs.get((r.name, f'op{op}', 'full'), 'no run')[:200]}")
        loop = per.get(0, 0.0)
        doc["nano"][r.name] = {"n": {_NANO_ALL.get(op, "loop"): v for op, v in nano_n.items()},
                               "loop_ns": per.get(0),
                               "ns_per_op": {_NANO_ALL[op]: v - loop for op, v in per.items()
                                             if op}}
    if nano_runners:
        doc["nano_not_yet"] = {op: NANO_NOT_YET_WHY for op in NANO_NOT_YET}
    return doc


def machine_info():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}"}
    for tool, args in (("qemu-system-i386", ["--version"]), ("qemu-i386", ["--version"])):
        if shutil.which(tool):
            r = subprocess.run([tool] + args, capture_output=True, text=True)
            info[tool] = (r.stdout.splitlines() or ["?"])[0]
    try:
        import unicorn
        info["unicorn"] = unicorn.__version__
    except ImportError:
        pass
    return info


# ---------------------------------------------------------------- reporting
def _f(v, fmt):
    return "-" if v is None else format(v, fmt)


def format_table(doc):
    lines = []
    hdr = f"{'workload':8s} {'runner':13s} {'time s':>9s} {'MIPS':>8s} {'x native':>9s} " \
          f"{'x qemu':>7s}  checksum"
    for w, wres in doc["results"].items():
        lines.append(f"{w} (n={wres['n']:,}, {_f(wres['guest_insns'], ',')} guest insns)")
        lines.append(hdr)
        for name, e in wres["runners"].items():
            if "error" in e:
                lines.append(f"{w:8s} {name:13s} FAILED: {e['error']}")
                continue
            if e.get("time_s") is None:
                lines.append(f"{w:8s} {name:13s} {'-':>9s} ({e.get('note', 'no time')})"
                             f"{'':21s}{e['checksum']}")
                continue
            lines.append(f"{w:8s} {name:13s} {_f(e.get('time_s'), '9.4f')} "
                         f"{_f(e.get('mips'), '8.1f')} {_f(e.get('slowdown'), '9.1f')} "
                         f"{_f(e.get('vs_qemu'), '7.2f')}  {e['checksum']}")
        lines.append("")
    if doc.get("nano"):
        names = list(NANO_OPS.values())
        if any(_NANO_ALL[op] in e["ns_per_op"] for e in doc["nano"].values() for op in NANO_SYS_OPS):
            names += list(NANO_SYS_OPS.values())
        lines.append("privileged nanobenchmarks (ns per operation, whole-process time of n "
                     "operations minus the empty run, minus the bare loop)")
        ns = next(iter(doc["nano"].values()))["n"]
        lines.append(f"{'operation':20s} {'n':>9s} " + " ".join(f"{r:>12s}" for r in doc["nano"]))
        for op in names:
            lines.append(f"{op:20s} {ns[op]:9,d} " + " ".join(
                f"{_f(doc['nano'][r]['ns_per_op'].get(op), '12.1f')}" for r in doc["nano"]))
        lines.append(f"{'(bare loop)':20s} {ns['loop']:9,d} " + " ".join(
            f"{_f(doc['nano'][r]['loop_ns'], '12.1f')}" for r in doc["nano"]))
        for op, why in doc.get("nano_not_yet", {}).items():
            lines.append(f"{op:30s} {why}")
        lines.append("")
    for name, why in doc["skipped"].items():
        lines.append(f"skipped {name}: {why}")
    for f in doc["failures"]:
        lines.append(f"FAILED {f}")
    return "\n".join(lines)


def plot(doc, path):
    """A bar chart of the slowdown against native, per workload and runner (log scale)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BenchError("the chart needs matplotlib: pip install 'bt[bench]' (or matplotlib); "
                         "use --no-plot to skip it")
    workloads = list(doc["results"])
    runners = [r for r in doc["runners"] if r != "native"]
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(workloads) + 2), 4.5))
    width = 0.8 / max(len(runners), 1)
    for i, r in enumerate(runners):
        ys = [doc["results"][w]["runners"].get(r, {}).get("slowdown") or 0 for w in workloads]
        xs = [j + (i - (len(runners) - 1) / 2) * width for j in range(len(workloads))]
        bars = ax.bar(xs, ys, width, label=r)
        for b, y in zip(bars, ys):
            if y:
                ax.annotate(f"{y:.1f}", (b.get_x() + b.get_width() / 2, y), ha="center",
                            va="bottom", fontsize=6, rotation=90)
    ax.set_xticks(range(len(workloads)), workloads)
    ax.set_yscale("log")
    ax.set_ylabel("slowdown against native (log)")
    ax.axhline(1, color="black", linewidth=0.6)
    ax.set_title(f"bt bench{' --quick' if doc['quick'] else ''}: {doc['machine']['cpu']}, "
                 f"{doc['machine']['cores']} cores, median of {doc['reps']}", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- command line
def _list(allowed, what):
    def parse(s):
        items = [x.strip() for x in s.split(",") if x.strip()]
        for x in items:
            if x not in allowed:
                raise argparse.ArgumentTypeError(f"unknown {what} {x!r} (choose from: "
                                                 f"{', '.join(allowed)})")
        if not items:
            raise argparse.ArgumentTypeError(f"empty {what} list")
        return items
    return parse


def add_arguments(p):
    def one_line_error(msg):              # no usage block: one line, exit status 2
        print(f"bt bench: error: {msg}", file=sys.stderr)
        sys.exit(2)
    p.error = one_line_error
    p.add_argument("--quick", action="store_true", help="small sizes (seconds in all; for CI)")
    p.add_argument("--runners", type=_list(RUNNERS, "runner"), default=list(DEFAULT_RUNNERS),
                   metavar="R,...", help=f"runners (default {','.join(DEFAULT_RUNNERS)}; "
                   f"all: {','.join(RUNNERS)})")
    p.add_argument("--workloads", type=_list(WORKLOADS + ("nano",), "workload"),
                   default=list(WORKLOADS) + ["nano"], metavar="W,...",
                   help=f"workloads (default all: {','.join(WORKLOADS)},nano)")
    p.add_argument("--reps", type=int, default=3, help="repetitions (default 3, at least 1)")
    p.add_argument("--out", metavar="DIR", default="bench-results",
                   help="where bench.json and bench.png go (default ./bench-results)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG chart")
    p.add_argument("--src", metavar="DIR", help="bt's source tree (default: beside the bt "
                   "package, else the current directory)")
    p.add_argument("--cache", metavar="DIR", help="build cache (default $XDG_CACHE_HOME/bt/bench)")
    p.add_argument("--timeout", type=int, default=600, help="seconds per run (default 600)")


def cmd_bench(args):
    if args.reps < 1:
        raise BenchError("--reps must be at least 1")
    if not args.no_plot:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise BenchError("the chart needs matplotlib: pip install 'bt[bench]' (or "
                             "matplotlib); or pass --no-plot")
    src = find_source(args.src)
    builder = Builder(src, args.cache or default_cache())
    workloads = [w for w in args.workloads if w != "nano"]
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    log(f"[bench] building into {builder.dir}")
    doc = run_bench(args.runners, workloads, quick=args.quick, reps=args.reps, builder=builder,
                    nano="nano" in args.workloads, timeout=args.timeout, log=log)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "bench.json"), "w") as f:
        json.dump(doc, f, indent=2)
    table = format_table(doc)
    with open(os.path.join(args.out, "bench.txt"), "w") as f:
        f.write(table + "\n")
    print(table)
    if not args.no_plot and workloads:
        print(f"chart: {plot(doc, os.path.join(args.out, 'bench.png'))}")
    print(f"results: {os.path.join(args.out, 'bench.json')}")
    return 1 if doc["failures"] else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "unicorn":
        sys.exit(_unicorn_main(sys.argv[2:]))
    print("usage: python -m bt.bench unicorn IMAGE [--count-blocks]   (bt bench is the "
          "command)", file=sys.stderr)
    sys.exit(2)
