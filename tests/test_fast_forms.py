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
