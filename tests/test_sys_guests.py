"""The protected-mode test kernels (guests/systest, guests/pagetest): each prints
one line per check (`PASS name` / `FAIL name got=... want=...`), a summary line,
and exits through isa-debug-exit with the number of failures.

(a) The reference: under qemu-system-i386 (real-hardware behaviour as emulated by
    QEMU; installed on the development machine, not in CI) every check passes.
(b) Under bt, every strategy: status 1 (exit code 0), no FAIL line, and the same
    output under every strategy."""
import shutil
import subprocess
import sys

import pytest

from bt import guests

KERNELS = ["systest", "pagetest"]
QEMU = "qemu-system-i386"


def check_lines(out):
    return [ln for ln in out.splitlines() if ln.startswith(("PASS ", "FAIL "))]


def summary(out, name):
    return [ln for ln in out.splitlines() if ln.startswith(f"{name}: ") and "passed" in ln]


@pytest.mark.parametrize("name", KERNELS)
def test_kernel_passes_under_qemu(name):
    qemu = shutil.which(QEMU)
    if qemu is None:
        pytest.skip(f"{QEMU} is not on PATH: the reference run of {name} under QEMU is not possible here")
    p = subprocess.run([qemu, "-kernel", guests.path(name), "-display", "none", "-serial", "stdio",
                        "-monitor", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                        "-no-reboot"], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL)
    checks = check_lines(p.stdout)
    fails = [ln for ln in checks if ln.startswith("FAIL ")]
    assert fails == [], p.stdout
    assert len(checks) >= 50
    assert summary(p.stdout, name) == [f"{name}: {len(checks)} passed, 0 failed"]
    assert p.returncode == 1                  # isa-debug-exit, code 0: (0 << 1) | 1


_bt_out = {}


def run_bt(name, strategy):
    p = subprocess.run([sys.executable, "-m", "bt", "run", name, "-q", "--strategy", strategy],
                       capture_output=True, text=True, timeout=900)
    _bt_out[(name, strategy)] = p.stdout
    return p


@pytest.mark.parametrize("name", KERNELS)
def test_kernel_passes_under_bt(name, strategy):
    p = run_bt(name, strategy)
    checks = check_lines(p.stdout)
    assert [ln for ln in checks if ln.startswith("FAIL ")] == [], p.stdout + p.stderr
    assert len(checks) >= 50, p.stdout + p.stderr
    assert summary(p.stdout, name) == [f"{name}: {len(checks)} passed, 0 failed"]
    assert p.returncode == 1, p.stdout + p.stderr


@pytest.mark.parametrize("name", KERNELS)
def test_kernel_output_same_under_every_strategy(name):
    from bt.machine import STRATEGIES
    outs = {s: _bt_out.get((name, s)) or run_bt(name, s).stdout for s in STRATEGIES}
    ref = outs[STRATEGIES[0]]
    assert check_lines(ref), ref
    for s, out in outs.items():
        assert out == ref, f"{s} differs from {STRATEGIES[0]}"
