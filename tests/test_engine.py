"""Engine tests: instruction budgets, single-stepping, block building, the block
cache, self-modifying code, exits, state round trips, port I/O and segmentation.
Every test runs under every strategy."""
import random
import struct

import numpy as np
import pytest

from bt import ExitKind, Machine
from oracle import CODE, asm, random_state, run_bt, run_unicorn

RAM = 1 << 20


def machine(strategy, code=b"", at=CODE, mode="prot", ram=RAM):
    m = Machine(ram_size=ram, strategy=strategy, mode=mode, intercept="all")
    if code:
        m.mem.write(at, code)
    m.cpu.eip = at
    m.cpu.esp = 0x9000
    return m


def A(src, bits=32, addr=CODE):
    return asm(src, bits, addr)


def ram_of(m):
    return m.mem.read(0, m.ram.shape[0])


# A program with loops, calls, memory and a REP: about 1500 instructions
PROGRAM = """
    mov esi, 0x20000
    mov ecx, 40
fill:
    mov [esi + ecx*4], ecx
    imul eax, ecx, 7
    xor [esi + ecx*4], eax
    loop fill
    mov ebx, 0
    mov edx, 10
outer:
    call sub1
    dec edx
    jnz outer
    mov esi, 0x20000
    mov edi, 0x21000
    mov ecx, 100
    cld
    rep movsb
    hlt
sub1:
    push ecx
    mov ecx, 30
inner:
    add ebx, [0x20000 + ecx*4]
    rol ebx, 3
    loop inner
    pop ecx
    ret
"""


@pytest.fixture(scope="module")
def program():
    return A(PROGRAM)


def run_to_halt(m, limit=100_000):
    ex = m.run(max_insns=limit)
    assert ex.kind == ExitKind.HLT, ex
    return ex


# ---------------------------------------------------------------- budgets and stepping

def test_max_insns_exact(strategy, program):
    ref = machine("interp", program)
    run_to_halt(ref)
    total = ref.stats["insns"]
    assert total > 1000
    for n in (1, 2, 7, 63, 64, 65, 500):
        m = machine(strategy, program)
        ex = m.run(max_insns=n)
        assert ex.kind == ExitKind.MAX_INSNS
        assert m.stats["insns"] == n
        # a later run continues where this one stopped
        ex = m.run(max_insns=n)
        assert m.stats["insns"] == 2 * n
        run_to_halt(m)
        assert m.stats["insns"] == total
        assert m.cpu.state == ref.cpu.state
        assert ram_of(m) == ram_of(ref)


def test_zero_budget(strategy, program):
    m = machine(strategy, program)
    ex = m.run(max_insns=0)
    assert ex.kind == ExitKind.MAX_INSNS and m.cpu.eip == CODE and m.stats["insns"] == 0


def test_single_step_matches_long_run(strategy, program):
    long = machine(strategy, program)
    run_to_halt(long)
    ref = machine("interp", program)
    run_to_halt(ref)
    step = machine(strategy, program)
    n = 0
    while True:
        before = step.stats["insns"]
        ex = step.run(max_insns=1)
        n += 1
        assert step.stats["insns"] == before + 1
        if ex.kind == ExitKind.HLT:
            break
        assert ex.kind == ExitKind.MAX_INSNS
        assert n < 10_000
    assert n == long.stats["insns"]
    assert step.cpu.state == long.cpu.state == ref.cpu.state
    assert ram_of(step) == ram_of(long) == ram_of(ref)


def test_insn_count_matches_unicorn(strategy):
    code = A("""
        mov ecx, 25
    l1: add eax, ecx
        test al, 1
        jz l2
        inc ebx
    l2: loop l1
        call f
        call f
        jmp l3
    f:  push eax
        pop edx
        ret
    l3: nop
    """)
    st = random_state(random.Random(1))
    want = run_unicorn(code, st)
    got = run_bt(code, st, strategy)
    assert want.vector is None and got.vector is None
    assert got.insns == want.insns > 100
    assert got.regs == want.regs


# ---------------------------------------------------------------- block building

