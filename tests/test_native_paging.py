"""Native code with paging on (bt/native.pxi e_probe: memory operands probe the
software TLB inline).  Oracles: Unicorn with page tables (tests/oracle.py's
paged cases: registers, EIP, EFLAGS, #PF vector and CR2, memory and the
Accessed/Dirty bits written back), the SDM for error codes, the interp strategy
for whole guests; the native counters show that native code really ran."""
import io
import random

import pytest

from bt import ExitKind, Machine, guests
from bt.loaders import load_image
from oracle import (DATA, GDT_PA, PG_A, PG_D, PG_P, PG_RW, PG_US, PSTACK_TOP, STUB_PA, PagedCase,
                    PageTables, asm, check_paged, random_state_full, run_bt_paged, run_unicorn_paged,
                    standard_tables)
from test_native import program

P, W, U = 1, 2, 4
URW = PG_P | PG_RW | PG_US
DPHYS = 0x200000            # the random programs' data (linear 0x10000-0x1ffff, 0x30000-0x3ffff)
DLIN = 0x400000             # the directed tests' data, linear ...
DPA = 0x100000              # ... and physical


def nat(m):
    return m.stats["native"]


# ---------------------------------------------------------------- random blocks

def random_tables(rng, variant):
    """Code identity mapped (0x1000-0xffff, user RW), the stack identity mapped,
    the data pages mapped elsewhere in physical memory (linear != physical), in
    a random order; variant 1 makes one data page read-only, 2 one not present,
    3 one supervisor-only (with ring 3)."""
    t = PageTables()
    t.identity(0x1000, 0x10000, URW)
    t.identity(0x20000, 0x30000, URW)
    t.identity(STUB_PA, GDT_PA + 0x2000, PG_P | PG_RW | PG_A | PG_D)
    lins = list(range(0x10000, 0x20000, 0x1000)) + list(range(0x30000, 0x40000, 0x1000))
    phys = [DPHYS + 0x1000 * i for i in range(len(lins))]
    rng.shuffle(phys)
    odd = rng.choice((0x10000, 0x32000, 0x33000))   # pages the programs touch
    for lin, pa in zip(lins, phys):
        flags = URW
        if lin == odd:
            flags = {0: URW, 1: PG_P | PG_US, 2: 0, 3: PG_P | PG_RW}[variant]
        t.map4k(lin, pa, flags)
    return t, len(lins)


def paged_program_case(rng, seed):
    variant = rng.choice((0, 0, 1, 2, 3))
    tables, npages = random_tables(rng, variant)
    # three passes over the program: the first fills the TLB, the next ones hit
    src = "mov dword ptr [0x2e000], 3\nTOP:\n" + program(rng) + "\ndec dword ptr [0x2e000]\njnz TOP"
    code = asm(src, addr=0x1000)
    assert len(code) < 0xB00
    st = random_state_full(rng)
    regs = dict(st.regs)
    regs["ebx"] = DATA + 0x100 + rng.randrange(0x400)
    regs["esi"] = DATA + 0x2000 + rng.randrange(0x400)
    regs["esp"] = PSTACK_TOP
    mem = [(DPHYS, rng.randbytes(npages * 0x1000)), (0x20000, rng.randbytes(0xE000))]
    return PagedCase(code=code, tables=tables, regs=regs, eflags=st.eflags, mem=mem,
                     compare=[(DPHYS, npages * 0x1000), (0x1B00, 0x500), (0x2E000, 0x2000)],
                     ring3=variant == 3 or rng.random() < 0.3, max_insns=20_000), src


def check_paged_two(case):
    """Unicorn and the interp strategy as oracles.  Unicorn 2.1.4 reports
    EFLAGS from before the last flag writer when an instruction faults (AF, CF
    seen stale; the interp strategy, which has nothing native, shows the same
    differences): after a fault EFLAGS is compared with interp only."""
    want = run_unicorn_paged(case)
    m, got = run_bt_paged(case, "native")
    _, ref = run_bt_paged(case, "interp")
    if want.vector is not None:
        want.eflags = ref.eflags
    d = want.diff(got) + [f"interp: {x}" for x in ref.diff(got)]
    # the inline probe takes the TLB's fast path exactly when the micro-ops would
    # (chain runs the same blocks as micro-ops): the same hits, misses, slow accesses
    mc, _ = run_bt_paged(case, "chain")
    for k in ("tlb_hits", "tlb_misses", "tlb_slow", "tlb_walks", "tlb_page_faults"):
        if m.stats[k] != mc.stats[k]:
            d.append(f"{k}: native {m.stats[k]} != chain {mc.stats[k]}")
    if d:
        raise AssertionError(f"bt (native) differs, code {case.code.hex()}:\n  " + "\n  ".join(d))
    return want, got, m


