"""Lazy arithmetic flags (bt/flags.pxi): the fast handlers record the last
flag-setting operation and its operands and compute OF SF ZF AF PF CF only when
something reads them.  These tests put every kind of reader right after every
lazy producer (and across a block boundary), stop runs in the middle of lazy
state, fault and interrupt right after a lazy operation, and read or write
EFLAGS from Python in the middle of a block.  The oracle is Unicorn throughout
(the interp strategy, which runs only the generic definitions, is compared too).
"""
import random
import struct

import pytest

from bt import STRATEGIES, ExitKind, Machine
from oracle import ARITH, CODE, DATA, Runner, State, STACK_TOP, REGS, asm, run_unicorn
from sysguest import Sys, REC, SMALL0, handler
from test_idt import FakePic

CCS = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]

# operands: 32 pairs (a, b) at DATA + 8k; the interesting edges of every flag
EDGES = [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF,
         0xFFFFFFFE, 0x0000000F, 0x00000010, 0x40000000, 0xC0000000]


def operands(rng):
    out = []
    for k in range(32):
        a = rng.choice(EDGES) if rng.random() < 0.6 else rng.getrandbits(32)
        r = rng.random()
        if r < 0.25:
            b = a                                     # equal: ZF, no borrow
        elif r < 0.5:
            b = rng.choice(EDGES)
        elif r < 0.6:
            b = (a + rng.choice((1, -1))) & 0xFFFFFFFF  # off by one both ways
        else:
            b = rng.getrandbits(32)
        out.append((a, b))
    return out


def state(rng):
    pairs = operands(rng)
    data = bytearray(0x10000)
    struct.pack_into("<64I", data, 0, *[v for p in pairs for v in p])
    regs = {r: rng.getrandbits(32) for r in REGS}
    regs["esp"] = STACK_TOP
    fl = 0x2 | (rng.getrandbits(32) & ARITH)
    return State(regs=regs, eflags=fl, data=bytes(data),
                 stack=bytes(rng.getrandbits(8) for _ in range(256)) * 256)


# the lazy producers (eax, ebx hold a pair; some forms take b from memory)
PRODUCERS = {
    "add": ["add eax, ebx"],
    "add_imm": ["add eax, 0x7fffffff"],
    "sub": ["sub eax, ebx"],
    "cmp": ["cmp eax, ebx"],
    "cmp_imm": ["cmp eax, 0x80000000"],
    "and": ["and eax, ebx"],
    "or": ["or eax, ebx"],
    "xor": ["xor eax, ebx"],
    "xor_self": ["xor eax, eax"],
    "test": ["test eax, ebx"],
    "test_self": ["test eax, eax"],
    "inc": ["inc eax"],
    "dec": ["dec eax"],
    "add_inc": ["add eax, ebx", "inc ebx"],          # INC keeps ADD's CF
    "sub_dec": ["sub eax, ebx", "dec ebx"],          # DEC keeps SUB's CF
    "shl_inc": ["shl eax, 3", "inc ebx"],            # INC keeps SHL's CF
    "dec_dec": ["cmp eax, ebx", "dec eax", "dec ebx"],
    "shl1": ["shl eax, 1"],
    "shl7": ["shl eax, 7"],
    "shr1": ["shr eax, 1"],
    "shr5": ["shr eax, 5"],
    "sar1": ["sar eax, 1"],
    "sar9": ["sar eax, 9"],
    "rol3": ["cmp eax, ebx", "rol eax, 3"],          # ROL keeps the lazy SF ZF AF PF
    "ror1": ["sub eax, ebx", "ror eax, 1"],
    "imul": ["imul eax, ebx"],
    "imul3": ["imul eax, ebx, 3"],
    "adc": ["cmp eax, ebx", "adc eax, ebx"],         # ADC reads the lazy CF
    "sbb": ["add eax, ebx", "sbb eax, 7"],
    "alu_rm_add": ["add eax, dword ptr [{B}]"],
    "alu_rm_cmp": ["cmp eax, dword ptr [{B}]"],
    "alu_rm_xor": ["xor eax, dword ptr [{B}]"],
    "alu_rm_sbb": ["cmp ebx, eax", "sbb eax, dword ptr [{B}]"],
    "alu_mx_add": ["add dword ptr [{A}], ebx"],
    "alu_mx_sub": ["sub dword ptr [{A}], ebx"],
    "alu_mx_cmp": ["cmp dword ptr [{A}], ebx"],
    "alu_mx_cmpi": ["cmp dword ptr [{A}], 0x80"],
    "alu_mx_and": ["and dword ptr [{A}], ebx"],
    "alu_mx_adc": ["sub eax, ebx", "adc dword ptr [{A}], ebx"],
    # the generic definitions (exec_uop) leave 8/16-bit results lazy too
    "cmp8": ["cmp al, bl"],
    "cmp8_high": ["cmp ah, bh"],
    "add8": ["add al, bl"],
    "sub16": ["sub ax, bx"],
    "cmp16": ["cmp ax, bx"],
    "xor8": ["xor ah, bl"],
    "test8": ["test bl, bl"],
    "test16_imm": ["test ax, 0x8001"],
    "inc8": ["add eax, ebx", "inc al"],
    "dec16": ["sub eax, ebx", "dec bx"],
    "neg": ["neg eax"],
    "neg8": ["neg bl"],
    "cmp8_mem": ["cmp byte ptr [{A}], bl"],
    "cmp8_mem_imm": ["cmp byte ptr [{A}], 0x80"],
    "add16_mem": ["add word ptr [{A}], bx"],
    "and8_mem": ["and byte ptr [{A}], bl"],
    "inc8_mem": ["shr eax, 1", "inc byte ptr [{A}]"],
    "dec32_mem": ["add eax, ebx", "dec dword ptr [{A}]"],
    "adc8": ["cmp eax, ebx", "adc al, bl"],
}

