"""Dead-flag elimination (translator.pxi, kill_dead_flags): ALU instructions whose
flags a later instruction of the block overwrites skip computing them.  EFLAGS
must still be exact wherever a run can stop: at every instruction budget (a block
cut short runs the generic definitions), under single-step, and at a fault."""
import random

import pytest

from bt import ExitKind, Machine
from oracle import asm, random_state, run_bt, run_unicorn

CODE = 0x1000
# register ALU work whose flags die inside the block, a CF reader, a branch
BODY = """
    add eax, ebx
    sub ecx, eax
    cmp edx, 5
    inc esi
    xor edi, eax
    and eax, 0xff
    or ebx, 3
    test ecx, ecx
    adc ebx, ecx
    dec edx
    sub eax, 7
    cmp ebx, eax
"""


def machine(strategy, src):
    m = Machine(ram_size=1 << 20, strategy=strategy, intercept="all")
    m.mem.write(CODE, asm(src, addr=CODE))
    m.cpu.eip = CODE
    m.cpu.esp = 0x9000
    return m


def snapshot(m):
    return [getattr(m.cpu, r) for r in ("eax", "ebx", "ecx", "edx", "esi", "edi", "eip",
                                        "eflags")]


@pytest.mark.parametrize("strategy", ["block", "chain", "native"])
def test_eflags_exact_at_every_budget(strategy):
    src = BODY + "hlt"
    n = src.count("\n") - 1
    for k in range(1, n + 1):
        ms = {s: machine(s, src) for s in ("interp", strategy)}
        for m in ms.values():
            m.cpu.eax, m.cpu.ebx, m.cpu.ecx, m.cpu.edx = 0x80000001, 0x7FFFFFFF, 3, 9
            m.run(max_insns=k)
        assert snapshot(ms[strategy]) == snapshot(ms["interp"]), k


@pytest.mark.parametrize("strategy", ["block", "chain", "native"])
def test_eflags_exact_under_single_step_and_after_the_block(strategy):
    a, b = machine("interp", BODY + "hlt"), machine(strategy, BODY + "hlt")
    # run the block whole once (translated with dead flags), then step it again
    for m in (a, b):
        m.run()
    assert snapshot(a) == snapshot(b)
    for m in (a, b):
        m.cpu.eip = CODE
    for _ in range(12):
        a.run(max_insns=1)
        b.run(max_insns=1)
        assert snapshot(a) == snapshot(b)


def test_against_unicorn(strategy):
    code = asm(BODY, addr=CODE)
    for seed in range(30):
        st = random_state(random.Random(seed))
        want = run_unicorn(code, st)
        got = run_bt(code, st, strategy)
        assert want.diff(got) == [], seed


def test_fault_after_dead_flags_sees_exact_eflags(strategy):
    # ADD's flags may be skipped only if nothing between it and the next flag
    # writer can stop the run: the load here (outside RAM) does, and the EFLAGS
    # seen there must be ADD's
    src = "add eax, ebx\nmov ecx, [0xFFFFFFF0]\nsub eax, eax\nhlt"
    m = machine(strategy, src)
    m.cpu.eax, m.cpu.ebx = 0xFFFFFFFF, 1                 # ADD gives ZF CF AF PF
    ex = m.run()
    assert ex.kind in (ExitKind.BAD_MEM, ExitKind.EXCEPTION)
    assert m.cpu.eip == CODE + 2
    assert m.cpu.eflags & 0x8D5 == 0x55                  # CF PF AF ZF from ADD, as the SDM
