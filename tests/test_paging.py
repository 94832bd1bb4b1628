"""Paging against Unicorn: CR0.PG=1 with page tables prepared in memory, loads,
stores, faults (vector, CR2, registers, memory, Accessed/Dirty bits written back
into the tables).  Error codes are stated from the SDM (vol. 3 4.7), since
Unicorn does not expose them.  Every test runs under every strategy."""
import random

import pytest

from oracle import (PG_A, PG_D, PG_G, PG_P, PG_PS, PG_RW, PG_US, PCODE, PagedCase, asm,
                    check_paged, check_paged_spec, run_bt_paged, setup_bt_paged, standard_tables)

P, W, U, RSVD = 1, 2, 4, 8          # #PF error code bits
DLIN = 0x400000                     # data at linear 4 MiB ...
DPA = 0x100000                      # ... physical 1 MiB
URW = PG_P | PG_RW | PG_US


def data_case(src, tables=None, regs=None, pages=4, **kw):
    """Code at PCODE; `pages` data pages mapped DLIN -> DPA with random contents."""
    rng = random.Random(src)
    if tables is None:
        tables = standard_tables()
        for i in range(pages):
            tables.map4k(DLIN + i * 0x1000, DPA + i * 0x1000)
    mem = [(DPA, rng.randbytes(pages * 0x1000 + 0x1000))]
    return PagedCase(code=asm(src, addr=kw.get("at", PCODE)), tables=tables, regs=regs or {},
                     mem=mem, compare=[(DPA, pages * 0x1000 + 0x1000)], **kw)


# ---------------------------------------------------------------- loads and stores

def test_loads_and_stores_4k(strategy):
    case = data_case(f"""
        mov eax, [{DLIN + 0x10:#x}]
        mov ebx, [{DLIN + 0x1ffc:#x}]
        mov word ptr [{DLIN + 0x2000:#x}], 0x1234
        add [{DLIN + 0x3ff0:#x}], eax
        movzx ecx, byte ptr [{DLIN + 0x3001:#x}]
        mov esi, {DLIN + 0x100:#x}
        mov edi, {DLIN + 0x2100:#x}
        mov ecx, 64
        cld
        .byte 0xf3, 0xa5
        push dword ptr [{DLIN + 0x20:#x}]
        pop edx
    """)
    want, got, m = check_paged(case, strategy)
    assert want.vector is None
    st = m.stats
    assert st["tlb_walks"] > 0 and st["tlb_hits"]["read"] + st["tlb_slow"]["read"] > 0


def test_accessed_dirty_bits(strategy):
    # page 0 read only, page 1 written, page 2 untouched, page 3 read then written
    case = data_case(f"""
        mov eax, [{DLIN + 4:#x}]
        mov [{DLIN + 0x1008:#x}], eax
        mov ebx, [{DLIN + 0x3000:#x}]
        mov [{DLIN + 0x3004:#x}], ebx
    """)
    want, got, m = check_paged(case, strategy)
    t = case.tables
    pte = [m.mem.read_u32(t.pte_addr(DLIN + i * 0x1000)) for i in range(4)]
    # the SDM's rule, independently of Unicorn: A on use, D on write
    assert [(p & PG_A != 0, p & PG_D != 0) for p in pte] == \
        [(True, False), (True, True), (False, False), (True, True)]
    assert m.mem.read_u32(t.pde_addr(DLIN)) & PG_A


def test_4m_pages(strategy):
    t = standard_tables()
    t.map4m(0x800000, 0x400000)                     # linear 8 MiB -> physical 4 MiB
    case = data_case(f"""
        mov eax, [0x800010]
        mov dword ptr [0x8ff000], 0xdeadbeef
        mov ebx, [0x8ff000]
        mov ecx, [0x9ffffc]
    """, tables=t, cr4=0x10)
    case.compare.append((0x400000, 0x200000))
    case.mem.append((0x400000, random.Random(4).randbytes(0x200000)))
    want, got, m = check_paged(case, strategy)
    assert want.vector is None and got.regs["ebx"] == 0xdeadbeef
    pde = m.mem.read_u32(t.pde_addr(0x800000))
    assert pde & PG_A and pde & PG_D


