"""The native strategy (bt/native.pxi): blocks compiled to x86-64 code.

Oracles: Unicorn for the instruction forms native code handles (random blocks
of them over random states), the interp strategy for whole guests (same serial
output, same instruction counts, same final state), and the counters, so that
native code cannot silently be off."""
import io
import random

import pytest

from bt import ExitKind, Machine, guests
from bt.loaders import load_image
from oracle import DATA, REGS, Runner, asm, random_state_full

# EBX and ESI point into the data area and are never written; ESP stays put.
# The other registers are random and written freely.
R32 = ("eax", "ecx", "edx", "edi", "ebp")
R8 = ("al", "cl", "dl", "ah", "ch", "dh")
SRC32 = R32 + ("ebx", "esi")
ALU = ("add", "or", "adc", "sbb", "and", "sub", "xor", "cmp")
CC = ("o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g")


def mem(rng, size):
    ptr = {1: "byte ptr", 4: "dword ptr"}[size]
    k = rng.randrange(5)
    if k == 0:
        return f"{ptr} [ebx + {rng.randrange(0, 0x400)}]"
    if k == 1:
        return f"{ptr} [esi + ebx*{rng.choice((1, 2))} - {rng.randrange(0, 0x100)}]"
    if k == 2:
        return f"{ptr} [ebx]"
    if k == 3:
        return f"{ptr} [{DATA + rng.randrange(0x800, 0x1000):#x}]"      # absolute
    # a store into the code page (beside the code): the micro-ops take it (SMC check)
    return f"{ptr} [{0x1c00 + rng.randrange(0, 0x100):#x}]"


def imm(rng):
    return rng.choice((rng.randrange(-128, 128), rng.getrandbits(32), 0, 1, 0x7FFFFFFF, 0x80000000))


def insn(rng):
    k = rng.randrange(22)
    r, s = rng.choice(R32), rng.choice(SRC32)
    b, b2 = rng.choice(R8), rng.choice(R8)
    op = rng.choice(ALU + ("test",))
    if k == 0:
        return f"{op} {r}, {s}"
    if k == 1:
        return f"{op} {r}, {imm(rng)}"
    if k == 2:
        return f"{op} {b}, {b2}" if rng.random() < 0.5 else f"{op} {b}, {rng.randrange(256)}"
    if k == 3:
        return f"{op} {r}, {mem(rng, 4)}" if op != "test" else f"test {mem(rng, 4)}, {r}"
    if k == 4:
        return f"{op} {mem(rng, 4)}, {s}" if rng.random() < 0.6 else f"{op} {mem(rng, 4)}, {imm(rng)}"
    if k == 5:
        return f"{op} {mem(rng, 1)}, {b}" if rng.random() < 0.5 else f"{op} {b}, {mem(rng, 1)}"
    if k == 6:
        u = rng.choice(("inc", "dec", "neg", "not"))
        return f"{u} {rng.choice((r, b, mem(rng, 4), mem(rng, 1)))}"
    if k == 7:
        return f"{rng.choice(('shl', 'shr', 'sar'))} {r}, {rng.choice((1, 2, 5, 31, rng.randrange(1, 32)))}"
    if k == 8:
        return rng.choice((f"imul {r}, {s}", f"imul {r}, {mem(rng, 4)}",
                           f"imul {r}, {s}, {imm(rng)}", f"imul {r}, {mem(rng, 4)}, {rng.randrange(-128, 128)}"))
    if k == 9:
        return rng.choice((f"mov {r}, {s}", f"mov {r}, {imm(rng)}", f"mov {b}, {b2}", f"mov {b}, {rng.randrange(256)}"))
    if k == 10:
        return rng.choice((f"mov {r}, {mem(rng, 4)}", f"mov {mem(rng, 4)}, {s}", f"mov {mem(rng, 4)}, {imm(rng)}",
                           f"mov {b}, {mem(rng, 1)}", f"mov {mem(rng, 1)}, {b}", f"mov {mem(rng, 1)}, {rng.randrange(256)}"))
    if k == 11:
        x = rng.choice(("movzx", "movsx"))
        return rng.choice((f"{x} {r}, {b}", f"{x} {r}, {mem(rng, 1)}", f"{x} {r}, word ptr [ebx + {rng.randrange(0x400)}]",
                           f"{x} {r}, {rng.choice(('ax', 'cx', 'dx', 'di', 'bp', 'bx', 'si'))}"))
    if k == 12:
        return rng.choice((f"lea {r}, [{s} + {rng.choice(SRC32)}*{rng.choice((1, 2, 4, 8))} + {imm(rng) & 0xFFFFFFF}]",
                           f"lea {r}, [{s} - 8]", f"lea {r}, [{s}*4]", f"lea {r}, [{s}]"))
    if k == 13:
        return rng.choice((f"set{rng.choice(CC)} {b}", f"set{rng.choice(CC)} {mem(rng, 1)}"))
    if k == 14:
        return f"cmov{rng.choice(CC)} {r}, {s}"
    if k == 15:
        return rng.choice(("nop", f"push {rng.choice(SRC32)}", f"pop {r}", f"push {imm(rng)}",
                           f"push {rng.choice(SRC32)}\npop {r}", "call F"))
    if k == 16:
        # not in the native subset: the native part ends before it
        return rng.choice(("bswap eax", f"bt {r}, {s}", "cdq", f"rol {r}, 3", f"xchg {r}, {rng.choice(R32)}",
                           "push eax\npop ecx", f"add {rng.choice(('ax', 'cx', 'dx'))}, 7"))
    # more of the common forms
    return rng.choice((f"cmp {r}, {s}", f"test {r}, {r}", f"add {r}, {imm(rng)}", f"sub {r}, {s}",
                       f"dec {r}", f"inc {r}"))


