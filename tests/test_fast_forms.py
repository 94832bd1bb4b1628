"""The specialised handlers for narrow loads and stores (MOV m8/m16, MOVZX/MOVSX
from memory and registers) and the dead-flag shift forms, against Unicorn.
Memory operands point into the oracle's data area through registers the test
sets, so that every form really reaches memory."""
import random

import pytest

from oracle import DATA, asm, random_state, run_bt, run_unicorn

# EBX and ESI point into the data area; the other registers stay random
BODY = """
    mov byte ptr [ebx + 3], al
    mov byte ptr [ebx + 5], ah
    mov byte ptr [esi + ebx*1 - 0x10], ch
    mov byte ptr [ebx + 0x40], 0x9c
    mov word ptr [ebx + 7], dx
    mov word ptr [esi + 0x21], 0x8001
    movzx ecx, byte ptr [ebx + 5]
    movsx edx, byte ptr [esi + 0x30]
    movzx edi, word ptr [ebx + 0x21]
    movsx eax, word ptr [esi + 0x44]
    movzx ebp, ah
    movsx ecx, dh
    movzx edx, di
    movsx edi, bp
    shl eax, 3
    shr ecx, 7
    sar edx, 31
    add eax, ecx
    shl edi, 1
    sar ebp, 5
    shr eax, 11
    xor edx, edi
    mov byte ptr [ebx + 0x50], dl
    mov word ptr [ebx + 0x52], bp
"""


def state(seed):
    st = random_state(random.Random(seed))
    st.regs["ebx"] = DATA + 0x100 + seed
    st.regs["esi"] = DATA + 0x800 + 3 * seed
    return st


def test_narrow_memory_forms_and_dead_shift_flags(strategy):
    code = asm(BODY, addr=0x1000)
    for seed in range(40):
        st = state(seed)
        want = run_unicorn(code, st)
        got = run_bt(code, st, strategy)
        assert want.diff(got) == [], (strategy, seed)


@pytest.mark.parametrize("op", ["shl", "shr", "sar"])
@pytest.mark.parametrize("count", [1, 5, 31])
def test_shift_flags_live_at_the_end_of_the_block(strategy, op, count):
    # the shift is the block's last flag writer: its flags must be exact
    code = asm(f"mov ecx, eax\n{op} ecx, {count}\nlea edx, [ecx + 1]", addr=0x1000)
    for seed in range(8):
        st = random_state(random.Random(seed))
        want = run_unicorn(code, st)
        got = run_bt(code, st, strategy)
        assert want.diff(got) == [], (strategy, op, count, seed)


# NEG r32, CMP/TEST r8, SETcc r8, IMUL r32, r32 and the NOPs have their own
# handlers; every flag they leave is read by a SETcc and compared
PRODUCERS = ["neg eax", "neg ebp", "cmp bh, dl", "cmp ah, 0x7f", "cmp cl, 0x80",
             "test ch, al", "test dh, 0x81", "imul esi, edi", "imul eax, eax"]
CONDS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]


@pytest.mark.parametrize("producer", PRODUCERS)
def test_flag_producers_with_every_condition(strategy, producer):
    # one block: the producer, then SETcc of each condition into a byte register
    # (rotated through with XCHG-free moves so each result is kept)
    lines = [producer]
    for i, cc in enumerate(CONDS):
        lines.append(f"set{cc} dl")
        lines.append(f"mov byte ptr [ebx + {i}], dl")
    lines.append("lea ecx, [ecx + 1]")
    code = asm("\n".join(lines), addr=0x1000)
    for seed in range(12):
        st = state(seed)
        if seed % 3 == 0:
            st.regs["eax"] = st.regs["ebp"] = 0          # NEG 0: CF clear
        if seed % 4 == 1:
            st.regs["edx"] = (st.regs["edx"] & ~0xFF) | ((st.regs["ebx"] >> 8) & 0xFF)  # bh == dl
        want = run_unicorn(code, st)
        got = run_bt(code, st, strategy)
        assert want.diff(got) == [], (strategy, producer, seed)


@pytest.mark.parametrize("cc", CONDS)
def test_jcc_after_byte_compare_and_neg(strategy, cc):
    # the flags cross a block boundary: Jcc reads the lazy state of CMP r8 / NEG
    code = asm(f"""
        cmp al, bl
        j{cc} a1
        inc edi
    a1: neg ecx
        j{cc} a2
        add edi, 2
    a2: test ah, bh
        j{cc} a3
        add edi, 4
    a3: .byte 0x0f, 0x1f, 0x84, 0x00, 0x78, 0x56, 0x34, 0x12
        nop
        lea esi, [esi + 1]
    """, addr=0x1000)
    # nop dword ptr [eax + eax*1 + 0x12345678], written as bytes: keystone makes
    # it 0F 18 /4, a prefetch hint; the operand is never accessed
    assert b"\x0f\x1f\x84\x00\x78\x56\x34\x12" in code
    for seed in range(16):
        st = state(seed)
        want = run_unicorn(code, st)
        got = run_bt(code, st, strategy)
        assert want.diff(got) == [], (strategy, cc, seed)