# readers, each storing what it saw at OUT + 4*slot
OUT = DATA + 0x1000


def readers():
    out = []
    for cc in CCS:
        out.append(("j" + cc, ["j{cc} {L}", "mov dword ptr [{O}], 1", "{L}:"], cc))
    for cc in CCS:
        out.append(("set" + cc, ["set{cc} byte ptr [{O}]"], cc))
    for cc in CCS:
        out.append(("cmov" + cc, ["mov ecx, 0x5a5a5a5a", "cmov{cc} ecx, eax",
                                  "mov dword ptr [{O}], ecx"], cc))
    out += [
        ("pushfd", ["pushfd", "pop ecx", "mov dword ptr [{O}], ecx"], None),
        ("lahf", ["lahf", "mov dword ptr [{O}], eax"], None),
        ("adc", ["mov ecx, 0x10", "adc ecx, ebx", "mov dword ptr [{O}], ecx"], None),
        ("sbb", ["mov ecx, 0x10", "sbb ecx, 3", "mov dword ptr [{O}], ecx"], None),
        ("rcl", ["mov ecx, 0x10", "rcl ecx, 1", "mov dword ptr [{O}], ecx"], None),
        ("salc_like", ["mov ecx, 0", "sbb ecx, 0", "mov dword ptr [{O}], ecx"], None),
        ("inc_pushfd", ["inc ecx", "pushfd", "pop ecx", "mov dword ptr [{O}], ecx"], None),
        ("dec_jb", ["dec ecx", "jb {L}", "mov dword ptr [{O}], 1", "{L}:"], None),
    ]
    return out


def program(prod, cross):
    """For every reader: load a pair, run the producer, (a JMP to the next
    instruction: a block boundary), then the reader."""
    lines = []
    for slot, (name, rd, cc) in enumerate(readers()):
        k = slot % 32
        a, b = DATA + 8 * k, DATA + 8 * k + 4
        lines += [f"mov eax, dword ptr [{a:#x}]", f"mov ebx, dword ptr [{b:#x}]"]
        lines += [p.format(A=f"{a:#x}", B=f"{b:#x}") for p in PRODUCERS[prod]]
        if cross:
            lines += [f"jmp X{slot}", f"X{slot}:"]
        lines += [r.format(cc=cc, L=f"L{slot}", O=f"{OUT + 4 * slot:#x}") for r in rd]
    return asm("\n".join(lines))