def program(rng):
    """Blocks of random forms separated by forward Jcc/JMP: every exit kind."""
    lines = []
    nlab = rng.randrange(1, 4)
    for lab in range(nlab):
        lines += [insn(rng) for _ in range(rng.randrange(1, 12))]
        j = rng.random()
        if j < 0.6:
            lines.append(f"j{rng.choice(CC)} L{lab}")
        elif j < 0.75:
            lines.append(f"jmp L{lab}")
        lines += [insn(rng) for _ in range(rng.randrange(0, 4))]
        lines.append(f"L{lab}:")
    lines += [insn(rng) for _ in range(rng.randrange(0, 5))]
    # a function for the CALLs: its own blocks, RET through the stack
    lines += ["jmp END", "F:"] + [insn(rng).replace("call F", "nop") for _ in range(rng.randrange(0, 4))]
    lines += ["ret", "END:"]
    return "\n".join(lines)


def state(rng):
    st = random_state_full(rng)
    st.regs["ebx"] = DATA + 0x100 + rng.randrange(0x400)
    st.regs["esi"] = DATA + 0x2000 + rng.randrange(0x400)
    return st


def test_random_blocks_against_unicorn():
    rng = random.Random(1234)
    runner = Runner(["interp", "native"])
    total = {"blocks": 0, "partial": 0, "runs": 0}
    for seed in range(300):
        src = program(rng)
        code = asm(src, addr=0x1000)
        assert len(code) < 0xB00, "the code must stay below the store target at 0x1c00"
        for _ in range(3):
            runner.check(code, state(rng), seed=seed, count=True, what=src.replace("\n", "; "))
    nat = runner.machines["native"].stats["native"]
    # the generator must really exercise native code, whole blocks and partial ones
    assert nat["blocks"] > 300 and nat["insns"] > 3000, nat
    assert nat["partial"] > 50 and nat["runs"] > nat["partial"], nat


@pytest.mark.parametrize("src", [
    # incoming flags read before any writer (Jcc, SETcc, ADC, CMOVcc)
    "jo L\nmov eax, 1\nL:",
    "setb al\nseto ah\nsetp cl\nsetl ch\nadc edx, 5\ncmovle edi, ebx",
    # flags of a writer live across loads and stores
    "add eax, ecx\nmov edx, [ebx]\nmov [ebx+4], eax\njc L\ninc edi\nL:",
    # INC/DEC keep CF from before the block; then a reader of CF
    "inc eax\ndec ecx\nadc edx, 0\nsbb edi, 0",
    # AF cleared by logic ops, OF of multi-bit shifts, SZP of IMUL live at the end
    "add eax, 0x0f\nand ecx, edx",
    "shl eax, 7",
    "shl eax, 1",
    "shr eax, 9",
    "sar eax, 3",
    "imul eax, ecx",
    "imul eax, ecx, 3\nmov [ebx], eax",
    "imul eax, [ebx]\njs L\nnop\nL:",
    "shl eax, 4\njo L\nnop\nL:",
])
def test_flag_edges_against_unicorn(src):
    rng = random.Random(7)
    runner = Runner(["interp", "native"])
    code = asm(src, addr=0x1000)
    for seed in range(60):
        runner.check(code, state(rng), seed=seed, count=True, what=src)


