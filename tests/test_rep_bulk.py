"""REP MOVS/STOS forward with 32-bit addresses run a page at a time in one go
(semantics.pxi rep_bulk) when nothing can fault or touch code: against Unicorn
across several pages, with elements straddling pages, overlapping MOVS (which
must copy element by element), and under paging with absent pages, where the
fault must come at the same element as on the CPU."""
import random

import pytest

from oracle import DATA, DATA_SIZE, asm, random_state, run_bt, run_unicorn

# (name, bytes, element size, edi offset, esi offset, ecx); raw bytes because
# keystone rejects "rep movsd"
CASES = [
    ("stosb", "f3aa", 1, 0x123, 0, 9000),
    ("stosd", "f3ab", 4, 0x0FE, 0, 3000),          # dwords straddle every page boundary
    ("stosw", "f366ab", 2, 0x001, 0, 5000),
    ("movsb", "f3a4", 1, 0x5000, 0x10, 8000),     # (Unicorn counts every iteration: < 10,000)
    ("movsd", "f3a5", 4, 0x7FFE, 0x3, 4000),
    ("movsd-overlap", "f3a5", 4, 0x2004, 0x2000, 1000),   # dst = src + 4: element by element
    ("movsb-overlap", "f3a4", 1, 0x3000, 0x3001, 5000),   # the other way
    ("movsw", "f366a5", 2, 0x9001, 0x1FFF, 3000),
]


@pytest.mark.parametrize("name,hexcode,size,edi,esi,ecx", CASES)
def test_rep_forward_matches_unicorn(strategy, name, hexcode, size, edi, esi, ecx):
    prog = asm("cld", addr=0x1000) + bytes.fromhex(hexcode) + \
        asm(f"mov ebx, [{DATA + 0x40:#x}]", addr=0x1000)
    assert DATA + max(edi, esi) + ecx * size <= DATA + DATA_SIZE
    for seed in range(3):
        st = random_state(random.Random(seed))
        st.eflags &= ~0x400
        st.regs.update(edi=DATA + edi, esi=DATA + esi, ecx=ecx, eax=0x9ABCDEF1 ^ seed)
        want = run_unicorn(prog, st)
        got = run_bt(prog, st, strategy)
        assert want.diff(got) == [], (strategy, name, seed)