def expect_translation(m, strategy, blocks, insns):
    s = m.stats
    if strategy in ("block", "chain", "native"):
        assert (s["blocks_translated"], s["insns_translated"]) == (blocks, insns)
    else:
        # the interpreter translates one instruction at a time and caches nothing
        assert s["blocks_translated"] == 0
        assert s["insns_translated"] == s["insns"]


def test_block_ends_at_jump(strategy):
    # 5 NOPs + JMP | HLT: two blocks of 6 and 1 instructions
    m = machine(strategy, b"\x90" * 5 + b"\xeb\x00" + b"\xf4")
    run_to_halt(m)
    expect_translation(m, strategy, 2, 7)


def test_block_ends_at_system_instruction(strategy):
    # NOP NOP MOV CR0, EAX (PE stays set) | NOP HLT: a callout that may change
    # the mode ends its block
    m = machine(strategy, b"\xb8\x11\x00\x00\x00\x0f\x22\xc0\x90\xf4")
    run_to_halt(m)
    expect_translation(m, strategy, 2, 4)


def test_inline_callouts_stay_in_the_block(strategy):
    # NOP CPUID CLI RDTSC | STI (ends: interrupts after its shadow) | NOP HLT
    m = machine(strategy, b"\x90\x0f\xa2\xfa\x0f\x31\xfb\x90\xf4")
    run_to_halt(m)
    expect_translation(m, strategy, 2, 7)


def test_block_ends_at_page_end(strategy):
    # 16 NOPs up to the 4 KiB boundary, then 4 more and HLT on the next page
    start = 0x1FF0
    m = machine(strategy, b"\x90" * 20 + b"\xf4", at=start)
    run_to_halt(m)
    expect_translation(m, strategy, 2, 21)
    if strategy != "interp":
        assert m.stats["cache_blocks"] == 2


def test_block_length_cap(strategy):
    m = machine(strategy, b"\x90" * 100 + b"\xf4")
    run_to_halt(m)
    expect_translation(m, strategy, 2, 101)     # 64 + 37


def test_insn_crossing_page(strategy):
    # MOV EAX, imm32 whose immediate spans 0x1FFF/0x2000, run 5 times in a loop
    code = A("mov ecx, 5; l1: mov eax, 0x12345678; add ebx, eax; loop l1; hlt", addr=0)
    mov_at = code.index(bytes.fromhex("b878563412"))
    at = 0x1FFE - mov_at
    m = machine(strategy, A("mov ecx, 5; l1: mov eax, 0x12345678; add ebx, eax; loop l1; hlt", addr=at), at=at)
    run_to_halt(m)
    assert m.cpu.eax == 0x12345678 and m.cpu.ebx == (5 * 0x12345678) & 0xFFFFFFFF
    # and it sees a change of its second page
    m.mem.write(0x2000, b"\x00\x00\x00")
    m.cpu.eip, m.cpu.ebx = at, 0
    run_to_halt(m)
    assert m.cpu.eax == 0x78


# ---------------------------------------------------------------- cache

def test_loop_translated_once(strategy):
    m = machine(strategy, A("mov ecx, 1000; l1: add eax, ecx; loop l1; hlt"))
    run_to_halt(m)
    s = m.stats
    assert s["insns"] == 2002
    if strategy != "interp":
        # [mov add loop] [add loop] [hlt]: the body is translated once more as its own block
        assert s["blocks_translated"] == 3
        assert s["cache_misses"] == 3
        assert s["insns_translated"] == 6
        assert s["jc_hits"] + s["cache_hits"] == 998
    else:
        assert s["cache_misses"] == 0 and s["insns_translated"] == s["insns"]


def test_rerun_hits_cache(strategy):
    m = machine(strategy, A("add eax, 1; hlt"))
    for i in range(5):
        m.cpu.eip = CODE
        run_to_halt(m)
    assert m.cpu.eax == 5
    if strategy != "interp":
        assert m.stats["blocks_translated"] == 1
        assert m.stats["jc_hits"] + m.stats["cache_hits"] == 4


# ---------------------------------------------------------------- self-modifying code

