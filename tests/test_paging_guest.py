"""The paging guest (guests/paging/paging.c, bundled as bt/guests/paging.elf):
a kernel that checks paging on itself (identity and higher-half mappings, A/D
bits, INVLPG and CR3 reloads, a 4 MiB page, global pages over a CR3 switch and a
CR4.PGE toggle, CR0.WP=0, code written through one mapping and run through
another).  Its expectations come from the SDM; qemu-system-i386, when installed,
runs it as a cross-check."""
import os
import shutil
import subprocess
import sys

import pytest

from bt import guests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WANT_LAST = "paging: 11 passed, 0 failed"


def bt_run(*args):
    return subprocess.run([sys.executable, "-m", "bt", "run", *args], capture_output=True,
                          text=True, timeout=300)


def test_paging_guest_passes(strategy):
    r = bt_run("paging", "-q", "--strategy", strategy)
    lines = r.stdout.splitlines()
    assert r.returncode == 1, r.stdout + r.stderr       # exit port, status (0 << 1) | 1
    assert lines[-1] == WANT_LAST and not any(l.startswith("FAIL") for l in lines)


@pytest.mark.parametrize("entries", ["2", "16"])
def test_paging_guest_small_tlb(entries):
    r = bt_run("paging", "-q", "--tlb-entries", entries)
    assert r.stdout.splitlines()[-1] == WANT_LAST


def test_paging_guest_agrees_with_qemu():
    qemu = shutil.which("qemu-system-i386")
    if qemu is None:
        pytest.skip("qemu-system-i386 is not installed (the cross-check is optional)")
    q = subprocess.run([qemu, "-kernel", guests.path("paging"), "-serial", "stdio",
                        "-display", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                        "-m", "64", "-no-reboot"], capture_output=True, text=True, timeout=120)
    b = bt_run("paging", "-q")
    assert q.stdout.splitlines()[-1] == WANT_LAST, q.stdout
    assert [l for l in b.stdout.splitlines() if l.startswith(("PASS", "FAIL", "paging:"))] == \
        [l for l in q.stdout.splitlines() if l.startswith(("PASS", "FAIL", "paging:"))]


def test_paging_guest_rebuild_is_byte_identical(tmp_path):
    build = os.path.join(ROOT, "guests", "build.py")
    if not os.path.exists(build):
        pytest.skip("guests/ sources are not here")
    try:
        import ziglang  # noqa: F401
    except ImportError:
        pytest.skip("ziglang is not installed: cannot rebuild the guest")
    sys.path.insert(0, os.path.dirname(build))
    try:
        import build as guest_build
    finally:
        sys.path.pop(0)
    if guest_build.zig_version() != guest_build.ZIG_VERSION:
        pytest.skip("another zig version: its output may differ byte for byte")
    r = subprocess.run([sys.executable, build, "paging", "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    with open(guests.path("paging"), "rb") as f:
        assert (tmp_path / "paging.elf").read_bytes() == f.read(), \
            "bt/guests/paging.elf is stale: run python guests/build.py paging and commit it"