def test_4m_pde_ignored_without_pse(strategy):
    # CR4.PSE=0: PS is ignored and the PDE names a page table
    t = standard_tables()
    t.map4k(DLIN, DPA)
    t.pdes[DLIN >> 22] |= PG_PS
    case = data_case(f"mov eax, [{DLIN + 8:#x}]", tables=t)
    check_paged(case, strategy)


def test_4m_reserved_bit21(strategy):
    t = standard_tables()
    t.map4m(0x800000, 0x400000 | (1 << 21))
    case = data_case("mov eax, [0x800010]", tables=t, cr4=0x10, regs={"eax": 7})
    want, got, m = check_paged(case, strategy, error_code=P | RSVD)
    assert want.vector == 14 and want.cr2 == 0x800010


@pytest.mark.parametrize("bit", [13, 17, 20])
def test_4m_reserved_bits_without_pse36(strategy, bit):
    # SDM vol. 3 table 4-4: without PSE-36 (bt does not advertise it) bits 21:13 of
    # a 4 MiB PDE are reserved.  Unicorn implements PSE-36 (address bits 32+ there).
    t = standard_tables()
    t.map4m(0x800000, 0x400000 | (1 << bit))
    case = data_case("mov eax, [0x800010]", tables=t, cr4=0x10, regs={"eax": 7})
    got, m = check_paged_spec(case, strategy, 14, error_code=P | RSVD, cr2=0x800010,
                              eip=PCODE, regs={"eax": 7})
    assert not m.mem.read_u32(t.pde_addr(0x800000)) & PG_A


# ---------------------------------------------------------------- faults

def test_not_present_read(strategy):
    case = data_case(f"""
        mov eax, 1
        mov ebx, [{DLIN + 0x4010:#x}]
        mov eax, 2
    """)
    want, got, m = check_paged(case, strategy, error_code=0)
    assert want.vector == 14 and want.cr2 == DLIN + 0x4010 and got.regs["eax"] == 1


def test_not_present_write(strategy):
    case = data_case(f"mov dword ptr [{DLIN + 0x4ffc:#x}], 5")
    want, got, m = check_paged(case, strategy, error_code=W)
    assert want.vector == 14 and want.cr2 == DLIN + 0x4ffc


def test_not_present_pde(strategy):
    case = data_case("mov eax, [0xC0001234]")
    want, got, m = check_paged(case, strategy, error_code=0)
    assert want.cr2 == 0xC0001234


@pytest.mark.parametrize("size,reg", [(4, "eax"), (2, "ax")])
def test_page_crossing_load_faults_on_second_page(strategy, size, reg):
    case = data_case(f"""
        mov eax, [{DLIN + 0x3ffe:#x}]
        mov ebx, [{DLIN + 0x3fff:#x}]
        mov {reg}, [{DLIN + 0x3fff:#x} + {size - 1}]
        mov ecx, 3
    """, regs={"ecx": 1})
    want, got, m = check_paged(case, strategy, error_code=0)
    assert want.vector == 14 and want.cr2 == DLIN + 0x4000


def test_page_crossing_store_no_partial_write(strategy):
    # the last page is read only to a CPL 3 store: the first page must not change
    t = standard_tables()
    for i in range(3):
        t.map4k(DLIN + i * 0x1000, DPA + i * 0x1000)
    t.map4k(DLIN + 0x3000, DPA + 0x3000, PG_P | PG_US)
    case = data_case(f"""
        mov dword ptr [{DLIN + 0x1ffe:#x}], 0x11223344
        mov dword ptr [{DLIN + 0x2ffd:#x}], 0x55667788
    """, tables=t, ring3=True)
    before = case.mem[0][1]
    want, got, m = check_paged(case, strategy, error_code=P | W | U)
    assert want.vector == 14 and want.cr2 == DLIN + 0x3000
    after = m.mem.read(DPA, 0x4000)
    assert after[0x2ffd:0x3000] == before[0x2ffd:0x3000]          # no byte written
    assert after[0x1ffe:0x2002] == bytes.fromhex("44332211")