def test_smc_same_block(strategy):
    # the store patches the immediate of the next instruction in the same block
    code = A("mov byte ptr [0x1008], 0x42; mov eax, 0; inc eax; hlt")
    assert code[7] == 0xB8 and len(code) > 12      # mov eax at 0x1007, imm at 0x1008
    m = machine(strategy, code)
    run_to_halt(m)
    assert m.cpu.eax == 0x43
    if strategy != "interp":
        assert m.stats["cache_invalidations"] >= 1


def test_smc_other_block(strategy):
    # B (at 0x1100) runs, then A patches B's immediate, then B runs again
    m = machine(strategy)
    m.mem.write(0x1100, A("mov eax, 1; ret", addr=0x1100))
    m.mem.write(CODE, A("call 0x1100; mov ebx, eax; mov byte ptr [0x1101], 7; call 0x1100; hlt"))
    m.cpu.eip = CODE
    run_to_halt(m)
    assert (m.cpu.ebx, m.cpu.eax) == (1, 7)
    if strategy != "interp":
        assert m.stats["cache_invalidations"] >= 1


def test_smc_loop_rewrites_itself(strategy):
    # each iteration increments the immediate of an ADD inside the loop block
    code = A("mov ecx, 10; l1: add ebx, 1; inc byte ptr [0x1007]; loop l1; hlt")
    assert code[5:8] == bytes.fromhex("83c301")      # add ebx, 1 at 0x1005, imm at 0x1007
    m = machine(strategy, code)
    run_to_halt(m)
    assert m.cpu.ebx == sum(range(1, 11))


def test_mem_write_over_translated_code(strategy):
    m = machine(strategy, A("mov eax, 1; hlt"))
    run_to_halt(m)
    assert m.cpu.eax == 1
    inv = m.stats["cache_invalidations"]
    m.mem.write(CODE, A("mov eax, 2; hlt"))
    m.cpu.eip = CODE
    run_to_halt(m)
    assert m.cpu.eax == 2
    if strategy != "interp":
        assert m.stats["cache_invalidations"] > inv


@pytest.mark.parametrize("op", ["stosb", "movsb"])
def test_rep_string_overwrites_code_ahead(strategy, op):
    # REP STOSB/MOVSB turns the 8 INC EBX after it into NOPs
    head = A(f"mov edi, 0x1040; mov esi, 0x3000; mov ecx, 8; mov al, 0x90; cld; rep {op}")
    code = head + b"\x90" * (0x40 - len(head)) + b"\x43" * 8 + b"\xf4"
    m = machine(strategy, code)
    m.mem.write(0x3000, b"\x90" * 8)
    run_to_halt(m)
    assert m.cpu.ebx == 0 and m.cpu.ecx == 0
    # the same with the target block already translated by a first run
    m.mem.write(0x1040, b"\x43" * 8)
    m.cpu.eip = 0x1040
    run_to_halt(m)
    assert m.cpu.ebx == 8
    m.cpu.eip, m.cpu.ebx = CODE, 0
    m.mem.write(0x1040, b"\x43" * 8)
    run_to_halt(m)
    assert m.cpu.ebx == 0


def test_rep_stos_overwrites_its_own_block(strategy):
    # the REP STOSB rewrites the instruction right after it (same block)
    head = A("mov edi, 0x1000; mov ecx, 1; mov al, 0x90; cld; rep stosb")
    code = A(f"mov edi, {CODE + len(head):#x}; mov ecx, 1; mov al, 0x90; cld; rep stosb; inc ebx; hlt")
    assert code[len(head)] == 0x43
    m = machine(strategy, code)
    run_to_halt(m)
    assert m.cpu.ebx == 0


# ---------------------------------------------------------------- exits

def test_hlt_exit(strategy):
    m = machine(strategy, b"\x90\xf4")
    ex = m.run(10)
    assert ex.kind == ExitKind.HLT and ex.eip == m.cpu.eip == CODE + 2


