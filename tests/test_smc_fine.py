"""Self-modifying code on a page that mixes code and data: after a few whole-page
invalidations the page's code bytes are tracked, so stores beside the code stop
dropping translations, while stores into the code still take effect at once."""
import pytest

from bt import ExitKind, Machine
from oracle import asm

CODE = 0x1000


def run(strategy, src):
    m = Machine(ram_size=1 << 20, strategy=strategy)
    m.mem.write(CODE, asm(src, addr=CODE))
    m.cpu.eip = CODE
    m.cpu.esp = 0x9000
    ex = m.run(max_insns=5_000_000)
    return m, ex


# a counter at CODE+0x800, on the code's own page, written on every iteration
DATA_BESIDE_CODE = """
    mov ecx, 20000
l:  add dword ptr [0x1800], 3
    inc dword ptr [0x1804]
    dec ecx
    jnz l
    hlt
"""


def test_data_next_to_code_stops_invalidating(strategy):
    m, ex = run(strategy, DATA_BESIDE_CODE)
    assert ex.kind == ExitKind.HLT
    assert m.mem.read_u32(0x1800) == 60000 and m.mem.read_u32(0x1804) == 20000
    st = m.stats
    if strategy != "interp":
        # a handful of whole-page drops, then the page is tracked byte by byte
        assert st["smc_fine_pages"] == 1
        assert st["smc_page_invalidations"] <= 4
        assert st["cache_invalidations"] < 20
        assert st["smc_fine_misses"] >= 2 * 20000 - 100
        assert st["blocks_translated"] < 30


# the loop rewrites the immediate of its own "add eax, imm32" every iteration,
# after the page is fine-tracked: each new immediate must be the one executed
PATCH_CODE = """
    mov ecx, 200
    xor eax, eax
    xor edx, edx
l:  mov dword ptr [0x1800], ecx
    inc edx
    mov dword ptr [patch + 1], edx
patch:
    add eax, 0x11111111
    dec ecx
    jnz l
    hlt
"""


def test_stores_into_code_on_a_tracked_page_still_take_effect(strategy):
    m, ex = run(strategy, PATCH_CODE)
    assert ex.kind == ExitKind.HLT
    # iteration k (k = 1..200) patches the immediate to k, then adds it
    assert m.cpu.eax == sum(range(1, 201))
    if strategy != "interp":
        assert m.stats["smc_fine_pages"] == 1


@pytest.mark.parametrize("strategy", ["block", "chain", "native"])    # interp caches nothing
def test_python_write_beside_code_keeps_translations(strategy):
    m, _ = run(strategy, DATA_BESIDE_CODE)
    before = m.stats["cache_invalidations"]
    m.mem.write(0x1900, b"\x00" * 16)        # beside the code of a tracked page
    assert m.stats["cache_invalidations"] == before
    m.mem.write(CODE + 5, asm("hlt", addr=CODE + 5))   # onto the loop's code: dropped
    assert m.stats["cache_invalidations"] > before
    m.cpu.eip = CODE + 5
    assert m.run(max_insns=10).kind == ExitKind.HLT and m.cpu.eip == CODE + 6