def test_native_counters_on_a_loop():
    # a hot loop made of native forms: it must run as native code
    src = """
        mov ecx, 1000
        xor eax, eax
    top:
        add eax, ecx
        mov [0x10000], eax
        movzx edx, byte ptr [0x10001]
        xor eax, edx
        dec ecx
        jnz top
        hlt
    """
    res = {}
    for s in ("interp", "native"):
        m = Machine(ram_size=1 << 20, strategy=s)
        m.mem.write(0x1000, asm(src, addr=0x1000))
        m.cpu.eip = 0x1000
        ex = m.run(max_insns=100_000)
        assert ex.kind == ExitKind.HLT
        res[s] = (m.cpu.state, m.stats["insns"], m.mem.read(0x10000, 4))
    assert res["native"] == res["interp"]
    nat = m.stats["native"]
    assert nat["available"] and nat["blocks"] >= 1
    assert nat["insns"] >= 6 * 999, nat     # the loop body ran natively
    # native exits name their static exit: chained by run_loop, or linked natively
    assert m.stats["chain_hits"] + nat["link_hits"] >= 990
    assert nat["link_hits"] >= 990


def test_budget_ending_inside_a_block():
    # a budget that ends inside a native block stops at the exact instruction
    src = "top:\nadd eax, 1\nadd eax, 2\nadd eax, 3\nadd eax, 4\njmp top\n"
    for k in range(1, 12):
        out = []
        for s in ("interp", "native"):
            m = Machine(ram_size=1 << 20, strategy=s)
            m.mem.write(0x1000, asm(src, addr=0x1000))
            m.cpu.eip = 0x1000
            m.run(max_insns=k)
            out.append((m.cpu.state, m.stats["insns"]))
        assert out[0] == out[1], k


def test_store_into_the_running_block_takes_effect():
    # the store patches the immediate of the next instruction of the same block:
    # the native store must hand over to the micro-ops, which invalidate
    src = """
        mov eax, 5
        mov byte ptr [patch + 1], 9
    patch:
        mov ecx, 0x11
        add ecx, eax
        hlt
    """
    for s in ("interp", "native"):
        m = Machine(ram_size=1 << 20, strategy=s)
        m.mem.write(0x1000, asm(src, addr=0x1000))
        m.cpu.eip = 0x1000
        assert m.run(max_insns=1000).kind == ExitKind.HLT
        assert m.cpu.ecx == 9 + 5, s


def test_flat_segment_checked_at_run_time():
    # the same block with DS flat, then with DS based elsewhere: native code must
    # not use flat addressing for the second run
    src = "mov eax, [0x100]\nadd eax, 1\nmov [0x104], eax\nhlt"
    m = Machine(ram_size=1 << 20, strategy="native")
    m.mem.write(0x1000, asm(src, addr=0x1000))
    m.mem.write(0x100, (41).to_bytes(4, "little"))
    m.mem.write(0x20100, (99).to_bytes(4, "little"))
    m.cpu.eip = 0x1000
    assert m.run(max_insns=100).kind == ExitKind.HLT
    assert m.mem.read_u32(0x104) == 42
    sel, base, limit, attr, flags = m.core.get_seg(3)
    m.core.set_seg(3, sel, 0x20000, limit, attr)
    m.cpu.eip = 0x1000
    assert m.run(max_insns=100).kind == ExitKind.HLT
    assert m.mem.read_u32(0x20104) == 100
    assert m.stats["native"]["partial"] >= 1


def test_code_buffer_full_flushes_and_keeps_running():
    # a tiny translation cache: many flushes, native code rebuilt each time
    src = "".join(f"add eax, {i}\ncmp eax, ecx\njne L{i}\nL{i}:\n" for i in range(300)) + "hlt"
    out = []
    for s in ("interp", "native"):
        m = Machine(ram_size=1 << 20, strategy=s, max_blocks=16)
        m.mem.write(0x1000, asm(src, addr=0x1000))
        m.cpu.eip = 0x1000
        assert m.run(max_insns=10_000).kind == ExitKind.HLT
        out.append((m.cpu.state, m.stats["insns"]))
    assert out[0] == out[1]
    assert m.stats["native"]["buffer_resets"] >= 1


def run_guest(name, strategy, max_insns=400_000_000):
    out = io.StringIO()
    m = Machine(ram_size=64 << 20, strategy=strategy, serial=out)
    load_image(m, guests.path(name))
    ex = m.run(max_insns=max_insns)
    return out.getvalue(), m.stats["insns"], ex.kind, m.cpu.state, m.stats


@pytest.mark.parametrize("name", guests.names())
def test_bundled_guests_same_as_interp(name):
    want = run_guest(name, "interp")
    got = run_guest(name, "native")
    assert got[:4] == want[:4]