@pytest.mark.parametrize("bad", ["0f 0b", "0f ff", "8d c0", "ff ff", "f0 90", "0f 05", "c4 c0"])
def test_undefined_opcode(strategy, bad):
    code = b"\x90\x40" + bytes.fromhex(bad) + b"\xf4"
    m = machine(strategy, code)
    ex = m.run(10)
    assert ex.kind == ExitKind.EXCEPTION and ex.vector == 6, ex
    assert ex.eip == m.cpu.eip == CODE + 2 and m.cpu.eax == 1
    assert m.stats["insns"] == 2


def test_divide_error(strategy):
    m = machine(strategy, A("mov eax, 5; xor ecx, ecx; div ecx; hlt"))
    ex = m.run(10)
    assert ex.kind == ExitKind.EXCEPTION and ex.vector == 0
    assert ex.eip == CODE + 7 and m.cpu.eax == 5


@pytest.mark.parametrize("code,vector", [("cc", 3), ("cd 21", 0x21), ("cd 80", 0x80), ("f1", 1)])
def test_software_interrupt_traps(strategy, code, vector):
    m = machine(strategy, b"\x90" + bytes.fromhex(code) + b"\xf4")
    ex = m.run(10)
    assert ex.kind == ExitKind.EXCEPTION and ex.vector == vector
    assert ex.eip == m.cpu.eip == CODE + 1 + len(bytes.fromhex(code))    # a trap: after it
    assert m.stats["insns"] == 2


@pytest.mark.parametrize("src,addr", [
    ("mov eax, [0x200000]", 0x200000),
    ("mov dword ptr [0xFFFFFFF0], 1", 0xFFFFFFF0),
    ("mov eax, [0xFFFFE]", 0xFFFFE),        # a 4-byte read at ram_size - 2
    ("mov ax, [0xFFFFF]", 0xFFFFF),
    ("push eax", 0xFFFFFFFC),               # ESP = 0
])
def test_access_outside_ram(strategy, src, addr):
    m = machine(strategy, A("nop; " + src + "; hlt"))
    if src.startswith("push"):
        m.cpu.esp = 0
    ex = m.run(10)
    assert ex.kind == ExitKind.BAD_MEM and ex.addr == addr, ex
    assert ex.eip == CODE + 1


def test_code_fetch_outside_ram(strategy):
    m = machine(strategy, A("jmp eax"))
    m.cpu.eax = 0x300000
    ex = m.run(10)
    assert ex.kind == ExitKind.BAD_MEM and ex.addr == 0x300000
    assert m.cpu.eip == 0x300000
    # code running into the end of RAM
    m = machine(strategy, b"\x90" * 4, at=RAM - 4)
    ex = m.run(10)
    assert ex.kind == ExitKind.BAD_MEM and ex.addr == RAM
    # an instruction cut by the end of RAM
    m = machine(strategy, b"\x90\xb8\x01", at=RAM - 3)
    ex = m.run(10)
    assert ex.kind == ExitKind.BAD_MEM and m.cpu.eip == RAM - 2


def test_x87_exceptions(strategy):
    code = bytes.fromhex("90 d9 e8 f4")      # fld1
    m = machine(strategy, code)
    assert m.run(10).kind == ExitKind.HLT
    # a reserved x87 encoding: #UD (#NM first when EM/TS ask for it)
    m = machine(strategy, bytes.fromhex("90 d9 d1 f4"))
    ex = m.run(10)
    assert (ex.kind, ex.vector, ex.eip) == (ExitKind.EXCEPTION, 6, CODE + 1)
    for cr0_bits in (4, 8, 12):              # EM, TS: #NM
        m = machine(strategy, code)
        m.cpu.cr0 = m.cpu.cr0 | cr0_bits
        ex = m.run(10)
        assert (ex.kind, ex.vector, ex.eip) == (ExitKind.EXCEPTION, 7, CODE + 1)
    # WAIT: #NM only with TS and MP
    m = machine(strategy, bytes.fromhex("9b f4"))
    assert m.run(10).kind == ExitKind.HLT
    m = machine(strategy, bytes.fromhex("9b f4"))
    m.cpu.cr0 = m.cpu.cr0 | 0xA
    assert m.run(10).vector == 7


