"""The software TLB as bt implements it: counters, sizes, what must and what
may stay cached, MMIO and port I/O through paging, the Python views
(read_virt / write_virt / virt_to_phys), and the configuration knobs."""
import subprocess
import sys

import pytest

from bt import ExitKind, Machine
from bt.machine import BtError
from oracle import (PG_A, PG_D, PG_G, PG_P, PG_RW, PG_US, PCODE, PagedCase, asm, check_paged,
                    run_bt_paged, setup_bt_paged, standard_tables)

URW = PG_P | PG_RW | PG_US
DLIN, DPA = 0x400000, 0x100000


def loop_case(n=200):
    t = standard_tables()
    for i in range(4):
        t.map4k(DLIN + i * 0x1000, DPA + i * 0x1000)
    code = asm(f"""
        mov ecx, {n}
    again:
        mov eax, [{DLIN:#x} + ecx*4]
        add [{DLIN + 0x2000:#x} + ecx*4], eax
        dec ecx
        jnz again
    """, addr=PCODE)
    return PagedCase(code=code, tables=t, compare=[(DPA, 0x4000)])


def test_counters(strategy):
    case = loop_case()
    m, got = run_bt_paged(case, strategy)
    st = m.stats
    assert got.vector is None
    # 200 loads and 200 read-modify-writes (one translation each, through the write
    # tag, under block and chain; a read and a write under interp), on 2 data pages
    assert st["tlb_hits"]["read"] + st["tlb_misses"]["read"] + st["tlb_slow"]["read"] >= 200
    assert st["tlb_hits"]["write"] >= 190          # the first write per page walks (D bit)
    assert 3 <= st["tlb_walks"] <= 8
    assert st["tlb_misses"]["fetch"] >= 1 and st["tlb_entries"] == 4096
    assert st["tlb_page_faults"] == 0


@pytest.mark.parametrize("entries", [2, 4, 4096])
def test_tiny_and_large_tlbs_agree_with_unicorn(strategy, entries):
    # two entries per table: code, data and stack pages evict each other
    case = loop_case(100)
    want, got, m = check_paged(case, strategy, tlb_entries=entries)
    assert m.stats["tlb_entries"] == entries
    if entries == 2:
        assert m.stats["tlb_walks"] > 100


def test_paging_off_leaves_tlb_alone(strategy):
    m = Machine(ram_size=1 << 20, strategy=strategy, intercept="all")
    m.mem.write(PCODE, asm("mov eax, [0x8000]\nmov [0x8004], eax\nhlt"))
    m.cpu.eip = PCODE
    assert m.run().kind == ExitKind.HLT
    st = m.stats
    assert st["tlb_walks"] == 0 and sum(st["tlb_hits"].values()) == 0


def test_global_entry_survives_cr3_write():
    """White box, not architecture: bt keeps a global entry over a MOV CR3 (the
    SDM allows, not requires, it), and drops it on INVLPG."""
    t = standard_tables()
    t.map4k(DLIN, DPA, URW | PG_G)
    t.map4k(DLIN + 0x1000, DPA + 0x1000, URW)
    t.identity(t.pd, t.pd + 0x10000)
    pte, pte2 = t.pte_addr(DLIN), t.pte_addr(DLIN + 0x1000)
    code = asm(f"""
        mov eax, [{DLIN:#x}]
        mov ebx, [{DLIN + 0x1000:#x}]
        mov dword ptr [{pte:#x}], {(DPA + 0x2000) | URW | PG_G:#x}
        mov dword ptr [{pte2:#x}], {(DPA + 0x2000) | URW:#x}
        mov edx, cr3
        mov cr3, edx
        mov ecx, [{DLIN:#x}]
        mov esi, [{DLIN + 0x1000:#x}]
        invlpg [{DLIN:#x}]
        mov edi, [{DLIN:#x}]
    """, addr=PCODE)
    mem = [(DPA, (0x11111111).to_bytes(4, "little")),
           (DPA + 0x1000, (0x22222222).to_bytes(4, "little")),
           (DPA + 0x2000, (0x33333333).to_bytes(4, "little"))]
    case = PagedCase(code=code, tables=t, mem=mem, cr4=0x80)
    for strategy in ("interp", "block", "chain", "native"):
        m, got = run_bt_paged(case, strategy)
        r = got.regs
        assert (r["eax"], r["ebx"], r["ecx"], r["esi"], r["edi"]) == \
            (0x11111111, 0x22222222, 0x11111111, 0x33333333, 0x33333333), strategy
        assert m.stats["tlb_flushes_cr3"] == 1 and m.stats["tlb_invlpg"] == 1


