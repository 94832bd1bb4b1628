"""pytest-benchmark suites for paging and the software TLB (issue 5).

    python -m pytest bench/test_tlb.py --benchmark-only

Each test reports nanoseconds per guest memory access in ``extra_info``:
``hit``: a loop of loads and stores on two pages (every access a TLB hit), with
paging off as the reference; ``miss``: a load per page over 256 pages with a 16-entry
TLB (every load a miss and a two-level walk; the 4-instruction loop runs at the same
speed with paging off, so the difference is the miss cost).  Assertions check that
the guest did what was measured (counters), never time.
"""
import struct

import keystone
import pytest

from bt import ExitKind, Machine

CODE = 0x1000
RAM = 8 << 20
_ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)


def asm(src, addr=CODE):
    return bytes(_ks.asm(src, addr)[0])


def identity_paging(m, ram=RAM):
    npt = ram >> 22
    pd = ram - (npt + 1) * 4096
    m.mem.write(pd, b"".join(struct.pack("<I", (pd + 4096 * (i + 1)) | 7) for i in range(npt)))
    for i in range(npt):
        m.mem.write(pd + 4096 * (i + 1),
                    b"".join(struct.pack("<I", ((i << 22) | (j << 12)) | 7) for j in range(1024)))
    m.cpu.cr3 = pd
    m.cpu.cr0 = m.cpu.cr0 | 0x80000000


HIT_LOOP = """
    mov ecx, {n}
again:
    mov eax, [0x200000]
    mov [0x201000], eax
    mov ebx, [0x200004]
    mov [0x201004], ebx
    dec ecx
    jnz again
    hlt
"""

MISS_LOOP = """
    mov ecx, {n}
again:
    mov esi, ecx
    and esi, 255
    shl esi, 12
    mov eax, [0x200000 + esi]
    dec ecx
    jnz again
    hlt
"""


def _run(code, paging, entries=256):
    m = Machine(ram_size=RAM, strategy="block", tlb_entries=entries)
    m.mem.write(CODE, code)
    m.cpu.eip = CODE
    m.cpu.esp = 0x9000
    if paging:
        identity_paging(m)
    ex = m.run()
    assert ex.kind == ExitKind.HLT
    return m


@pytest.mark.parametrize("paging", [False, True], ids=["paging-off", "paging-on"])
def test_tlb_hit_path(benchmark, paging):
    n = 500_000
    code = asm(HIT_LOOP.format(n=n))
    m = benchmark.pedantic(_run, args=(code, paging), rounds=5, iterations=1)
    st = m.stats
    if paging:
        assert st["tlb_hits"]["read"] >= 2 * n - 10 and st["tlb_hits"]["write"] >= 2 * n - 10
    benchmark.extra_info["ns_per_access"] = benchmark.stats.stats.min * 1e9 / (4 * n)


@pytest.mark.parametrize("paging", [False, True], ids=["paging-off", "paging-on"])
def test_tlb_miss_path(benchmark, paging):
    n = 200_000
    code = asm(MISS_LOOP.format(n=n))
    m = benchmark.pedantic(_run, args=(code, paging, 16), rounds=5, iterations=1)
    if paging:
        assert m.stats["tlb_walks"] >= n - 300
    benchmark.extra_info["ns_per_load"] = benchmark.stats.stats.min * 1e9 / n
