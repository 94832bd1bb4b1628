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


CR3_LOOP = """
    mov ecx, {n}
    mov edx, cr3
again:
    mov cr3, edx
    mov eax, [0x200000]
    mov ebx, [0x201000]
    dec ecx
    jnz again
    hlt
"""


@pytest.mark.parametrize("entries", [16, 256, 4096])
def test_cr3_flush(benchmark, entries):
    """MOV CR3 (a non-global flush) and two loads that walk again afterwards: the
    flush touches only the entries filled since the last one, whatever the size."""
    n = 100_000
    code = asm(CR3_LOOP.format(n=n))
    m = benchmark.pedantic(_run, args=(code, True, entries), rounds=3, iterations=1)
    assert m.stats["tlb_flushes_cr3"] == n and m.stats["tlb_walks"] >= 2 * n
    benchmark.extra_info["ns_per_iteration"] = benchmark.stats.stats.min * 1e9 / n


def test_page_fault_round_trip_host(benchmark):
    """Demand paging done by the HOST (no IDT delivery yet, issue 'System'): each
    load of a new page faults, the run returns (ExitKind.EXCEPTION, #PF, CR2),
    Python writes the PTE and resumes.  ns per fault, all of it: walk, #PF,
    leaving and re-entering the loop, the Python side.  A guest #PF handler
    will replace the Python part."""
    pages = 1000                 # all in the one fresh page table (4 MiB)
    code = asm(f"""
        mov ecx, {pages}
        mov esi, 0x400000
    again:
        mov eax, [esi]
        add esi, 0x1000
        dec ecx
        jnz again
        hlt
    """)

    def run():
        m = Machine(ram_size=RAM, strategy="block")
        m.mem.write(CODE, code)
        m.cpu.eip = CODE
        m.cpu.esp = 0x9000
        identity_paging(m)
        pd = m.cpu.cr3
        # linear 4 MiB.. unmapped: a fresh page table, all not present
        m.mem.write(pd + 4, struct.pack("<I", 0x300000 | 7))
        m.mem.write(0x300000, bytes(4096))
        faults = 0
        while True:
            ex = m.run()
            if ex.kind == ExitKind.HLT:
                return m, faults
            assert ex.kind == ExitKind.EXCEPTION and ex.vector == 14
            lin = m.cpu.cr2
            m.mem.write_u32(0x300000 + ((lin >> 12) & 0x3FF) * 4, (0x100000 + (lin & 0x3FF000)) | 7)
            faults += 1

    m, faults = benchmark.pedantic(run, rounds=3, iterations=1)
    assert faults == pages and m.stats["tlb_page_faults"] == pages
    benchmark.extra_info["ns_per_fault"] = benchmark.stats.stats.min * 1e9 / pages
