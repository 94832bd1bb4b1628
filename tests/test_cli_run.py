"""`bt run` end to end, in a subprocess: output, exit codes, error paths."""
import json
import subprocess
import sys

import pytest

from images import elf32, multiboot_aout


def bt(*argv, input=None):
    return subprocess.run([sys.executable, "-m", "bt", *argv], capture_output=True, text=True,
                          input=input, timeout=120)


@pytest.fixture
def kernel(tmp_path):
    p = tmp_path / "k.elf"
    p.write_bytes(multiboot_aout("hello from the guest\n", 7))
    return p


def test_run_serial_to_stdout_and_exit_status(kernel, strategy):
    p = bt("run", str(kernel), "--strategy", strategy, "-q")
    assert p.stdout == "hello from the guest\n"
    assert p.returncode == (7 << 1) | 1
    assert p.stderr == ""


def test_run_reports_and_writes_stats(kernel, tmp_path):
    stats = tmp_path / "stats.json"
    p = bt("run", str(kernel), "--stats", str(stats), "--print-stats")
    assert p.returncode == 15
    assert "guest exit with status 15" in p.stderr and "counters" in p.stderr
    d = json.loads(stats.read_text())
    assert d["insns"] > 20 and d["callouts"]["out"] >= 21


def test_run_serial_to_file(kernel, tmp_path):
    out = tmp_path / "serial.txt"
    p = bt("run", str(kernel), "--serial", f"file:{out}", "-q")
    assert p.stdout == "" and out.read_text() == "hello from the guest\n"


def test_run_budget_exit_code(kernel):
    p = bt("run", str(kernel), "--max-insns", "5", "-q")
    assert p.returncode == 4


def test_run_guest_crash_exit_code(tmp_path):
    k = tmp_path / "ud.elf"
    k.write_bytes(elf32([(0x100000, b"\x90\x0f\x0b", 3)], 0x100000))
    p = bt("run", str(k), "-q")
    assert p.returncode == 3
    assert "#UD" in p.stderr and "eip=0x100001" in p.stderr and "0f 0b" in p.stderr


def test_run_halt_exit_code(tmp_path):
    k = tmp_path / "hlt.bin"
    k.write_bytes(b"\xfa\xf4")
    p = bt("run", str(k), "--flat", "0x100000", "-q")
    assert p.returncode == 0


@pytest.mark.parametrize("argv,msg", [
    (["run", "/no/such/kernel"], "no such image"),
    (["run", "KERNEL", "-m", "12Q"], "not a memory size"),
    (["run", "KERNEL", "-m", "1000"], "multiple of 4 KiB"),
    (["run", "KERNEL", "--strategy", "jit9"], "invalid choice"),
    (["run", "KERNEL", "--serial", "tcp:1"], "expected stdio"),
    (["run", "KERNEL", "--max-insns", "x"], "not an integer"),
    (["run", "TRUNC"], "truncated"),
    (["run", "KERNEL", "-m", "1M"], "at least 2 MiB"),
])
def test_run_errors_are_one_line_exit_2(kernel, tmp_path, argv, msg):
    trunc = tmp_path / "trunc.elf"
    trunc.write_bytes(elf32([(0x100000, b"\x90" * 64, 64)], 0x100000)[:-10])
    argv = [str(kernel) if a == "KERNEL" else str(trunc) if a == "TRUNC" else a for a in argv]
    p = bt(*argv)
    assert p.returncode == 2, p.stderr
    assert msg in p.stderr
    assert "Traceback" not in p.stderr


def test_debug_shows_traceback():
    p = bt("--debug", "run", "/no/such/kernel")
    assert p.returncode != 0 and "Traceback" in p.stderr


def test_help_documents_every_option():
    p = bt("run", "--help")
    for opt in ("--memory", "--strategy", "--append", "--module", "--serial", "--max-insns",
                "--stats", "--quiet", "--flat"):
        assert opt in p.stdout
