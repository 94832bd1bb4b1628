"""Research hooks (Machine.hook_add): block translated, callout, exception, interrupt."""
import struct

import pytest

from bt import ExitKind, Machine
from bt.machine import BtError
from oracle import asm

CODE = 0x1000


def machine(strategy, src, **kw):
    m = Machine(ram_size=1 << 20, strategy=strategy, **kw)
    m.mem.write(CODE, asm(src, addr=CODE))
    m.cpu.eip = CODE
    m.cpu.esp = 0x9000
    return m


LOOP = """
    mov ecx, 50
l:  add eax, ecx
    dec ecx
    jnz l
    cpuid
    hlt
"""


def test_block_hook_sees_every_translation(strategy):
    m = machine(strategy, LOOP)
    seen = []
    m.hook_add("block", seen.append)
    assert m.run().kind == ExitKind.HLT
    if strategy == "interp":
        assert seen == []          # interp translates nothing it keeps: no blocks
        return
    assert len(seen) == m.stats["blocks_translated"]
    first = seen[0]
    assert first.eip == CODE and first.pa == CODE
    # mov ecx,50 ; add ; dec ; jnz: the block ends at the branch
    assert first.insns == 4
    assert [u[1] for u in first.uops][-1] == "JCC"
    assert first.uops[0] == (CODE, "MOV", 5)


@pytest.mark.parametrize("strategy", ["block", "chain", "native"])   # interp keeps no blocks
def test_block_hook_added_mid_run_sees_code_translated_before(strategy):
    m = machine(strategy, LOOP)
    assert m.run(max_insns=20).kind == ExitKind.MAX_INSNS
    before = m.stats["blocks_translated"]
    assert before >= 2          # the loop body is translated and cached
    seen = []
    m.hook_add("block", seen.append)   # no flush by the user
    assert m.run().kind == ExitKind.HLT
    # the loop body, translated before the hook, is reported again
    assert any(ev.eip == CODE + 5 for ev in seen)


def test_callout_hook_in_order(strategy):
    m = machine(strategy, "cli\nmov eax, 0\ncpuid\nsti\nnop\nhlt")
    seen = []
    m.hook_add("callout", seen.append)
    m.run()
    assert [(e.op, e.eip - CODE) for e in seen] == [("cli", 0), ("cpuid", 6), ("sti", 8),
                                                   ("hlt", 10)]


def test_callout_hook_on_code_translated_before_it(strategy):
    m = machine(strategy, "mov esi, 3\nl: cpuid\ndec esi\njnz l\nhlt")
    m.run(max_insns=3)              # cpuid translated and run once
    seen = []
    m.hook_add("callout", seen.append)
    m.run()
    assert [e.op for e in seen] == ["cpuid", "cpuid", "hlt"]


def test_exception_hook_intercepted(strategy):
    m = machine(strategy, "nop\nud2", intercept="all")
    seen = []
    m.hook_add("exception", seen.append)
    ex = m.run()
    assert ex.kind == ExitKind.EXCEPTION and ex.vector == 6
    assert [(e.vector, e.eip, e.error_code) for e in seen] == [(6, CODE + 1, None)]


def _flat_gdt_idt(m, handlers):
    gdt = bytes(8) + bytes.fromhex("ffff0000009acf00") + bytes.fromhex("ffff00000092cf00")
    m.mem.write(0x7000, gdt)
    m.core.set_dtr(0, 0x7000, len(gdt) - 1)
    idt = bytearray(32 * 8)
    for vec, off in handlers.items():
        idt[vec * 8:vec * 8 + 8] = struct.pack("<HHBBH", off & 0xFFFF, 8, 0, 0x8E, off >> 16)
    m.mem.write(0x7800, bytes(idt))
    m.core.set_dtr(1, 0x7800, len(idt) - 1)


def test_exception_hook_delivered(strategy):
    # #GP from a null-selector SS load is delivered to the guest's handler;
    # the hook sees vector 13, the faulting EIP and error code 0 (SDM vol. 3 6.15)
    m = machine(strategy, "xor eax, eax\nmov ss, ax\nhlt")
    m.mem.write(0x3000, b"\xf4")       # the handler halts
    _flat_gdt_idt(m, {13: 0x3000})
    seen = []
    m.hook_add("exception", seen.append)
    ex = m.run()
    assert ex.kind == ExitKind.HLT and m.cpu.eip == 0x3001
    assert [(e.vector, e.eip, e.error_code) for e in seen] == [(13, CODE + 2, 0)]


def test_hook_that_raises_stops_the_run_before_the_callout(strategy):
    m = machine(strategy, "mov eax, 7\ncpuid\nhlt")

    def boom(ev):
        raise RuntimeError("hook failed")
    m.hook_add("callout", boom)
    with pytest.raises(RuntimeError, match="hook failed"):
        m.run()
    # CPUID did not run: EAX is still 7 and EIP is at CPUID
    assert m.cpu.eax == 7 and m.cpu.eip == CODE + 5


@pytest.mark.parametrize("strategy", ["block", "chain", "native"])   # interp keeps no blocks
def test_block_hook_that_raises(strategy):
    m = machine(strategy, LOOP)

    def boom(ev):
        raise ValueError("bad block")
    m.hook_add("block", boom)
    with pytest.raises(ValueError, match="bad block"):
        m.run()
    assert m.stats["insns"] == 0


def test_hook_del_and_zero_mask():
    m = machine("block", LOOP)
    assert m.core.hook_mask == 0
    h = m.hook_add("callout", lambda ev: None)
    assert m.core.hook_mask != 0
    m.hook_del(h)
    assert m.core.hook_mask == 0
    with pytest.raises(BtError):
        m.hook_del(h)
    with pytest.raises(BtError):
        m.hook_add("nope", print)