def test_random_blocks_paged_against_unicorn():
    rng = random.Random(4321)
    tot = {"runs": 0, "insns": 0, "partial": 0, "paged_blocks": 0, "faults": 0, "hits": 0}
    for seed in range(150):
        case, src = paged_program_case(rng, seed)
        try:
            want, got, m = check_paged_two(case)
        except AssertionError as e:
            raise AssertionError(f"seed {seed}: {src}\n{e}") from None
        n = nat(m)
        for k in ("runs", "insns", "partial", "paged_blocks"):
            tot[k] += n[k]
        tot["faults"] += want.vector == 14
        tot["hits"] += m.stats["tlb_hits"]["read"] + m.stats["tlb_hits"]["write"]
    # native code ran under paging, whole blocks and partial ones, and some runs faulted
    assert tot["paged_blocks"] > 300 and tot["insns"] > 5000, tot
    assert tot["partial"] > 100 and tot["runs"] > tot["partial"] and tot["faults"] >= 20, tot
    assert tot["hits"] > 1000, tot


# ---------------------------------------------------------------- directed cases

def data_tables(npages=6, flags=None):
    t = standard_tables()
    t.identity(t.pd, t.pd + 0x10000)           # the tables themselves, for the guest's stores
    for i in range(npages):
        t.map4k(DLIN + i * 0x1000, DPA + i * 0x1000, (flags or {}).get(i, URW))
    return t


def data_case(src, tables, **kw):
    rng = random.Random(src)
    return PagedCase(code=asm(src, addr=0x1000), tables=tables,
                     mem=[(DPA, rng.randbytes(0x8000))], compare=[(DPA, 0x8000)], **kw)


@pytest.mark.parametrize("ring3", [False, True])
@pytest.mark.parametrize("fault,err", [("absent", 0), ("readonly", P | W)])
def test_page_fault_in_the_middle_of_a_native_block(ring3, fault, err):
    # one block walks the data pages, four passes per page; pages 0-2 are fine, page
    # 3 is read-only (the store, the block's 5th instruction, faults) or absent
    # (the load, its 3rd, faults): EIP, CR2, the error code, the registers and
    # memory after the instructions before it, as Unicorn and the SDM say
    flags = {3: PG_P | PG_US} if fault == "readonly" else {3: 0}
    src = f"""
        mov esi, {DLIN + 0x10:#x}
    L:
        inc edx
        add ebp, 3
        mov eax, [esi]
        add edi, eax
        mov [esi + 8], edi
        add esi, 0x400
        jmp L
    """
    case = data_case(src, data_tables(flags=flags), ring3=ring3, cr0_wp=True)
    want, got, m = check_paged(case, "native", error_code=err | (U if ring3 else 0))
    assert want.vector == 14 and want.cr2 == DLIN + 0x3000 + (0x18 if fault == "readonly" else 0x10)
    n = nat(m)
    assert n["paged_blocks"] >= 1 and n["partial"] >= 1 and n["insns"] >= 8 * 7, n
    assert m.stats["tlb_hits"]["read"] >= 1 or m.stats["tlb_misses"]["read"] >= 3


def test_invlpg_between_runs_of_a_native_block():
    # block X loads and stores through DLIN; between its runs another block points
    # DLIN's PTE at the next physical page and INVLPGs it: X must see each mapping
    t = data_tables()
    pte = t.pte_addr(DLIN)
    src = f"""
        mov ecx, 5
    L:
        mov eax, [{DLIN + 0x10:#x}]
        add edi, eax
        mov [{DLIN + 0x20:#x}], edi
        add dword ptr [{DLIN + 0x30:#x}], 7
        dec ecx
        jz done
        add dword ptr [{pte:#x}], 0x1000
        invlpg [{DLIN + 0x44:#x}]
        jmp L
    done:
    """
    case = data_case(src, t)
    want, got, m = check_paged(case, "native")
    assert want.vector is None
    assert m.stats["tlb_invlpg"] == 4
    n = nat(m)
    assert n["paged_blocks"] >= 2 and n["runs"] >= 10, n