def test_page_crossing_store_second_page_absent(strategy):
    case = data_case(f"""
        mov word ptr [{DLIN + 0x3fff:#x}], 0xabcd
    """)
    want, got, m = check_paged(case, strategy, error_code=W)
    assert want.cr2 == DLIN + 0x4000
    assert m.mem.read(DPA + 0x3fff, 1) == case.mem[0][1][0x3fff:0x4000]


# ---------------------------------------------------------------- privilege

def user_tables():
    t = standard_tables()
    t.map4k(DLIN, DPA, PG_P | PG_RW)                  # supervisor
    t.map4k(DLIN + 0x1000, DPA + 0x1000, PG_P | PG_US)   # user, read only
    t.map4k(DLIN + 0x2000, DPA + 0x2000, URW)         # user, writable
    t.map4k(DLIN + 0x3000, DPA + 0x3000, URW, pde_flags=None)
    return t


def test_user_reads_and_writes_allowed(strategy):
    case = data_case(f"""
        mov eax, [{DLIN + 0x1004:#x}]
        mov [{DLIN + 0x2008:#x}], eax
        mov ebx, [{DLIN + 0x2008:#x}]
    """, tables=user_tables(), ring3=True)
    want, got, m = check_paged(case, strategy)
    assert want.vector is None and m.cpu.cpl == 3


def test_user_reads_supervisor_page(strategy):
    case = data_case(f"mov eax, [{DLIN + 0x10:#x}]", tables=user_tables(), ring3=True)
    want, got, m = check_paged(case, strategy, error_code=P | U)
    assert want.vector == 14 and want.cr2 == DLIN + 0x10


def test_user_writes_read_only_page(strategy):
    case = data_case(f"mov dword ptr [{DLIN + 0x1010:#x}], 1", tables=user_tables(), ring3=True)
    want, got, m = check_paged(case, strategy, error_code=P | W | U)
    assert want.vector == 14


def test_user_not_present(strategy):
    case = data_case(f"mov eax, [{DLIN + 0x5010:#x}]", tables=user_tables(), ring3=True)
    want, got, m = check_paged(case, strategy, error_code=U)
    assert want.vector == 14


def test_user_supervisor_pde(strategy):
    # U/S combines across levels: a supervisor PDE makes its user PTEs supervisor
    t = standard_tables()
    t.map4k(DLIN, DPA, URW, pde_flags=PG_P | PG_RW)
    case = data_case(f"mov eax, [{DLIN + 0x10:#x}]", tables=t, ring3=True)
    want, got, m = check_paged(case, strategy, error_code=P | U)
    assert want.vector == 14


def test_user_fetch_from_supervisor_page(strategy):
    t = standard_tables()
    t.map4k(0x3000, 0x3000, PG_P | PG_RW)
    code = asm("mov eax, 1\njmp 0x3000", addr=PCODE)    # to a supervisor page
    case = PagedCase(code=code, tables=t, ring3=True, mem=[(0x3000, b"\x90" * 16)])
    want, got, m = check_paged(case, strategy, error_code=P | U)
    assert want.vector == 14 and want.cr2 == 0x3000 and want.eip == 0x3000


@pytest.mark.parametrize("wp", [False, True])
def test_supervisor_write_read_only_page(strategy, wp):
    t = standard_tables()
    t.map4k(DLIN, DPA, PG_P | PG_US)          # read only user page
    t.map4k(DLIN + 0x1000, DPA + 0x1000, PG_P)   # read only supervisor page
    case = data_case(f"""
        mov dword ptr [{DLIN + 0x10:#x}], 0x12345678
        mov dword ptr [{DLIN + 0x1010:#x}], 0x9abcdef0
    """, tables=t, cr0_wp=wp)
    want, got, m = check_paged(case, strategy, error_code=P | W)
    assert (want.vector == 14) == wp


# ---------------------------------------------------------------- instructions and pages

def test_instruction_spanning_two_pages(strategy):
    # mov eax, imm32 (5 bytes) with 3 bytes on the next page, which is present
    t = standard_tables()
    code = b"\x90" * 0xFFD + asm("mov eax, 0x11223344\nmov ebx, eax", addr=PCODE + 0xFFD)
    case = PagedCase(code=code, tables=t)
    want, got, m = check_paged(case, strategy)
    assert want.regs["ebx"] == 0x11223344