@pytest.mark.parametrize("cross", [False, True], ids=["same_block", "across_blocks"])
@pytest.mark.parametrize("prod", sorted(PRODUCERS))
def test_every_reader_after_every_producer(prod, cross):
    code = program(prod, cross)
    runner = Runner(STRATEGIES)
    for seed in range(3):
        runner.check(code, state(random.Random(seed * 1000 + len(prod))), seed=seed,
                     what=f"{prod} (cross={cross})")


LOOP = """
    mov ecx, 6
top:
    add eax, ebx
    cmp eax, edx
    jb low
    inc esi
    shl edi, 1
low:
    xor ebp, eax
    dec ecx
    jnz top
    test eax, eax
    imul esi, esi, 3
"""


def test_runs_stopped_at_every_instruction_count():
    # a run ends wherever the budget says, in the middle of lazy state that
    # came from this block or an earlier one (chained): m.cpu.eflags is exact
    code = asm(LOOP)
    runner = Runner(STRATEGIES)
    for seed in range(4):
        rng = random.Random(seed)
        st = state(rng)
        st.regs["edx"] = rng.choice((0x10000000, 0x80000000, 0xF0000000))
        n = runner.run_unicorn(code, st, count=True).insns
        assert n > 40
        for k in range(1, n + 1):
            want = runner.run_unicorn(code, st, max_insns=k)
            for s in runner.machines:
                m = runner.machines[s]
                m.core.flush()          # translate afresh: the budget cuts differently
                got = runner.run_bt(code, st, s, max_insns=k)
                assert want.diff(got) == [], (seed, k, s)


def unicorn_flags(lines, eax, ebx):
    st = State(regs={r: 0 for r in REGS} | {"eax": eax, "ebx": ebx, "esp": STACK_TOP},
               data=bytes(0x10000), stack=bytes(0x10000))
    return run_unicorn(asm("\n".join(lines)), st).eflags & ARITH


FAULT_CASES = [
    (["cmp eax, ebx"], 5, 7),
    (["cmp eax, ebx"], 0x80000000, 1),
    (["add eax, ebx"], 0xFFFFFFFF, 1),
    (["sub eax, ebx"], 0x7FFFFFFF, 0xFFFFFFFF),
    (["xor eax, ebx"], 0x80, 0x80000000),
    (["stc", "inc eax"], 0x7FFFFFFF, 0),
    (["add eax, ebx", "dec eax"], 0xFFFFFFFF, 2),
    (["shl eax, 1"], 0xC0000001, 0),
    (["imul eax, ebx"], 0x10000, 0x10000),
]


@pytest.mark.parametrize("case", range(len(FAULT_CASES)))
def test_fault_right_after_a_lazy_op_pushes_exact_eflags(strategy, case):
    # the load faults (#GP: past DS.limit) in the fast handler of the block's
    # next instruction; the frame the guest's #GP handler gets holds EFLAGS
    lines, a, b = FAULT_CASES[case]
    want = unicorn_flags(lines, a, b)
    s = Sys(strategy)
    s.ring0([f"mov cx, {SMALL0:#x}", "mov ds, cx", f"mov eax, {a:#x}", f"mov ebx, {b:#x}",
             *lines, "mov ecx, dword ptr [0x2000]", "hlt"])
    s.run()
    assert s.halted_in(13)
    err, eip, cs, fl = s.stack(4)
    assert fl & ARITH == want, (hex(fl), hex(want))
    assert s.m.cpu.eflags & ARITH == want      # the handler's HLT changed nothing


@pytest.mark.parametrize("case", range(len(FAULT_CASES)))
def test_intercepted_fault_right_after_a_lazy_op(strategy, case):
    lines, a, b = FAULT_CASES[case]
    want = unicorn_flags(lines, a, b)
    s = Sys(strategy, intercept="all")
    s.ring0([f"mov cx, {SMALL0:#x}", "mov ds, cx", f"mov eax, {a:#x}", f"mov ebx, {b:#x}",
             *lines, "mov ecx, dword ptr [0x2000]", "hlt"])
    ex = s.run()
    assert ex.kind == ExitKind.EXCEPTION and ex.vector == 13
    assert s.m.cpu.eflags & ARITH == want


