"""The guests' checks, built as static i386 Linux programs and run on this host's
CPU: real hardware proves every expected value in them.  Then bt must print the
same lines for the same guest (all but the lines that mention Multiboot)."""
import os
import subprocess
import sys
import zlib

import pytest

from bt import guests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "guests", "build.py")


@pytest.fixture(scope="module")
def native(tmp_path_factory):
    """name -> path of the native build; skips when it can't be built or run here."""
    try:
        import ziglang  # noqa: F401
    except ImportError:
        pytest.skip("ziglang is not installed (pip install ziglang, or bt's [test] extra): "
                    "cannot build the native oracles")
    if not os.path.exists(BUILD):
        pytest.skip("guests/ sources are not here (an installed bt without its source tree)")
    out = tmp_path_factory.mktemp("native")
    # The first build compiles musl for i686 into zig's cache: minutes, once.
    r = subprocess.run([sys.executable, BUILD, "--native", str(out)],
                       capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stdout + r.stderr
    try:
        subprocess.run([str(out / "hello")], capture_output=True, timeout=60)
    except OSError as e:
        pytest.skip(f"this host cannot run i386 Linux programs: {e}")
    return {n: str(out / n) for n in ("hello", "selfcheck", "fpu")}


def run_native(native, name):
    p = subprocess.run([native[name]], capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout


def run_bt(name, strategy="block"):
    p = subprocess.run([sys.executable, "-m", "bt", "run", "-q", "--strategy", strategy,
                        guests.path(name)], capture_output=True, text=True, timeout=900)
    assert p.stderr == "", p.stderr
    return p.returncode, p.stdout


def lcg_buffer():
    x, b = 12345, bytearray()
    for _ in range(65536):
        x = (x * 1664525 + 1013904223) & 0xFFFFFFFF
        b.append(x >> 24)
    return bytes(b)


def test_native_selfcheck_all_pass(native):
    rc, out = run_native(native, "selfcheck")
    lines = out.splitlines()
    checks = [ln for ln in lines if ln.startswith(("PASS ", "FAIL "))]
    assert len(checks) >= 50
    assert [ln for ln in checks if not ln.startswith("PASS ")] == []
    assert lines[-1] == f"selfcheck: {len(checks)} passed, 0 failed"
    assert rc == 0


def test_native_hello_values(native):
    rc, out = run_native(native, "hello")
    assert rc == 0
    buf = lcg_buffer()
    fnv = 0xCBF29CE484222325
    for c in buf:
        fnv = ((fnv ^ c) * 0x100000001B3) & (2**64 - 1)
    q, r = divmod(2**64 - 1, 1000000007)
    assert out.splitlines() == [
        "bt hello guest (native build, no Multiboot)",
        f"crc32 of 64 KiB LCG buffer: {zlib.crc32(buf):#010x}",
        f"fnv1a64 of the same buffer: {fnv:#018x}",
        "sum of primes below 10000: 5736396",
        "fib(20): 6765",
        f"(2^64-1) / 1000000007 = {q} rem {r}",
        "hello: done, exit code 0",
    ]


def _comparable(out):
    return [ln for ln in out.splitlines() if "multiboot" not in ln.lower()]


@pytest.mark.parametrize("name", ["hello", "selfcheck", "fpu"])
def test_bt_output_matches_native(native, name):
    nrc, nout = run_native(native, name)
    brc, bout = run_bt(name)
    assert _comparable(bout) == _comparable(nout)
    assert brc == (nrc << 1) | 1          # exit port status (code << 1) | 1