# ---------------------------------------------------------------- state

def test_state_round_trip(strategy, program):
    m = machine(strategy, program)
    m.run(max_insns=321)
    m.cpu.cr2 = 0x1234
    m.core.set_dr(0, 0xdead)
    s = m.cpu.state
    m2 = Machine(ram_size=RAM, strategy=strategy, mode="real", intercept="all")
    m2.cpu.state = s
    assert m2.cpu.state == s
    m2.mem.write(0, ram_of(m))
    run_to_halt(m)
    run_to_halt(m2)
    assert m2.cpu.state == m.cpu.state and ram_of(m2) == ram_of(m)


def test_snapshot_restore(strategy, program):
    m = machine(strategy, program)
    m.run(max_insns=500)
    snap = m.snapshot()
    state, ram = m.cpu.state, ram_of(m)
    run_to_halt(m)
    end_state, end_ram = m.cpu.state, ram_of(m)
    m.restore(snap)
    assert m.cpu.state == state and ram_of(m) == ram and m.stats["insns"] == 500
    run_to_halt(m)
    assert m.cpu.state == end_state and ram_of(m) == end_ram


def test_restore_drops_translations(strategy):
    m = machine(strategy, A("mov eax, 1; hlt"))
    snap = m.snapshot()
    m.mem.write(CODE, A("mov eax, 2; hlt"))
    run_to_halt(m)
    assert m.cpu.eax == 2
    m.restore(snap)
    run_to_halt(m)
    assert m.cpu.eax == 1


# ---------------------------------------------------------------- port I/O

class Dev:
    def __init__(self):
        self.log = []
        self.value = 0x5A

    def io_read(self, port, size):
        self.log.append(("r", port, size))
        return self.value + port

    def io_write(self, port, size, value):
        self.log.append(("w", port, size, value))


def test_port_io(strategy):
    code = A("""
        mov dx, 0x2f8
        in al, dx
        mov bl, al
        mov al, 0x41
        out dx, al
        in ax, 0xb0
        mov cx, ax
        mov eax, 0x11223344
        out 0xb1, eax
        in al, 0xb8
        hlt
    """)
    m = machine(strategy, code)
    dev = Dev()
    m.ports.register(dev, 0x2F8, 8)
    m.ports.register(dev, 0xB0, 2)
    run_to_halt(m)
    assert m.cpu.bl == (0x5A + 0x2F8) & 0xFF
    assert m.cpu.cx == 0x5A + 0xB0
    assert m.cpu.al == 0xFF                 # unmapped: all ones
    assert dev.log == [("r", 0x2F8, 1), ("w", 0x2F8, 1, 0x41), ("r", 0xB0, 2), ("w", 0xB1, 4, 0x11223344)]
    assert m.stats["unmapped_port_reads"] == {0xB8: 1}
    assert m.stats["insns"] == 11


def test_port_io_budget(strategy):
    # an OUT counts as one instruction towards max_insns
    m = machine(strategy, A("out 0x84, al; out 0x84, al; out 0x84, al; hlt"))
    m.run(max_insns=2)
    assert m.stats["insns"] == 2 and m.cpu.eip == CODE + 4
    assert m.stats["unmapped_port_writes"] == {0x84: 2}


def test_rep_outs_ins(strategy):
    m = machine(strategy, A("mov esi, 0x3000; mov edi, 0x4000; mov ecx, 3; mov dx, 0x2f8; "
                            "rep outsb; mov ecx, 2; rep insw; hlt"))
    m.mem.write(0x3000, b"abc")
    dev = Dev()
    m.ports.register(dev, 0x2F8)
    run_to_halt(m)
    assert [e[3] for e in dev.log if e[0] == "w"] == list(b"abc")
    assert m.mem.read(0x4000, 4) == struct.pack("<HH", 0x5A + 0x2F8, 0x5A + 0x2F8)
    assert (m.cpu.esi, m.cpu.edi, m.cpu.ecx) == (0x3003, 0x4004, 0)


# ---------------------------------------------------------------- segmentation