def test_instruction_spanning_into_missing_page(strategy):
    t = standard_tables()
    t.set_pte(0x2000, 0)                        # the page after the code's first page
    code = b"\x90" * 0xFFD + asm("mov eax, 0x11223344", addr=PCODE + 0xFFD)
    case = PagedCase(code=code, tables=t, regs={"eax": 5})
    check_paged_spec(case, strategy, 14, error_code=0, cr2=0x2000, eip=PCODE + 0xFFD,
                     regs={"eax": 5})


def test_instruction_at_page_end_next_missing(strategy):
    # an instruction that ends exactly at the page end must not touch the next page
    t = standard_tables()
    t.set_pte(0x2000, 0)
    code = b"\x90" * 0xFFB + asm("mov eax, 0x11223344", addr=PCODE + 0xFFB) + b"\x90"
    case = PagedCase(code=code, tables=t)
    check_paged_spec(case, strategy, 14, error_code=0, cr2=0x2000, eip=0x2000,
                     regs={"eax": 0x11223344})


def test_user_instruction_spanning_into_supervisor_page(strategy):
    t = standard_tables()
    t.map4k(0x2000, 0x2000, PG_P | PG_RW)
    code = b"\x90" * 0xFFE + asm("mov eax, 0x11223344", addr=PCODE + 0xFFE)
    case = PagedCase(code=code, tables=t, ring3=True, regs={"eax": 3})
    check_paged_spec(case, strategy, 14, error_code=P | U, cr2=0x2000, eip=PCODE + 0xFFE,
                     regs={"eax": 3})


@pytest.mark.parametrize("df", [0, 1])
def test_rep_movs_faults_midway(strategy, df):
    # the destination runs into a read-only page (WP=1): ECX/ESI/EDI as left by hardware
    t = standard_tables()
    for i in range(3):
        t.map4k(DLIN + i * 0x1000, DPA + i * 0x1000)
    t.map4k(DLIN + 0x3000, DPA + 0x3000, PG_P)
    if df:
        src = f"std\nmov esi, {DLIN + 0x1800:#x}\nmov edi, {DLIN + 0x3040:#x}\n"
        t.map4k(DLIN + 0x2000, DPA + 0x2000, PG_P)
        t.map4k(DLIN + 0x3000, DPA + 0x3000)
    else:
        src = f"cld\nmov esi, {DLIN + 0x100:#x}\nmov edi, {DLIN + 0x2f00:#x}\n"
    case = data_case(src + """
        mov ecx, 0x100
        .byte 0xf3, 0xa5
        mov eax, 1
    """, tables=t, cr0_wp=True)
    want, got, m = check_paged(case, strategy, error_code=P | W)
    assert want.vector == 14 and 0 < want.regs["ecx"] < 0x100


def test_rep_stosb_into_missing_page(strategy):
    case = data_case(f"""
        cld
        mov edi, {DLIN + 0x3ff0:#x}
        mov ecx, 0x40
        mov al, 0x5a
        rep stosb
    """)
    want, got, m = check_paged(case, strategy, error_code=W)
    assert want.regs["ecx"] == 0x30 and want.cr2 == DLIN + 0x4000


# ---------------------------------------------------------------- TLB maintenance

def test_invlpg_makes_new_mapping_visible(strategy):
    t = standard_tables()
    t.map4k(DLIN, DPA)
    t.map4k(DLIN + 0x1000, DPA + 0x1000)
    pte = t.pte_addr(DLIN)
    case = data_case(f"""
        mov eax, [{DLIN + 0x10:#x}]
        mov dword ptr [{pte:#x}], {(DPA + 0x1000) | URW:#x}
        invlpg [{DLIN:#x}]
        mov ebx, [{DLIN + 0x10:#x}]
        mov dword ptr [{pte:#x}], 0
        invlpg [{DLIN + 0x123:#x}]
        mov ecx, [{DLIN + 0x10:#x}]
    """, tables=t, regs={"ecx": 9})
    t.identity(t.pd, t.next_pt + 0x1000)   # the tables themselves, for the guest's stores
    want, got, m = check_paged(case, strategy, error_code=0)
    assert want.vector == 14 and want.regs["eax"] != want.regs["ebx"] and want.regs["ecx"] == 9
    assert m.stats["tlb_invlpg"] == 2