def test_cr3_switch_between_runs_of_a_native_block():
    # two directories map DLIN to different physical pages; the loop switches CR3
    # between runs of the same native block (global pages off: a full flush)
    t1 = data_tables()
    t2 = PageTables(pd=0x90000)
    t2.identity(0x1000, 0x30000)
    t2.identity(STUB_PA, GDT_PA + 0x2000, PG_P | PG_RW | PG_A | PG_D)
    t2.identity(t1.pd, t1.pd + 0x10000)
    t2.identity(0x90000, 0x98000)
    for i in range(4):
        t2.map4k(DLIN + i * 0x1000, DPA + 0x4000 + i * 0x1000)
    src = f"""
        mov ecx, 6
    L:
        mov eax, [{DLIN + 0x1010:#x}]
        add edi, eax
        mov [{DLIN + 0x1020:#x}], edi
        dec ecx
        jz done
        mov edx, cr3
        xor edx, {t1.pd ^ 0x90000:#x}
        mov cr3, edx
        jmp L
    done:
    """
    t1.identity(0x90000, 0x98000)
    case = data_case(src, t1)
    case.mem += t2.writes()
    case.compare.append((0x90000, 0x8000))
    want, got, m = check_paged(case, "native")
    assert want.vector is None and m.stats["tlb_flushes_cr3"] == 5
    n = nat(m)
    assert n["paged_blocks"] >= 2 and n["runs"] >= 12, n


@pytest.mark.parametrize("ring3", [False, True])
def test_store_to_a_code_page_under_paging(ring3):
    # the loop's block patches the immediate of its own next instruction through
    # an alias mapping of the code page (a store to translated code: the write
    # tag is slow, the micro-op invalidates), then writes to a plain data page
    t = data_tables()
    t.map4k(0x600000, 0x1000)                # alias of the code page
    src = """
        mov ecx, 4
        mov ebx, 0x600000 + (P - 0x1000) + 1
    L:
        mov byte ptr [ebx], cl
    P:
        mov eax, 0x11
        add edi, eax
        mov [0x400100], edi
        dec ecx
        jnz L
    """
    # the alias' offset is the label's offset in the page: resolve it by hand
    code = asm(src.replace("(P - 0x1000)", "0"), addr=0x1000)
    off = code.index(bytes([0xB8, 0x11, 0, 0, 0]))
    src = src.replace("(P - 0x1000)", str(off))
    case = data_case(src, t, ring3=ring3)
    case.compare.append((0x1000, off))
    want, got, m = check_paged(case, "native")
    assert want.vector is None
    assert m.stats["smc_page_invalidations"] + m.stats["smc_range_invalidations"] >= 4
    assert nat(m)["paged_blocks"] >= 2


def run_guest(name, strategy, max_insns=400_000_000):
    out = io.StringIO()
    m = Machine(ram_size=64 << 20, strategy=strategy, serial=out)
    load_image(m, guests.path(name))
    ex = m.run(max_insns=max_insns)
    return (out.getvalue(), m.stats["insns"], ex.kind, m.cpu.state), m


@pytest.mark.parametrize("name", ["paging", "pagetest"])
def test_paging_guests_compile_native_blocks_with_paging_on(name):
    want, _ = run_guest(name, "interp")
    got, m = run_guest(name, "native")
    assert got == want
    _, mc = run_guest(name, "chain")
    for k in ("tlb_hits", "tlb_misses", "tlb_slow", "tlb_walks", "tlb_page_faults"):
        assert m.stats[k] == mc.stats[k], k
    n = nat(m)
    assert n["paged_blocks"] >= 5 and n["runs"] + n["link_hits"] > 1000 and n["insns"] > 5000, n
    assert m.stats["tlb_hits"]["read"] + m.stats["tlb_hits"]["write"] > 1000


def test_ret_link_after_the_return_target_is_remapped():
    # a native RET goes on through the jump cache (keyed by linear EIP); the page
    # it returns into is remapped (PTE rewritten + INVLPG) to other code every
    # other pass: the link must follow the new mapping, not the block of the old one
    t = data_tables()
    pte = t.pte_addr(0x7000)
    head = "mov ecx, 8\nL:\nmov eax, 5\npush 0x7000\nret\n"
    back = 0x1000 + len(asm(head, addr=0x1000))
    src = head + f"""
    back:
        dec ecx
        jz done
        test ecx, 1
        jnz L
        xor dword ptr [{pte:#x}], {0x7000 ^ 0x9000:#x}
        invlpg [0x7000]
        jmp L
    done:
    """
    case = data_case(src, t)
    case.mem += [(0x7000, asm(f"add ebx, 1\npush {back:#x}\nret", addr=0x7000)),
                 (0x9000, asm(f"add ebx, 100\npush {back:#x}\nret", addr=0x7000))]
    want, got, m = check_paged_two(case)
    assert want.vector is None and want.regs["ebx"] == 2 * 1 + 2 * 100 + 2 * 1 + 2 * 100
    n = nat(m)
    assert n["ret_link_hits"] >= 6 and n["paged_blocks"] >= 4, n
