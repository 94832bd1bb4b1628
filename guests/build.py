#!/usr/bin/env python3
"""Build bt's test guests with zig's clang (``pip install ziglang``).

    python guests/build.py                 # every guest -> bt/guests/<name>.elf (package data)
    python guests/build.py --out DIR       # ... into DIR instead
    python guests/build.py --native DIR    # the native oracles: static i386 Linux programs
                                           # (not systest/pagetest: ring 0 only)
    python guests/build.py hello           # only the named guests

A guest is a Multiboot v1 ELF kernel linked at 1 MiB (rt/kernel.ld).  Its native
twin is the same sources with rt/platform_linux.c in place of the Multiboot
platform, so it runs on this x86-64 host and proves the checks' expected values
on real hardware.  The build is deterministic: the same sources give the same bytes.
"""
import argparse
import os
import subprocess
import sys

# The committed kernels were built with this zig; another version may emit other bytes.
ZIG_VERSION = "0.17.1"

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "bt", "guests")

# Sources of each guest, relative to guests/.
GUESTS = {
    "hello": ["hello/hello.c"],
    "selfcheck": ["selfcheck/selfcheck.c", "selfcheck/ops.S"],
    "systest": ["systest/systest.c", "systest/user.S", "sysrt/sys.c", "sysrt/sysstub.S"],
    "pagetest": ["pagetest/pagetest.c", "pagetest/page.S", "sysrt/sys.c", "sysrt/sysstub.S"],
    "fpu": ["fpu/fpu.c"],
    "paging": ["paging/paging.c"],
}
# Guests that run only as kernels (privileged instructions): no native twin.
KERNEL_ONLY = {"systest", "pagetest", "paging"}
RT = ["rt/rt.c"]
KERNEL_RT = ["rt/multiboot.S", "rt/platform_mb.c"]
NATIVE_RT = ["rt/platform_linux.c"]

# -march=i686: a P6 without MMX/SSE, so the compiler emits nothing bt lacks; float,
# double and long double become x87 code (only the fpu guest uses them).  No unwind tables, no stack protector,
# no debug info: the output depends on the sources alone.
CFLAGS = ["-O2", "-march=i686", "-std=gnu11", "-Wall", "-Wextra", "-Werror",
          "-fno-stack-protector", "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
          "-fno-pic", "-fno-pie", "-g0", "-I", "rt", "-I", "sysrt"]
KERNEL_FLAGS = ["-target", "x86-freestanding-none", "-ffreestanding",
                "-T", "rt/kernel.ld", "-Wl,--build-id=none", "-Wl,--strip-debug", "-static"]
NATIVE_FLAGS = ["-target", "x86-linux-musl", "-static", "-no-pie", "-Wl,--build-id=none"]


def zig():
    return [sys.executable, "-m", "ziglang"]


def zig_version():
    """The version of the installed ziglang's zig, e.g. "0.17.1"."""
    r = subprocess.run(zig() + ["version"], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"guests/build.py: python -m ziglang version failed:\n{r.stderr}")
    return r.stdout.strip()


def _cc(args, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    cmd = zig() + ["cc"] + args + ["-o", os.path.abspath(out)]
    r = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"guests/build.py: {' '.join(cmd)}\n{r.stdout}{r.stderr}")
    return out


def compile_object(src, out, native=False, extra=()):
    """Compile one C or assembly source (absolute, or relative to guests/) to an object
    file: for the freestanding i386 target, or with ``native`` for i386 Linux (musl).
    bench/ compiles each workload once this way and links the object three ways."""
    target = NATIVE_FLAGS[:2] if native else ["-target", "x86-freestanding-none", "-ffreestanding"]
    return _cc(["-c"] + target + CFLAGS + list(extra) + [src], out)


def link_kernel(objs, out, extra=(), script=None):
    """Link objects into a Multiboot kernel (rt/kernel.ld, or another linker ``script``)."""
    flags = list(KERNEL_FLAGS)
    if script is not None:
        flags[flags.index("-T") + 1] = script
    return _cc(flags + list(objs) + list(extra), out)


def link_native(objs, out, extra=()):
    """Link objects into a static i386 Linux executable."""
    return _cc(NATIVE_FLAGS + list(objs) + list(extra), out)


def build_kernel(name, outdir):
    """Build guest ``name`` as a Multiboot kernel: ``outdir/<name>.elf``."""
    return _cc(KERNEL_FLAGS + CFLAGS + KERNEL_RT + RT + GUESTS[name],
               os.path.join(outdir, f"{name}.elf"))


def build_native(name, outdir):
    """Build guest ``name`` as a static i386 Linux program: ``outdir/<name>``."""
    return _cc(NATIVE_FLAGS + CFLAGS + NATIVE_RT + RT + GUESTS[name],
               os.path.join(outdir, name))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("names", nargs="*", help=f"guests to build (default: all of {', '.join(GUESTS)})")
    ap.add_argument("--out", default=DEFAULT_OUT, help="where the kernels go (default: bt/guests)")
    ap.add_argument("--native", metavar="DIR", help="build the native Linux oracles into DIR instead")
    args = ap.parse_args(argv)
    names = args.names or [n for n in GUESTS if not (args.native and n in KERNEL_ONLY)]
    for n in names:
        if n not in GUESTS:
            ap.error(f"unknown guest {n!r} (have {', '.join(GUESTS)})")
        if args.native and n in KERNEL_ONLY:
            ap.error(f"guest {n!r} runs only as a kernel (privileged instructions): no native build")
    have = zig_version()
    if have != ZIG_VERSION:
        print(f"guests/build.py: warning: zig {have}, but the committed guests were built "
              f"with zig {ZIG_VERSION}; the bytes may differ", file=sys.stderr)
    for n in names:
        out = build_native(n, args.native) if args.native else build_kernel(n, args.out)
        print(f"built {out} ({os.path.getsize(out)} bytes)")


if __name__ == "__main__":
    main()