def test_cr3_reload_makes_new_mapping_visible(strategy):
    t = standard_tables()
    t.map4k(DLIN, DPA)
    t.identity(t.pd, t.pd + 0x10000)
    pte = t.pte_addr(DLIN)
    case = data_case(f"""
        mov eax, [{DLIN + 0x10:#x}]
        mov dword ptr [{pte:#x}], {(DPA + 0x2000) | URW:#x}
        mov edx, cr3
        mov cr3, edx
        mov ebx, [{DLIN + 0x10:#x}]
    """, tables=t)
    want, got, m = check_paged(case, strategy)
    assert want.regs["eax"] != want.regs["ebx"]
    assert m.stats["tlb_flushes_cr3"] == 1


def test_cr3_switch_to_other_directory(strategy):
    t = standard_tables()
    t.map4k(DLIN, DPA)
    t.identity(t.pd, t.pd + 0x10000)
    t2_writes = standard_tables().__class__(pd=0x90000)
    t2 = t2_writes
    t2.identity(0x1000, 0x30000)
    t2.identity(0x7F000, 0x81000, PG_P | PG_RW)
    t2.map4k(DLIN, DPA + 0x3000)
    case = data_case(f"""
        mov eax, [{DLIN + 0x10:#x}]
        mov edx, 0x90000
        mov cr3, edx
        mov ebx, [{DLIN + 0x10:#x}]
    """, tables=t)
    case.mem += t2.writes()
    want, got, m = check_paged(case, strategy)
    assert want.regs["eax"] != want.regs["ebx"]


def test_global_page_cleared_by_pge_toggle(strategy):
    # guaranteed: clearing CR4.PGE flushes global entries too
    t = standard_tables()
    t.map4k(DLIN, DPA, URW | PG_G)
    t.identity(t.pd, t.pd + 0x10000)
    pte = t.pte_addr(DLIN)
    case = data_case(f"""
        mov eax, [{DLIN + 0x10:#x}]
        mov dword ptr [{pte:#x}], {(DPA + 0x2000) | URW | PG_G:#x}
        mov edx, cr4
        and edx, ~0x80
        mov cr4, edx
        or edx, 0x80
        mov cr4, edx
        mov ebx, [{DLIN + 0x10:#x}]
    """, tables=t, cr4=0x80)
    want, got, m = check_paged(case, strategy)
    assert want.regs["eax"] != want.regs["ebx"]


def test_global_page_used_across_cr3_switch(strategy):
    # a kernel page mapped global and identically in both directories keeps working
    t = standard_tables()
    t.map4k(DLIN, DPA, URW | PG_G)
    t2 = t.__class__(pd=0x90000)
    t2.identity(0x1000, 0x30000)
    t2.identity(0x7F000, 0x81000, PG_P | PG_RW)
    t2.map4k(DLIN, DPA, URW | PG_G)
    case = data_case(f"""
        mov eax, [{DLIN + 0x10:#x}]
        mov edx, 0x90000
        mov cr3, edx
        mov ebx, [{DLIN + 0x10:#x}]
        mov dword ptr [{DLIN + 0x14:#x}], 7
    """, tables=t, cr4=0x80)
    case.mem += t2.writes()
    case.compare.append((0x90000, 0x2000))
    want, got, m = check_paged(case, strategy)
    assert want.regs["eax"] == want.regs["ebx"]


# ---------------------------------------------------------------- code through two mappings

