"""The bundled demo guest and the CLI, checked against values computed here."""
import json
import subprocess
import sys
import zlib

import numpy as np
import pytest

from bt import ExitKind, Machine
from bt import demo_image
from bt.cli import main


def expected_output():
    n = 1_000_000
    sieve = np.ones(n, dtype=bool)
    sieve[:2] = False
    for i in range(2, int(n ** 0.5) + 1):
        if sieve[i]:
            sieve[i * i::i] = False
    x, buf = 1, bytearray()
    for _ in range(0x10000):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        buf.append((x >> 16) & 0xFF)
    fib = [0, 1]
    while len(fib) <= 24:
        fib.append(fib[-1] + fib[-2])
    return (f"primes below 1000000: {int(sieve.sum())}\n"
            f"crc32 of 64 KiB: {zlib.crc32(bytes(buf)):08x}\n"
            f"fib(24): {fib[24]}\n"
            f"rep cmpsd mismatches left: 0\n")


def test_demo_guest_output_block():
    m = Machine(ram_size=8 << 20, strategy="block")
    m.mem.write(demo_image.LOAD_ADDR, demo_image.CODE)
    m.cpu.eip = demo_image.ENTRY
    ex = m.run()
    assert ex.kind == ExitKind.HLT
    assert m.debugcon.output.decode() == expected_output()
    s = m.stats
    assert s["blocks_translated"] < 100 and s["jc_hits"] > 1_000_000


def test_demo_strategies_agree_on_a_prefix():
    # interp is slow (the reference): compare the first 300k instructions exactly
    states = []
    for strategy in ("interp", "block"):
        m = Machine(ram_size=8 << 20, strategy=strategy)
        m.mem.write(demo_image.LOAD_ADDR, demo_image.CODE)
        m.cpu.eip = demo_image.ENTRY
        ex = m.run(max_insns=300_000)
        assert ex.kind == ExitKind.MAX_INSNS
        states.append((m.cpu.state, m.mem.read(0, 8 << 20)))
    assert states[0][0] == states[1][0]
    assert states[0][1] == states[1][1]


def test_cli_demo_prints_output_and_counters(tmp_path, capsys):
    stats = tmp_path / "s.json"
    rc = main(["demo", "--stats", str(stats)])
    out = capsys.readouterr().out
    assert rc == 0
    assert out.startswith(expected_output())
    assert "blocks_translated" in out
    d = json.loads(stats.read_text())
    assert d["insns"] > 10_000_000 and d["callouts"]["hlt"] == 1


def test_cli_demo_budget_exit_code(capsys):
    assert main(["demo", "--max-insns", "1000"]) == 1
    assert "MAX_INSNS" in capsys.readouterr().out


def test_cli_disasm(tmp_path, capsys):
    f = tmp_path / "code.bin"
    f.write_bytes(bytes.fromhex("8d448b0890c3"))
    assert main(["disasm", str(f), "--addr", "0x1000"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0] == "00001000" and "lea eax, [ebx + ecx*4 + 8]" in out[0]
    assert "ret" in out[2]


@pytest.mark.parametrize("argv", [["demo", "--strategy", "nope"], ["disasm", "/no/such/file"],
                                  ["demo", "--max-insns", "lots"], ["frobnicate"]])
def test_cli_bad_input_gives_a_message_not_a_traceback(argv):
    p = subprocess.run([sys.executable, "-m", "bt", *argv], capture_output=True, text=True)
    assert p.returncode == 2
    assert "Traceback" not in p.stderr
    assert "error" in p.stderr