def desc(base, limit, access, flags=0x4):
    """8-byte descriptor: byte limit (< 1 MiB, G=0 unless flags say), access byte, flags nibble."""
    lo = (limit & 0xFFFF) | ((base & 0xFFFF) << 16)
    hi = ((base >> 16) & 0xFF) | (access << 8) | (((limit >> 16) & 0xF) << 16) | (flags << 20) | \
        (base & 0xFF000000)
    return struct.pack("<II", lo, hi)


GDT = 0x8000
GDT_BYTES = (b"\0" * 8 + desc(0, 0xFFFFF, 0x9B, 0xC) + desc(0, 0xFFFFF, 0x93, 0xC) +
             desc(0x40000, 0xFFF, 0x93) + desc(0x50000, 0xFF, 0x91))   # 0x20: read-only


def seg_machine(strategy, src):
    m = machine(strategy)
    m.mem.write(GDT, GDT_BYTES)
    m.mem.write(0x7000, struct.pack("<HI", len(GDT_BYTES) - 1, GDT))
    m.mem.write(CODE, A("lgdt [0x7000]; " + src + "; hlt"))
    m.cpu.eip = CODE
    return m


def test_based_data_segment(strategy):
    m = seg_machine(strategy, "mov ax, 0x18; mov ds, ax; mov eax, [0x10]; mov dword ptr [0x20], 0x11223344; "
                              "mov ecx, [0xFFC]")
    m.mem.write(0x40010, struct.pack("<I", 0xCAFEBABE))
    m.mem.write(0x40FFC, struct.pack("<I", 0x600D600D))
    run_to_halt(m)
    assert m.cpu.eax == 0xCAFEBABE and m.cpu.ecx == 0x600D600D
    assert m.mem.read_u32(0x40020) == 0x11223344
    assert m.cpu.get_seg("ds") == {"sel": 0x18, "base": 0x40000, "limit": 0xFFF, "attr": 0x493}


@pytest.mark.parametrize("src", ["mov eax, [0xFFE]", "mov al, [0x1000]", "mov word ptr [0xFFF], 1",
                                 "mov eax, [0xFFFFFFFF]"])
def test_past_segment_limit_gp(strategy, src):
    m = seg_machine(strategy, "mov ax, 0x18; mov ds, ax; " + src)
    ex = m.run(10)
    assert (ex.kind, ex.vector, ex.error_code) == (ExitKind.EXCEPTION, 13, 0), ex
    assert m.cpu.eip == CODE + len(A("lgdt [0x7000]; mov ax, 0x18; mov ds, ax"))


def test_read_only_segment_write_gp(strategy):
    m = seg_machine(strategy, "mov ax, 0x20; mov es, ax; mov al, es:[0x10]; mov byte ptr es:[0x10], 1")
    ex = m.run(10)
    assert (ex.vector, ex.error_code) == (13, 0)


def test_null_selector(strategy):
    m = seg_machine(strategy, "xor eax, eax; mov ds, ax; mov ebx, 1; mov eax, [0x100]")
    ex = m.run(10)
    assert (ex.kind, ex.vector, ex.error_code) == (ExitKind.EXCEPTION, 13, 0)
    assert m.cpu.ebx == 1 and m.cpu.ds == 0
    # loading SS with a null selector faults at the MOV
    m = seg_machine(strategy, "xor eax, eax; mov ss, ax")
    ex = m.run(10)
    assert (ex.vector, ex.error_code) == (13, 0)
    assert m.cpu.ss == 0x10 and m.cpu.eip == CODE + len(A("lgdt [0x7000]; xor eax, eax"))


def test_stack_segment_limit_ss(strategy):
    # a based 32-bit stack (SS.limit 0xFFF): the push that takes ESP below 0 -> #SS(0)
    m = seg_machine(strategy, "mov ax, 0x18; mov ss, ax; mov esp, 8; mov eax, 0x11223344; "
                              "push eax; push eax; push eax")
    ex = m.run(20)
    assert (ex.kind, ex.vector, ex.error_code) == (ExitKind.EXCEPTION, 12, 0), ex
    assert m.cpu.esp == 0
    assert m.mem.read(0x40000, 8) == struct.pack("<II", 0x11223344, 0x11223344)