class Mmio:
    """An MMIO word outside RAM; on_read(m) gives the value a load sees."""
    name = "lazy-mmio"
    ports = ()
    mmio = [(0x100000, 0x1000)]

    def __init__(self, m, on_read):
        self.m, self.on_read = m, on_read

    def mmio_read(self, addr, size):
        return self.on_read(self.m)

    def mmio_write(self, addr, size, value):
        pass

    def reset(self):
        pass


@pytest.mark.parametrize("case", range(len(FAULT_CASES)))
def test_irq_right_after_a_lazy_op_pushes_exact_eflags(strategy, case):
    # an MMIO read raises INTR in the middle of a block; the block ends with a
    # lazy op and a JMP, and the interrupt taken at the boundary pushes EFLAGS
    lines, a, b = FAULT_CASES[case]
    want = unicorn_flags(lines, a, b)
    s = Sys(strategy)
    s.m.pic = pic = FakePic(s.m, 0x30)

    def raise_intr(m):
        m.core.irq_line = 1
        return 0

    s.m.add_device(Mmio(s.m, raise_intr))
    addrs = s.ring0(["sti", "nop", f"mov eax, {a:#x}", f"mov ebx, {b:#x}",
                     "mov ecx, dword ptr [0x100000]", *lines, b"\xeb\x00",   # JMP to the next insn
                     "hlt"])
    s.run()
    assert s.halted_in(0x30) and pic.acks == 1
    eip, cs, fl = s.stack(3)
    if strategy == "interp":
        # one instruction per step: taken right after the load, before the op
        assert eip == addrs[5] and fl & ARITH == 0
    else:
        assert eip == addrs[-1]
        assert fl & ARITH == want, (hex(fl), hex(want))


def flat(strategy, src):
    m = Machine(ram_size=1 << 20, strategy=strategy, intercept="all")
    m.mem.write(CODE, asm(src))
    m.cpu.eip = CODE
    m.cpu.esp = 0x9000
    return m


@pytest.mark.parametrize("case", range(len(FAULT_CASES)))
def test_python_reads_eflags_in_the_middle_of_a_block(strategy, case):
    # an MMIO handler (Python) reads m.cpu.eflags right after a lazy op and
    # returns it as the loaded value
    lines, a, b = FAULT_CASES[case]
    want = unicorn_flags(lines, a, b)
    m = flat(strategy, "\n".join([f"mov eax, {a:#x}", f"mov ebx, {b:#x}", *lines,
                                  "mov ecx, dword ptr [0x100000]", "pushfd", "pop edx", "hlt"]))
    m.add_device(Mmio(m, lambda m: m.cpu.eflags))
    ex = m.run()
    assert ex.kind == ExitKind.HLT
    assert m.cpu.ecx & ARITH == want, (hex(m.cpu.ecx), hex(want))
    assert m.cpu.edx & ARITH == want
    assert m.cpu.eflags & ARITH == want


@pytest.mark.parametrize("value", [0x2, 0x2 | ARITH, 0x2 | 0x41, 0x2 | 0x880])
def test_python_writes_eflags_in_the_middle_of_a_block(strategy, value):
    # what Python writes replaces the lazy state: the guest's next readers (a
    # Jcc on the fast path, PUSHF) see it, not the CMP before the MMIO load
    def write(m):
        m.cpu.eflags = value          # (without reading it first)
        return 0

    src = "\n".join(["mov eax, 5", "mov ebx, 5", "cmp eax, ebx",
                     "mov ecx, dword ptr [0x100000]",
                     "mov esi, 0", "jz z", "mov esi, 1", "z:",
                     "mov edi, 0", "jb c", "mov edi, 1", "c:",
                     "pushfd", "pop edx", "hlt"])
    m = flat(strategy, src)
    m.add_device(Mmio(m, write))
    ex = m.run()
    assert ex.kind == ExitKind.HLT
    assert m.cpu.esi == (0 if value & 0x40 else 1)
    assert m.cpu.edi == (0 if value & 0x1 else 1)
    assert m.cpu.edx & ARITH == value & ARITH