def test_smc_through_alias(strategy):
    # code page 0x5000 mapped at 0x5000 (executed) and at DLIN (written): a store
    # through the alias changes what the next execution of the code does
    t = standard_tables()
    t.map4k(0x5000, 0x5000)
    t.map4k(DLIN, 0x5000)
    body = asm("""
        mov ecx, 3
    again:
        call 0x5000
        add ebx, eax
        mov byte ptr [0x400001], 0x07
        dec ecx
        jnz again
    """, addr=PCODE)
    target = asm("mov eax, 5\nret", addr=0x5000)
    case = PagedCase(code=body, tables=t, mem=[(0x5000, target)], compare=[(0x5000, 0x1000)])
    want, got, m = check_paged(case, strategy)
    assert want.regs["ebx"] == 5 + 7 + 7


def test_smc_alias_write_tag_filled_before_code(strategy):
    # the alias is written (a fast write entry exists) BEFORE the page holds code,
    # then the code is translated, then written again through the same entry
    t = standard_tables()
    t.map4k(0x5000, 0x5000)
    t.map4k(DLIN, 0x5000)
    body = asm("""
        mov byte ptr [0x400001], 0x05
        call 0x5000
        mov ebx, eax
        mov byte ptr [0x400001], 0x09
        call 0x5000
        add ebx, eax
    """, addr=PCODE)
    target = asm("mov eax, 1\nret", addr=0x5000)
    case = PagedCase(code=body, tables=t, mem=[(0x5000, target)], compare=[(0x5000, 0x1000)])
    want, got, m = check_paged(case, strategy)
    assert want.regs["ebx"] == 5 + 9


def test_two_mappings_share_translations():
    # the same physical code run at two linear addresses is translated once
    t = standard_tables()
    t.map4k(0x5000, 0x6000)
    t.map4k(0x9000, 0x6000)
    body = asm("call 0x5000\nmov ebx, eax\ncall 0x9000\nadd ebx, eax", addr=PCODE)
    target = asm("mov eax, 21\nret", addr=0x5000)
    case = PagedCase(code=body, tables=t, mem=[(0x6000, target)])
    want, got, m = check_paged(case, "block")
    assert got.regs["ebx"] == 42
    m2 = setup_bt_paged(case, "block")
    m2.run()
    # three blocks: the caller's two pieces and the callee at its one physical address
    assert m2.stats["blocks_translated"] == 4 and m2.stats["cache_hits"] >= 1


def test_mode_flip_paging_off_and_on(strategy):
    # identity-mapped code turns paging off and on again
    t = standard_tables()
    t.map4k(DLIN, DPA)
    case = data_case(f"""
        mov eax, [{DLIN + 0x10:#x}]
        mov edx, cr0
        and edx, 0x7fffffff
        mov cr0, edx
        mov ebx, [{DPA + 0x10:#x}]
        or edx, 0x80000000
        mov cr0, edx
        mov ecx, [{DLIN + 0x10:#x}]
    """, tables=t)
    want, got, m = check_paged(case, strategy)
    assert want.regs["eax"] == want.regs["ebx"] == want.regs["ecx"]


# ---------------------------------------------------------------- random loads/stores

@pytest.mark.parametrize("seed", range(6))
def test_random_accesses(strategy, seed):
    """Random loads and stores of every size at random offsets (crossing pages
    included) over pages with random U/S, R/W and presence, at CPL 0 or 3."""
    rng = random.Random(seed)
    ring3 = seed % 2 == 1
    t = standard_tables()
    for i in range(8):
        f = rng.choice([URW, URW, PG_P | PG_US, PG_P | PG_RW, PG_P, 0])
        t.map4k(DLIN + i * 0x1000, DPA + rng.randrange(8) * 0x1000, f)
    lines = []
    for _ in range(12):
        size = rng.choice([1, 2, 4])
        off = rng.choice([rng.randrange(0x8000), rng.randrange(8) * 0x1000 - rng.randrange(1, 4)])
        off = max(off, 0)
        reg = {1: "al", 2: "bx", 4: "ecx"}[size]
        ptr = {1: "byte", 2: "word", 4: "dword"}[size]
        if rng.random() < 0.5:
            lines.append(f"mov {reg}, {ptr} ptr [{DLIN + off:#x}]")
        else:
            lines.append(f"mov {ptr} ptr [{DLIN + off:#x}], {rng.getrandbits(8 * size):#x}")
        lines.append("inc edx")
    case = data_case("\n".join(lines), tables=t, pages=8, ring3=ring3, cr0_wp=seed % 3 == 0)
    check_paged(case, strategy)