def test_write_tags_marked_when_page_becomes_code():
    """A fast write entry for a page that later gets translated must be marked
    (the scan is counted), and the store through it must drop the block."""
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
    case = PagedCase(code=body, tables=t, mem=[(0x5000, asm("mov eax, 1\nret", addr=0x5000))])
    m, got = run_bt_paged(case, "block")
    assert got.regs["ebx"] == 14
    st = m.stats
    assert st["tlb_code_scans"] >= 1 and st["cache_invalidations"] >= 1


def test_mmio_through_paging(strategy):
    from bt.devices.base import Device

    class Regs(Device):
        name = "regs"
        mmio = [(0xF000_0000, 0x1000)]

        def __init__(self):
            self.mem = {}

        def mmio_read(self, addr, size):
            return self.mem.get(addr, 0x5A5A5A5A) & ((1 << 8 * size) - 1)

        def mmio_write(self, addr, size, value):
            self.mem[addr] = value

    t = standard_tables()
    t.map4k(DLIN, 0xF000_0000, PG_P | PG_RW)
    case = PagedCase(code=asm(f"""
        mov dword ptr [{DLIN + 0x20:#x}], 0xcafebabe
        mov eax, [{DLIN + 0x20:#x}]
        mov ebx, [{DLIN + 0x40:#x}]
    """, addr=PCODE), tables=t)
    m = setup_bt_paged(case, strategy)
    dev = m.add_device(Regs())
    m, got = run_bt_paged(case, strategy, m=m)
    assert got.vector is None
    assert dev.mem[0xF0000020] == 0xCAFEBABE
    assert got.regs["eax"] == 0xCAFEBABE and got.regs["ebx"] == 0x5A5A5A5A
    assert m.stats["mmio_accesses"] == 3


def test_port_io_and_exception_message_through_paging(strategy):
    # code at a linear address whose physical page differs: Python reads the
    # instruction through the page tables to finish an OUT and to name a fault
    t = standard_tables()
    t.map4k(0x7000_0000, 0x6000)
    out = []
    code = asm("mov al, 0x41\nout 0xe9, al\nmov al, 0x42\nout 0xe9, al\nud2", addr=0x7000_0000)
    case = PagedCase(code=asm("jmp 0x70000000", addr=PCODE), tables=t, mem=[(0x6000, code)])
    m = setup_bt_paged(case, strategy, debugcon=lambda b: out.append(bytes(b)))
    ex = m.run(max_insns=100)
    assert b"".join(out) == b"AB"
    assert ex.kind == ExitKind.EXCEPTION and ex.vector == 6
    assert ex.insn_bytes[:2] == b"\x0f\x0b" and ex.eip == 0x7000_0000 + len(code) - 2


def test_read_write_virt():
    t = standard_tables()
    t.map4k(DLIN, DPA + 0x3000, PG_P)                 # read only: write_virt ignores it
    t.map4k(DLIN + 0x1000, DPA, PG_P | PG_RW)
    case = PagedCase(code=asm("nop", addr=PCODE), tables=t)
    m = setup_bt_paged(case, "block")
    m.mem.write(DPA + 0x3FFE, b"\x01\x02")
    m.mem.write(DPA, b"\x03\x04")
    assert m.mem.read_virt(DLIN + 0xFFE, 4) == b"\x01\x02\x03\x04"
    m.mem.write_virt(DLIN + 0xFFF, b"\xaa\xbb")
    assert m.mem.read(DPA + 0x3FFF, 1) == b"\xaa" and m.mem.read(DPA, 1) == b"\xbb"
    assert m.mem.virt_to_phys(DLIN + 0x1234) == DPA + 0x234
    pte = m.mem.read_u32(t.pte_addr(DLIN))
    assert not pte & (PG_A | PG_D)                    # no side effects
    with pytest.raises(BtError, match="not mapped"):
        m.mem.read_virt(DLIN + 0x1FF0, 0x20)
    with pytest.raises(BtError, match="not mapped"):
        m.mem.write_virt(DLIN + 0x1FFF, b"\x00\x00")
    assert m.mem.read(DPA + 0xFFF, 1) == b"\x00"      # nothing written
    m.cpu.cr0 = 0x11                                  # paging off: linear is physical
    assert m.mem.read_virt(DPA, 2) == m.mem.read(DPA, 2)


