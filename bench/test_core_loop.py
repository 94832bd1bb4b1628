"""First benchmark: a keystone-assembled integer loop under each strategy.

    python -m pytest bench/test_core_loop.py --benchmark-only

Writes bench/results/core_loop.json (MIPS per strategy, one run, same machine),
which the README quotes.  The loop mixes register ALU work, a load, a store,
a rotate, ADC, a compare and a counted branch: 10 instructions per iteration.
The branchy loop is made of blocks of one to three instructions (two
data-dependent branches per iteration): it measures what a block transition
costs, where chaining pays most.
"""
import json
import os
import platform
import time

import keystone
import pytest

from bt import Machine, STRATEGIES, ExitKind

ITERATIONS = 1_000_000          # x 10 instructions = 10^7 guest instructions
LOOP_SRC = f"""
    mov ecx, {ITERATIONS}
    xor eax, eax
    mov ebx, 0x12345
    mov esi, 0x10000
l:  add eax, ecx
    xor ebx, eax
    mov edx, [esi]
    add edx, ebx
    mov [esi+4], edx
    rol ebx, 3
    cmp eax, ebx
    adc edi, 0
    dec ecx
    jnz l
    hlt
"""
BRANCHY_SRC = f"""
    mov ecx, {ITERATIONS}
    xor eax, eax
    xor ebx, ebx
    xor edx, edx
l:  test ecx, 1
    jz even
    add eax, ecx
    jmp next
even:
    sub ebx, ecx
next:
    test ecx, 2
    jnz skip
    xor edx, eax
skip:
    dec ecx
    jnz l
    hlt
"""
RESULTS = os.path.join(os.path.dirname(__file__), "results", "core_loop.json")
_results = {}


def _code(src=LOOP_SRC):
    ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)
    return bytes(ks.asm(src, 0x1000)[0])


@pytest.fixture(scope="module", autouse=True)
def write_results():
    yield
    if not _results:
        return
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    doc = {"benchmark": "core_loop", "guest_insns": None, "machine": {
        "cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version()},
        "date": time.strftime("%Y-%m-%d"), "strategies": _results}
    doc["guest_insns"] = next(iter(_results.values()))["insns"]
    doc["loops"] = {"integer": LOOP_SRC, "branchy": BRANCHY_SRC}
    with open(RESULTS, "w") as f:
        json.dump(doc, f, indent=2)


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


@pytest.mark.parametrize("loop", ["integer", "branchy"])
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_integer_loop(benchmark, strategy, loop):
    code = _code(LOOP_SRC if loop == "integer" else BRANCHY_SRC)
    holder = {}

    def setup():
        m = Machine(ram_size=1 << 20, strategy=strategy)
        m.mem.write(0x1000, code)
        m.cpu.eip = 0x1000
        m.cpu.esp = 0x9000
        holder["m"] = m
        return (m,), {}

    def run(m):
        return m.run()

    rounds = 1 if strategy == "interp" else 5
    ex = benchmark.pedantic(run, setup=setup, rounds=rounds, iterations=1)
    m = holder["m"]
    assert ex.kind == ExitKind.HLT
    insns = m.stats["insns"]
    assert insns == (4 + 10 * ITERATIONS + 1 if loop == "integer" else 4 + 8 * ITERATIONS + 1)
    median = benchmark.stats.stats.median
    mips = insns / median / 1e6
    benchmark.extra_info["mips"] = round(mips, 1)
    _results[strategy if loop == "integer" else f"{strategy}/branchy"] = {"insns": insns, "median_s": round(median, 4), "mips": round(mips, 1),
                          "rounds": rounds}