def test_block_hook_reads_exact_eflags(strategy):
    # a "block" hook runs when the next block is translated, after the lazy
    # op that ended the previous one
    lines, a, b = ["sub eax, ebx"], 0x80000000, 1
    want = unicorn_flags(lines, a, b)
    m = flat(strategy, "\n".join([f"mov eax, {a:#x}", f"mov ebx, {b:#x}", *lines,
                                  "jmp next", "next:", "hlt"]))
    seen = []
    m.hook_add("block", lambda ev: seen.append((ev.eip, m.cpu.eflags)))
    m.run()
    if strategy == "interp":
        return                      # no translation events
    last = [fl for eip, fl in seen if eip == m.cpu.eip - 1]
    assert last and last[0] & ARITH == want


def test_eflags_after_run_and_set_between_runs(strategy):
    # after run() Python sees the lazy op's flags; writing EFLAGS between runs
    # replaces them for the next run's readers
    m = flat(strategy, "\n".join(["mov eax, 1", "mov ebx, 2", "cmp eax, ebx", "hlt",
                                  "mov esi, 0", "jb c", "mov esi, 1", "c:", "hlt"]))
    m.run()
    assert m.cpu.eflags & ARITH == unicorn_flags(["cmp eax, ebx"], 1, 2)
    assert m.cpu.eflags & 1
    m.cpu.eflags = 0x2
    m.cpu.eip += 1
    m.run()
    assert m.cpu.esi == 1 and m.cpu.eflags & ARITH == 0


STEP_SEQ = ["add eax, ebx", "cmp eax, 5", "inc ecx", "sub ebx, eax", "xor edx, edx", "dec edx",
            "shl edx, 3", "test eax, eax", "imul esi, ebx", "cmp bl, 0x80", "neg ecx",
            "and esi, 0xff", "dec ecx"]


@pytest.mark.parametrize("start", [(0x7FFFFFFF, 1, 0), (0xFFFFFFFF, 0x80000000, 0x7FFFFFFF)])
def test_single_step_traps_push_exact_eflags(strategy, start):
    # TF=1: a #DB trap after every instruction; the guest's handler records the
    # EFLAGS pushed on its frame, which must be those after each instruction
    a, b, cx = start
    movs = [f"mov eax, {a:#x}", f"mov ebx, {b:#x}", f"mov ecx, {cx:#x}", "mov esi, 3"]
    s = Sys(strategy)
    s.code(handler(1), ["push eax", "push ebx", f"mov ebx, dword ptr [{REC:#x}]",
                        "mov eax, dword ptr [esp + 16]",
                        f"mov dword ptr [{REC + 4:#x} + ebx*4], eax", "inc ebx",
                        f"mov dword ptr [{REC:#x}], ebx", "pop ebx", "pop eax", "iretd"])
    s.ring0([*movs, "pushfd", "or dword ptr [esp], 0x100", "popfd", *STEP_SEQ, "hlt"])
    ex = s.run()
    assert ex.kind == ExitKind.HLT
    n = s.m.mem.read_u32(REC)
    assert n == len(STEP_SEQ)             # one after each (POPF's TF counts from the next one)
    got = [s.m.mem.read_u32(REC + 4 + 4 * i) & ARITH for i in range(len(STEP_SEQ))]
    st = State(regs={r: 0 for r in REGS} | {"esp": STACK_TOP}, data=bytes(0x10000),
               stack=bytes(0x10000))
    code = asm("\n".join(movs + STEP_SEQ))
    want = [run_unicorn(code, st, max_insns=len(movs) + k).eflags & ARITH
            for k in range(1, len(STEP_SEQ) + 1)]
    assert got == want


@pytest.mark.parametrize("case", range(len(FAULT_CASES)))
def test_int_n_right_after_a_lazy_op_pushes_exact_eflags(strategy, case):
    # INT n (a callout with its own fast delivery path) right after a lazy op
    lines, a, b = FAULT_CASES[case]
    want = unicorn_flags(lines, a, b)
    s = Sys(strategy)
    addrs = s.ring0([f"mov eax, {a:#x}", f"mov ebx, {b:#x}", *lines, "int 0x40", "hlt"])
    s.run()
    assert s.halted_in(0x40)
    eip, cs, fl = s.stack(3)
    assert eip == addrs[-1]
    assert fl & ARITH == want, (hex(fl), hex(want))