def test_tlb_entries_option():
    for bad in (0, 1, 3, 100, 1 << 21, "x"):
        with pytest.raises(BtError, match="tlb_entries"):
            Machine(ram_size=1 << 20, tlb_entries=bad)
    assert Machine(ram_size=1 << 20, tlb_entries=64).stats["tlb_entries"] == 64
    r = subprocess.run([sys.executable, "-m", "bt", "run", "--tlb-entries", "12", "-q"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "power of two" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "bt", "run", "--tlb-entries", "16", "-q",
                        "--print-stats"], capture_output=True, text=True)
    # the hello guest leaves through the exit port with status (0 << 1) | 1
    assert r.returncode == 1 and "hello: done" in r.stdout
    assert "tlb_entries" in r.stderr and " 16" in r.stderr


def test_cpuid_advertises_pse_pge():
    m = Machine(ram_size=1 << 20, intercept="all")
    m.mem.write(PCODE, asm("mov eax, 1\ncpuid\nhlt"))
    m.cpu.eip = PCODE
    m.run()
    assert m.cpu.edx & (1 << 3) and m.cpu.edx & (1 << 13)


@pytest.mark.parametrize("entries", [2, 16, 4096])
def test_cr3_reloads_with_global_pages(strategy, entries):
    """Flushes touch only the entries filled since the last one (a log), or all
    of them when the log overflowed (2 entries): both must drop every non-global
    translation.  A PTE is flipped between two pages before each reload; global
    pages (mapped the same in every case) are read in between."""
    t = standard_tables()
    for i in range(6):
        t.map4k(DLIN + i * 0x1000, DPA + i * 0x1000, URW | (PG_G if i % 2 else 0))
    t.identity(t.pd, t.pd + 0x10000)
    pte = t.pte_addr(DLIN)
    code = asm(f"""
        mov ecx, 20
        xor ebx, ebx
    again:
        mov eax, ecx
        and eax, 1
        shl eax, 13
        add eax, {DPA | URW:#x}
        mov [{pte:#x}], eax
        mov edx, cr3
        mov cr3, edx
        add ebx, [{DLIN:#x}]
        add ebx, [{DLIN + 0x1000:#x}]
        add ebx, [{DLIN + 0x3000:#x}]
        add ebx, [{DLIN + 0x4004:#x}]
        rol ebx, 5
        dec ecx
        jnz again
    """, addr=PCODE)
    rng = __import__("random").Random(entries)
    case = PagedCase(code=code, tables=t, cr4=0x80, mem=[(DPA, rng.randbytes(0x6000))])
    want, got, m = check_paged(case, strategy, tlb_entries=entries)
    assert want.vector is None and m.stats["tlb_flushes_cr3"] == 20


def test_rep_insb_faults_on_a_missing_page_and_restarts(strategy):
    # REP INSB from a device across into a page that is not present: #PF with
    # CR2 = the first byte on the missing page (intercepted here), ECX/EDI at the
    # faulting element and no byte read from the port for it (SDM vol. 2 INS and
    # REP: the registers are updated element by element, the fault is restartable).
    from bt.devices.base import Device

    class Counter(Device):
        name = "counter"
        ports = [(0x300, 1)]

        def __init__(self):
            self.n = 0

        def io_read(self, port, size):
            self.n += 1
            return self.n

    t = standard_tables()
    t.map4k(DLIN, DPA, PG_P | PG_RW)            # DLIN + 0x1000 stays not present
    start = DLIN + 0x1000 - 4
    case = PagedCase(code=asm(f"""
        mov edi, {start:#x}
        mov ecx, 10
        mov dx, 0x300
        rep insb
    """, addr=PCODE), tables=t)
    m = setup_bt_paged(case, strategy)
    dev = m.add_device(Counter())
    m, got = run_bt_paged(case, strategy, m=m)
    assert got.vector == 14
    assert m.cpu.cr2 == DLIN + 0x1000
    assert m.core.exit_info()["error_code"] == 0x2          # not present, write, supervisor
    assert dev.n == 4 and m.cpu.ecx == 6 and m.cpu.edi == DLIN + 0x1000
    assert m.mem.read(DPA + 0xFFC, 4) == bytes([1, 2, 3, 4])
    # map the page and go on: the same instruction finishes the copy
    m.mem.write_u32(t.pte_addr(DLIN + 0x1000), (DPA + 0x1000) | PG_P | PG_RW)
    ex = m.run(max_insns=10)
    assert ex.kind == ExitKind.HLT
    assert dev.n == 10 and m.cpu.ecx == 0
    assert m.mem.read(DPA + 0x1000, 6) == bytes(range(5, 11))