def test_real_mode_segment_load(strategy):
    code = A("mov ax, 0x1234; mov ds, ax; mov bl, [0x10]; mov ax, 0x2000; mov es, ax; "
             "mov byte ptr es:[0x20], 7; hlt", bits=16)
    m = machine(strategy, code, mode="real")
    m.mem.write(0x12350, b"\x99")
    run_to_halt(m)
    assert m.cpu.bl == 0x99
    assert m.cpu.get_seg("ds")["base"] == 0x12340 and m.cpu.ds == 0x1234
    assert m.mem.read(0x20020, 1) == b"\x07"


# ---------------------------------------------------------------- code segment limits and IP wrap

def test_real_mode_ip_wraps_within_block(strategy):
    # CS = 0x10 (base 0x100): NOP NOP at IP 0xFFFE, then IP wraps to 0 (linear 0x100),
    # not to the next linear byte 0x10100
    m = machine(strategy, mode="real")
    m.cpu.cs = 0x10
    m.mem.write(0x100 + 0xFFFE, b"\x90\x90")
    m.mem.write(0x100, b"\x40\xf4")          # inc ax; hlt
    m.mem.write(0x10100, b"\x43\xf4")        # inc bx; hlt (must not run)
    m.cpu.eip = 0xFFFE
    run_to_halt(m)
    assert (m.cpu.ax, m.cpu.bx, m.cpu.eip) == (1, 0, 2)


def test_insn_past_cs_limit(strategy):
    # an instruction whose last byte is past CS.limit: #GP(0) at it (SDM vol. 3 6.15 "#GP")
    m = machine(strategy, mode="real")
    m.cpu.cs = 0x10
    m.mem.write(0x100 + 0xFFFE, b"\x90\xb8\x34\x12")    # nop; mov ax, imm16 from IP 0xFFFF
    m.cpu.eip = 0xFFFE
    ex = m.run(10)
    assert (ex.kind, ex.vector, ex.error_code, ex.eip) == (ExitKind.EXCEPTION, 13, 0, 0xFFFF)
    assert m.stats["insns"] == 1
    # protected mode, a CS limit of 0x1003: MOV EAX, imm32 at 0x1002 reaches 0x1006
    m = machine(strategy, bytes.fromhex("90 90 b8 78 56 34 12 f4"))
    m.cpu.set_seg("cs", 0x08, 0, 0x1003, 0xC9B)
    ex = m.run(10)
    assert (ex.kind, ex.vector, ex.eip) == (ExitKind.EXCEPTION, 13, CODE + 2)


def test_cached_block_respects_this_cs(strategy):
    # a block translated at linear 0x100FE as CS=0x1000:IP=0xFE runs on past
    # IP 0xFFFF; reached as CS=0x10:IP=0xFFFE the same bytes must wrap to IP 0
    m = machine(strategy, mode="real")
    m.mem.write(0x100FE, b"\x90\x90\x43\xf4")     # nop; nop; inc bx; hlt
    m.mem.write(0x100, b"\x40\xf4")               # inc ax; hlt
    m.cpu.cs, m.cpu.eip = 0x1000, 0xFE
    run_to_halt(m)
    assert (m.cpu.ax, m.cpu.bx) == (0, 1)
    m.cpu.cs, m.cpu.eip, m.cpu.ebx = 0x10, 0xFFFE, 0
    run_to_halt(m)
    assert (m.cpu.ax, m.cpu.bx, m.cpu.eip) == (1, 0, 2)
    # protected mode: the same block under a smaller CS limit faults at the limit
    m = machine(strategy, bytes.fromhex("90 90 b8 78 56 34 12 f4"))
    run_to_halt(m)
    m.cpu.set_seg("cs", 0x08, 0, 0x1003, 0xC9B)
    m.cpu.eip = CODE
    ex = m.run(10)
    assert (ex.kind, ex.vector, ex.eip) == (ExitKind.EXCEPTION, 13, CODE + 2)