def test_remapped_code_page_runs_new_code(strategy):
    # the same linear code address, remapped with INVLPG to another physical page:
    # the next call runs the other page's code (blocks are physical, the jump
    # cache on linear EIP is dropped)
    t = standard_tables()
    t.map4k(0x5000, 0x5000)
    t.identity(t.pd, t.pd + 0x10000)
    pte = t.pte_addr(0x5000)
    body = asm(f"""
        call 0x5000
        mov ebx, eax
        mov dword ptr [{pte:#x}], {0x6000 | URW:#x}
        invlpg [0x5000]
        call 0x5000
        add ebx, eax
        mov dword ptr [{pte:#x}], {0x5000 | URW:#x}
        mov edx, cr3
        mov cr3, edx
        call 0x5000
        add ebx, eax
    """, addr=PCODE)
    case = PagedCase(code=body, tables=t, mem=[(0x5000, asm("mov eax, 1\nret", addr=0x5000)),
                                               (0x6000, asm("mov eax, 20\nret", addr=0x5000))])
    want, got, m = check_paged(case, strategy)
    assert want.regs["ebx"] == 22


def test_cr4_pae_is_refused(strategy):
    # bt implements no PAE and CPUID does not report it: CR4.PAE is a reserved bit
    # (SDM vol. 3 2.5: setting one is #GP(0)); CR4 stays as it was
    t = standard_tables()
    case = PagedCase(code=asm("mov eax, 0x30\nmov cr4, eax", addr=PCODE), tables=t, cr4=0x10)
    got, m = check_paged_spec(case, strategy, 13, error_code=0, eip=PCODE + 5)
    assert m.cpu.cr4 == 0x10


def test_setting_cr0_wp_flushes_write_permission(strategy):
    # a supervisor write to a read-only page succeeds with WP=0 (and is cached),
    # then MOV CR0 sets WP: the same write must fault now
    t = standard_tables()
    t.map4k(DLIN, DPA, PG_P | PG_US)
    case = data_case(f"""
        mov dword ptr [{DLIN + 0x10:#x}], 0x12345678
        mov eax, cr0
        or eax, 0x10000
        mov cr0, eax
        mov dword ptr [{DLIN + 0x10:#x}], 0x9abcdef0
    """, tables=t)
    want, got, m = check_paged(case, strategy, error_code=P | W)
    assert want.vector == 14 and want.cr2 == DLIN + 0x10
    assert m.mem.read_u32(DPA + 0x10) == 0x12345678


def test_ring3_segment_load_reads_supervisor_gdt(strategy):
    # the descriptor read is an implicit supervisor access (SDM vol. 3 4.6.1): the
    # GDT's page is supervisor-only, and MOV DS at CPL 3 still works
    case = data_case(f"""
        mov ax, 0x23
        mov ds, ax
        mov eax, [{DLIN + 0x10:#x}]
    """, ring3=True)
    want, got, m = check_paged(case, strategy)
    assert want.vector is None and m.cpu.cpl == 3


def test_self_modifying_code_with_paging(strategy):
    # the code writes the immediate of an instruction ahead of it, in the same page,
    # through the mapping it runs from
    t = standard_tables()
    t.map4k(0x5000, 0x7000)
    src = """
        mov ecx, 3
        xor ebx, ebx
    again:
        mov byte ptr [{imm:#x}], cl
        mov eax, 0x11
        add ebx, eax
        dec ecx
        jnz again
        ret
    """
    probe = asm(src.format(imm=0x5000), addr=0x5000)
    imm = 0x5000 + probe.index(bytes.fromhex("b811000000")) + 1
    code = asm(src.format(imm=imm), addr=0x5000)
    case = PagedCase(code=asm("call 0x5000", addr=PCODE), tables=t, mem=[(0x7000, code)],
                     compare=[(0x7000, 0x1000)])
    want, got, m = check_paged(case, strategy)
    assert want.regs["ebx"] == 3 + 2 + 1
