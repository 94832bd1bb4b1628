"""32-bit differential tests: every general-purpose IA-32 instruction form, run
from N seeded random states in Unicorn and in bt under every strategy.

A form is a generator gen(rng, st) -> (code bytes, flag-mask key) that may edit
the random state st (registers, memory) so that memory operands land in DATA
and the interesting cases (zero divisors, equal compares...) come up.  A failure
names the form, the seed and the bytes; rerun one with
``python -m pytest tests/test_diff_32.py -k NAME``.
"""
import functools
import os
import random
import re

import pytest

from bt import STRATEGIES
from oracle import ARITH, CODE, DATA, DF, REGS, STACK_TOP, Runner, State, asm
from undefined_flags import flag_mask

N = int(os.environ.get("BT_DIFF_N", "200"))      # states per form; raise it for a deeper run

R8 = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"]
R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di"]
R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"]
RN = {1: R8, 2: R16, 4: R32}
PTR = {1: "byte ptr", 2: "word ptr", 4: "dword ptr"}
# memory operands; mem_state() points EBX/EBP into DATA and makes ESI/EDI small indexes
MEMS = ["[ebx]", "[ebx+0x10]", "[ebx+esi*4-0x20]", "[ebp+edi*2+0x7f]", "[esi+ebx]",
        "[ebx+edi*8+0x1234]", "[0x14000]", "[ebp-0x100]", "[esi*2+ebx+3]"]
SPECIAL = [0, 1, 2, 0x7F, 0x80, 0x81, 0xFF, 0x100, 0x7FFF, 0x8000, 0x8001, 0xFFFF,
           0x10000, 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFF, 0xFFFFFFFE]

_POOL = random.Random(12345).randbytes(0x30000)


@functools.lru_cache(maxsize=None)
def A(src):
    return asm(src)


def ival(rng):
    """A 32-bit value, biased towards the edges where flags change."""
    x = rng.random()
    if x < 0.55:
        return rng.getrandbits(32)
    if x < 0.85:
        return rng.choice(SPECIAL)
    return rng.randrange(-16, 17) & 0xFFFFFFFF


def base_state(rng):
    regs = {r: ival(rng) for r in REGS}
    regs["esp"] = STACK_TOP
    o1, o2 = rng.randrange(0x20000), rng.randrange(0x20000)
    return State(regs=regs, eflags=0x2 | (rng.getrandbits(32) & ARITH),
                 data=_POOL[o1:o1 + 0x10000], stack=_POOL[o2:o2 + 0x10000])


def mem_state(st, rng):
    """EBX/EBP point into DATA, ESI/EDI are small indexes (see MEMS)."""
    st.regs["ebx"] = DATA + 0x1000 + rng.randrange(0xA000)
    st.regs["ebp"] = DATA + 0x1000 + rng.randrange(0xA000)
    st.regs["esi"] = rng.randrange(0x800)
    st.regs["edi"] = rng.randrange(0x800)


def ea_of(st, m):
    """The address of MEMS entry m in state st."""
    r = st.regs
    return {"[ebx]": r["ebx"], "[ebx+0x10]": r["ebx"] + 0x10,
            "[ebx+esi*4-0x20]": r["ebx"] + r["esi"] * 4 - 0x20,
            "[ebp+edi*2+0x7f]": r["ebp"] + r["edi"] * 2 + 0x7F, "[esi+ebx]": r["esi"] + r["ebx"],
            "[ebx+edi*8+0x1234]": r["ebx"] + r["edi"] * 8 + 0x1234, "[0x14000]": 0x14000,
            "[ebp-0x100]": r["ebp"] - 0x100, "[esi*2+ebx+3]": r["esi"] * 2 + r["ebx"] + 3}[m]


def put(st, addr, value, size):
    st.extra_mem.append((addr, (value & ((1 << 8 * size) - 1)).to_bytes(size, "little")))


def imm(rng, size):
    return ival(rng) & ((1 << 8 * size) - 1)


FORMS = {}


def form(name, mn=None):
    def deco(gen):
        assert name not in FORMS, name
        FORMS[name] = (gen, mn)
        return gen
    return deco


def F(name, gen, mn=None):
    assert name not in FORMS, name
    FORMS[name] = (gen, mn)


# ---------------------------------------------------------------- the forms

def reg_reg(op, size):
    def g(rng, st):
        return A(f"{op} {rng.choice(RN[size])}, {rng.choice(RN[size])}")
    return g


def reg_mem(op, size, reverse=False):
    def g(rng, st):
        mem_state(st, rng)
        m = f"{PTR[size]} {rng.choice(MEMS)}"
        r = rng.choice(RN[size])
        return A(f"{op} {m}, {r}" if reverse else f"{op} {r}, {m}")
    return g


def rm_imm(op, size, mem, small=False):
    def g(rng, st):
        v = rng.randrange(-128, 128) & ((1 << 8 * size) - 1) if small else imm(rng, size)
        if mem:
            mem_state(st, rng)
            dst = f"{PTR[size]} {rng.choice(MEMS)}"
        else:
            dst = rng.choice(RN[size])
        return A(f"{op} {dst}, {v:#x}")
    return g


def acc_imm(op, size):
    def g(rng, st):
        return A(f"{op} {RN[size][0]}, {imm(rng, size):#x}")
    return g


def one(op, size, mem):
    def g(rng, st):
        if mem:
            mem_state(st, rng)
            return A(f"{op} {PTR[size]} {rng.choice(MEMS)}")
        return A(f"{op} {rng.choice(RN[size])}")
    return g


# MOV family
for s in (1, 2, 4):
    F(f"mov_rr{s}", reg_reg("mov", s))
    F(f"mov_rm{s}", reg_mem("mov", s))
    F(f"mov_mr{s}", reg_mem("mov", s, reverse=True))
    F(f"mov_ri{s}", rm_imm("mov", s, False))
    F(f"mov_mi{s}", rm_imm("mov", s, True))


@form("mov_moffs")
def _(rng, st):
    # A0-A3 with a 32-bit absolute address, hand-written; 66 for 16-bit
    op = rng.choice([0xA0, 0xA1, 0xA2, 0xA3])
    pre = b"\x66" if op & 1 and rng.random() < 0.5 else b""
    addr = DATA + rng.randrange(0xFFF0)
    return pre + bytes([op]) + addr.to_bytes(4, "little")


@form("mov_moffs_seg")
def _(rng, st):
    # with a DS/ES/SS segment override (all flat here)
    op = rng.choice([0xA0, 0xA1, 0xA2, 0xA3])
    return bytes([rng.choice([0x26, 0x36, 0x3E])]) + bytes([op]) + (DATA + rng.randrange(0xFFF0)).to_bytes(4, "little")


for op in ("movzx", "movsx"):
    F(f"{op}_r16_r8", lambda rng, st, op=op: A(f"{op} {rng.choice(R16)}, {rng.choice(R8)}"))
    F(f"{op}_r32_r8", lambda rng, st, op=op: A(f"{op} {rng.choice(R32)}, {rng.choice(R8)}"))
    F(f"{op}_r32_r16", lambda rng, st, op=op: A(f"{op} {rng.choice(R32)}, {rng.choice(R16)}"))

    def _g(rng, st, op=op):
        mem_state(st, rng)
        d, s = rng.choice([(R16, 1), (R32, 1), (R32, 2)])
        return A(f"{op} {rng.choice(d)}, {PTR[s]} {rng.choice(MEMS)}")
    F(f"{op}_rm", _g)

for s in (1, 2, 4):
    F(f"xchg_rr{s}", reg_reg("xchg", s))
    F(f"xchg_mr{s}", reg_mem("xchg", s, reverse=True))
    F(f"xadd_rr{s}", reg_reg("xadd", s))
    F(f"xadd_mr{s}", reg_mem("xadd", s, reverse=True))


@form("xchg_eax_short")
def _(rng, st):
    # 90+r: XCHG eAX, r (90 itself is NOP), with and without 66
    return (b"\x66" if rng.random() < 0.5 else b"") + bytes([0x90 + rng.randrange(8)])


def _cmpxchg(size, mem):
    def g(rng, st):
        src = rng.choice(RN[size])
        if mem:
            mem_state(st, rng)
            m = rng.choice(MEMS)
            if rng.random() < 0.5:      # make the compare succeed
                put(st, ea_of(st, m), st.regs["eax"], size)
            return A(f"cmpxchg {PTR[size]} {m}, {src}")
        dst = rng.choice(RN[size])
        if rng.random() < 0.5:
            dst = RN[size][0]
        return A(f"cmpxchg {dst}, {src}")
    return g


for s in (1, 2, 4):
    F(f"cmpxchg_r{s}", _cmpxchg(s, False))
    F(f"cmpxchg_m{s}", _cmpxchg(s, True))


@form("cmpxchg8b")
def _(rng, st):
    mem_state(st, rng)
    m = rng.choice(MEMS)
    if rng.random() < 0.5:
        put(st, ea_of(st, m), st.regs["eax"] | (st.regs["edx"] << 32), 8)
    lock = b"\xf0" if rng.random() < 0.3 else b""
    return lock + A(f"cmpxchg8b qword ptr {m}")


F("bswap", lambda rng, st: bytes([0x0F, 0xC8 + rng.randrange(8)]))
# BSWAP with a 16-bit operand is undefined (QEMU swaps 32 bits, P6 zeroes): not tested.

LEAS = ["[eax]", "[ecx+edx]", "[ebx+esi*2+0x10]", "[esp+4]", "[esp+eax*8-0x7f]", "[ebp]",
        "[ebp+ecx*4]", "[edi*4+0x12345678]", "[0x1234]", "[esi+edi*1-0x80000000]",
        "[eax*2]", "[edx+edx*8+1]", "[esp]", "[ebp-0x12345]"]
LEAS16 = ["[bx+si]", "[bx+di+0x10]", "[bp+si-0x7f]", "[bp+di+0x1234]", "[si]", "[di-2]",
          "[bp+0x80]", "[bx]", "[0x1234]"]


@form("lea32")
def _(rng, st):
    return A(f"lea {rng.choice(R32 + R16)}, {rng.choice(LEAS)}")


@form("lea_addr16")
def _(rng, st):
    # 0x67: 16-bit addressing in 32-bit code
    return A(f"lea {rng.choice(R32 + R16)}, {rng.choice(LEAS16)}")


@form("mov_addr16")
def _(rng, st):
    # 0x67 loads: 16-bit offsets only reach 0..0xFFFF, below DATA, so the
    # loads read random bytes planted at 0x8000..0xAFFF
    st.regs["ebx"] = (st.regs["ebx"] & 0xFFFF0000) | (0x8000 + rng.randrange(0x1000))
    st.regs["esi"] = (st.regs["esi"] & 0xFFFF0000) | rng.randrange(0x1000)
    st.regs["edi"] = (st.regs["edi"] & 0xFFFF0000) | rng.randrange(0x1000)
    st.extra_mem.append((0x8000, rng.randbytes(0x3000)))
    m = rng.choice(["[bx+si]", "[bx+di+0x10]", "[bx]", "[bx+si-0x7f]"])
    return A(f"mov {rng.choice(R32 + R16 + R8)}, {m}")


# PUSH / POP
F("push_r32", lambda rng, st: A(f"push {rng.choice(R32)}"))
F("push_r16", lambda rng, st: A(f"push {rng.choice(R16)}"))
F("pop_r32", lambda rng, st: A(f"pop {rng.choice(R32)}"))
F("pop_r16", lambda rng, st: A(f"pop {rng.choice(R16)}"))
F("push_imm8", lambda rng, st: b"\x6a" + bytes([rng.getrandbits(8)]))
F("push_imm32", lambda rng, st: b"\x68" + rng.randbytes(4))
F("push_imm16", lambda rng, st: b"\x66\x68" + rng.randbytes(2))
F("push_imm8_16", lambda rng, st: b"\x66\x6a" + bytes([rng.getrandbits(8)]))


@form("push_m")
def _(rng, st):
    mem_state(st, rng)
    return A(f"push {rng.choice(['dword ptr', 'word ptr'])} {rng.choice(MEMS)}")


@form("pop_m")
def _(rng, st):
    mem_state(st, rng)
    return A(f"pop {rng.choice(['dword ptr', 'word ptr'])} {rng.choice(MEMS + ['[esp]', '[esp+4]', '[esp-4]'])}")


F("push_esp_pop_esp", lambda rng, st: rng.choice([b"\x54", b"\x66\x54", b"\x5c", b"\x66\x5c",
                                                 b"\xff\x34\x24", b"\x8f\x04\x24"]))
F("pusha", lambda rng, st: rng.choice([b"\x60", b"\x66\x60"]))
F("popa", lambda rng, st: rng.choice([b"\x61", b"\x66\x61"]))


@form("pushf")
def _(rng, st):
    st.eflags |= rng.choice([0, DF])
    return rng.choice([b"\x9c", b"\x66\x9c"])


@form("popf")
def _(rng, st):
    # keep TF clear (a trap would end Unicorn's run) and leave IOPL/IF/NT/AC/ID
    # alone: CPL 0 may change them but they are not this test's business
    v = rng.getrandbits(32) & (ARITH | DF)
    put(st, STACK_TOP, v | 0x2, 4)
    return rng.choice([b"\x9d", b"\x66\x9d"])


F("lahf", lambda rng, st: b"\x9f")
F("sahf", lambda rng, st: b"\x9e")
F("cbw_cwde", lambda rng, st: rng.choice([b"\x98", b"\x66\x98"]))
F("cwd_cdq", lambda rng, st: rng.choice([b"\x99", b"\x66\x99"]))

# ALU
for op in ("add", "adc", "sub", "sbb", "cmp", "and", "or", "xor", "test"):
    for s in (1, 2, 4):
        F(f"{op}_rr{s}", reg_reg(op, s), op)
        F(f"{op}_mr{s}", reg_mem(op, s, reverse=True), op)
        if op != "test":
            F(f"{op}_rm{s}", reg_mem(op, s), op)
        F(f"{op}_ri{s}", rm_imm(op, s, False), op)
        F(f"{op}_mi{s}", rm_imm(op, s, True), op)
        F(f"{op}_acc{s}", acc_imm(op, s), op)
        if s > 1 and op != "test":
            F(f"{op}_ri8_{s}", rm_imm(op, s, False, small=True), op)

for op in ("inc", "dec", "neg", "not"):
    for s in (1, 2, 4):
        F(f"{op}_r{s}", one(op, s, False), op)
        F(f"{op}_m{s}", one(op, s, True), op)
F("inc_dec_short", lambda rng, st: (b"\x66" if rng.random() < 0.5 else b"") + bytes([0x40 + rng.randrange(16)]))


def setr(st, name, v):
    """Set register name (any size) in st."""
    for size, names in RN.items():
        if name in names:
            i = names.index(name)
            if size == 1:
                r, sh = REGS[i & 3], 8 * (i >> 2)
            else:
                r, sh = REGS[i], 0
            m = ((1 << 8 * size) - 1) << sh
            st.regs[r] = (st.regs[r] & ~m & 0xFFFFFFFF) | ((v << sh) & m)
            return
    raise KeyError(name)


# MUL IMUL DIV IDIV
def _muldiv(op, size, mem):
    m = (1 << 8 * size) - 1
    others = {1: ["cl", "dl", "bl", "ch", "dh", "bh"], 2: ["cx", "bx", "si", "di", "bp"],
              4: ["ecx", "ebx", "esi", "edi", "ebp"]}[size]

    def g(rng, st):
        if op in ("div", "idiv"):
            x = rng.random()
            d = 0 if x < 0.1 else (rng.randrange(1, 16) if x < 0.3 else (ival(rng) & m) or 1)
            lo = ival(rng) & m
            if op == "div":
                hi = rng.randrange(d) if d and rng.random() < 0.8 else ival(rng) & m
            else:
                hi = (m if lo >> (8 * size - 1) else 0) if rng.random() < 0.7 else ival(rng) & m
            if size == 1:
                setr(st, "ax", (hi << 8) | lo)
            else:
                setr(st, RN[size][0], lo)
                setr(st, RN[size][2], hi)
        else:
            d = ival(rng) & m
        if mem:
            mem_state(st, rng)
            mm = rng.choice(MEMS)
            put(st, ea_of(st, mm), d, size)
            return A(f"{op} {PTR[size]} {mm}")
        r = rng.choice(others)
        setr(st, r, d)
        if op in ("mul", "imul") and rng.random() < 0.3:
            r = rng.choice(RN[size])
        return A(f"{op} {r}")
    return g


for op in ("mul", "imul", "div", "idiv"):
    for s in (1, 2, 4):
        F(f"{op}_r{s}", _muldiv(op, s, False), op)
        F(f"{op}_m{s}", _muldiv(op, s, True), op)

for s in (2, 4):
    F(f"imul2_rr{s}", reg_reg("imul", s), "imul")
    F(f"imul2_rm{s}", reg_mem("imul", s), "imul")

    def _imul3(rng, st, s=s):
        v = rng.randrange(-128, 128) if rng.random() < 0.5 else imm(rng, s)
        if rng.random() < 0.5:
            mem_state(st, rng)
            src = f"{PTR[s]} {rng.choice(MEMS)}"
        else:
            src = rng.choice(RN[s])
        return A(f"imul {rng.choice(RN[s])}, {src}, {v & ((1 << 8 * s) - 1):#x}")
    F(f"imul3_{s}", _imul3, "imul")

# shifts and rotates, hand-encoded: D0/D1 by one, D2/D3 by CL, C0/C1 by imm8
DIGIT = {"rol": 0, "ror": 1, "rcl": 2, "rcr": 3, "shl": 4, "shr": 5, "sar": 7}


def shift_key(op, c, width):
    c &= 31
    if c == 0:
        return None
    if op in ("shl", "shr") and c >= width:
        return op + ">=w"
    if c > 1:
        return op + ">1"
    return op


def count(rng, width):
    return rng.choice([0, 1, 1, 2, width - 1, width, width + 1, 31, 32, 33, rng.randrange(32),
                       rng.randrange(32), rng.randrange(256)])


def _shift(op, size, kind, mem):
    w = 8 * size

    def g(rng, st):
        pre = b"\x66" if size == 2 else b""
        opc = {"one": 0xD0, "cl": 0xD2, "imm": 0xC0}[kind] + (size > 1)
        if mem:
            mem_state(st, rng)
            modrm = bytes([0x43 | DIGIT[op] << 3, rng.getrandbits(8)])
        else:
            modrm = bytes([0xC0 | DIGIT[op] << 3 | rng.randrange(8)])
        c = 1
        tail = b""
        if kind == "cl":
            c = count(rng, w)
            setr(st, "cl", c)
            if not mem and modrm[0] & 7 == 1 and size >= 1:
                c = None        # shifting CL by itself: count is the original CL
        elif kind == "imm":
            c = count(rng, w)
            tail = bytes([c])
        code = pre + bytes([opc]) + modrm + tail
        if c is None:
            c = st.regs["ecx"] & 0xFF
        return code, shift_key(op, c, w)
    return g


for op in DIGIT:
    for s in (1, 2, 4):
        for kind in ("one", "cl", "imm"):
            F(f"{op}_{kind}_r{s}", _shift(op, s, kind, False))
            F(f"{op}_{kind}_m{s}", _shift(op, s, kind, True))


def _shxd(op, size, kind, mem):
    w = 8 * size

    def g(rng, st):
        pre = b"\x66" if size == 2 else b""
        opc = {"shld": 0xA4, "shrd": 0xAC}[op] + (kind == "cl")
        src = rng.randrange(8)
        if mem:
            mem_state(st, rng)
            modrm = bytes([0x43 | src << 3, rng.getrandbits(8)])
        else:
            modrm = bytes([0xC0 | src << 3 | rng.randrange(8)])
        c = count(rng, w)
        tail = b""
        if kind == "cl":
            setr(st, "cl", c)
        else:
            tail = bytes([c])
        code = pre + b"\x0f" + bytes([opc]) + modrm + tail
        c &= 31
        if c > w:
            return code, "shxd>w"
        return code, (None if c == 0 else (op + ">1" if c > 1 else op))
    return g


for op in ("shld", "shrd"):
    for s in (2, 4):
        for kind in ("imm", "cl"):
            F(f"{op}_{kind}_r{s}", _shxd(op, s, kind, False))
            F(f"{op}_{kind}_m{s}", _shxd(op, s, kind, True))


# BT BTS BTR BTC
def _bt(op, size, kind):
    def g(rng, st):
        if kind == "rr":
            return A(f"{op} {rng.choice(RN[size])}, {rng.choice(RN[size])}")
        pre = b"\x66" if size == 2 else b""
        digit = {"bt": 4, "bts": 5, "btr": 6, "btc": 7}[op]
        if kind == "ri":     # 0F BA /digit ib, hand-encoded (keystone rejects imm8 > 0x7f)
            return pre + bytes([0x0F, 0xBA, 0xC0 | digit << 3 | rng.randrange(8), rng.getrandbits(8)])
        mem_state(st, rng)
        st.regs["ebx"] = DATA + 0x8000 + rng.randrange(-0x100, 0x100)
        m = rng.choice(["[ebx]", "[ebx+0x10]", "[ebx+esi*4-0x20]", "[ebx+edi-3]"])
        if kind == "mi":
            return pre + bytes([0x0F, 0xBA, 0x43 | digit << 3, rng.getrandbits(8), rng.getrandbits(8)])
        r = rng.choice(RN[size][:3])
        if size == 4:
            setr(st, r, rng.randrange(-0x3F000, 0x3F000) & 0xFFFFFFFF if rng.random() < 0.8
                 else rng.randrange(-64, 64) & 0xFFFFFFFF)
        return A(f"{op} {PTR[size]} {m}, {r}")
    return g


for op in ("bt", "bts", "btr", "btc"):
    for s in (2, 4):
        for kind in ("rr", "ri", "mi", "mr"):
            F(f"{op}_{kind}{s}", _bt(op, s, kind), op)


def _bsx(op, size, mem):
    def g(rng, st):
        d = rng.choice(RN[size])
        if mem:
            mem_state(st, rng)
            mm = rng.choice(MEMS)
            if rng.random() < 0.25:
                put(st, ea_of(st, mm), 0, size)
            return A(f"{op} {d}, {PTR[size]} {mm}")
        s_ = rng.choice(RN[size])
        if rng.random() < 0.25:
            setr(st, s_, 0)
        return A(f"{op} {d}, {s_}")
    return g


for op in ("bsf", "bsr"):
    for s in (2, 4):
        F(f"{op}_r{s}", _bsx(op, s, False), op)
        F(f"{op}_m{s}", _bsx(op, s, True), op)

# SETcc CMOVcc Jcc: all sixteen conditions
for cc in range(16):
    def _set(rng, st, cc=cc):
        if rng.random() < 0.5:
            mem_state(st, rng)
            return bytes([0x0F, 0x90 + cc, 0x43, rng.getrandbits(8)])
        return bytes([0x0F, 0x90 + cc, 0xC0 | rng.randrange(8)])
    F(f"setcc_{cc:x}", _set)

    def _cmov(rng, st, cc=cc):
        pre = b"\x66" if rng.random() < 0.5 else b""
        if rng.random() < 0.5:
            mem_state(st, rng)
            return pre + bytes([0x0F, 0x40 + cc, 0x43 | rng.randrange(8) << 3, rng.getrandbits(8)])
        return pre + bytes([0x0F, 0x40 + cc, 0xC0 | rng.randrange(64)])
    F(f"cmovcc_{cc:x}", _cmov)

    def _jcc(rng, st, cc=cc):
        # taken: skips INC EAX and runs INC ECX; not taken: runs both
        x = rng.random()
        if x < 0.45:
            return bytes([0x70 + cc, 1, 0x40, 0x41])
        if x < 0.9:
            return bytes([0x0F, 0x80 + cc, 1, 0, 0, 0, 0x40, 0x41])
        return bytes([0x66, 0x0F, 0x80 + cc, 1, 0, 0x40, 0x41])     # rel16: EIP & 0xFFFF
    F(f"jcc_{cc:x}", _jcc)


# JMP CALL RET
def le32(v):
    return (v & 0xFFFFFFFF).to_bytes(4, "little")


F("jmp_rel", lambda rng, st: rng.choice([b"\xeb\x01\x40\x41", b"\xe9\x01\x00\x00\x00\x40\x41",
                                        b"\xeb\x00\x40", b"\x66\xe9\x01\x00\x40\x41"]))


@form("jmp_ind")
def _(rng, st):
    # MOV r, target; JMP r  /  JMP [mem]: target skips INC EAX
    if rng.random() < 0.5:
        r = rng.randrange(8)
        if r == 4:
            r = 0
        return bytes([0xB8 + r]) + le32(CODE + 8) + bytes([0xFF, 0xE0 + r, 0x40, 0x41])
    mem_state(st, rng)
    mm = rng.choice(MEMS)
    put(st, ea_of(st, mm), CODE + len(A(f"jmp dword ptr {mm}")) + 1, 4)
    return A(f"jmp dword ptr {mm}") + b"\x40\x41"


@form("call_rel")
def _(rng, st):
    # CALL over INC EAX; the callee is INC ECX (ends the run with the return address pushed)
    return rng.choice([b"\xe8\x01\x00\x00\x00\x40\x41", b"\x66\xe8\x01\x00\x40\x41"])


@form("call_ind")
def _(rng, st):
    if rng.random() < 0.5:
        r = rng.choice([0, 1, 2, 3, 5, 6, 7])
        return bytes([0xB8 + r]) + le32(CODE + 8) + bytes([0xFF, 0xD0 + r, 0x40, 0x41])
    mem_state(st, rng)
    mm = rng.choice(MEMS)
    c = A(f"call dword ptr {mm}")
    put(st, ea_of(st, mm), CODE + len(c) + 1, 4)
    return c + b"\x40\x41"


@form("ret")
def _(rng, st):
    # the return address on the stack skips INC EAX
    kind = rng.randrange(4)
    if kind == 0:
        code = b"\xc3"
    elif kind == 1:
        # imm16 below 0x8000 only: QEMU (Unicorn 2.1.4) sign-extends RET's imm16
        # (x86_ldsw_code), the SDM and hardware zero-extend it; bt zero-extends
        code = b"\xc2" + rng.randrange(0x8000).to_bytes(2, "little")
    elif kind == 2:
        code = b"\xc2\x00\x00"
    else:
        code = b"\x66\xc3"
    put(st, STACK_TOP, CODE + len(code) + 1, 4)
    return code + b"\x40\x41"


F("call_ret_pair", lambda rng, st: A("call f; inc eax; jmp e; f: inc ecx; ret; e: inc edx"))
F("call_ret_imm", lambda rng, st: A("push eax; push ebx; call f; inc eax; jmp e; f: inc ecx; ret 8; e: inc edx"))


# LOOP LOOPE LOOPNE JECXZ
@form("loop")
def _(rng, st):
    st.regs["ecx"] = rng.randrange(1, 25)
    return A("l: add eax, ebx; loop l; inc edx")


# Unicorn 2.1.4 (QEMU) bug: when LOOPE/LOOPNE falls through because ECX reached
# zero, the flags of the instructions before it in the same translated block are
# lost (EFLAGS reverts to its value at the block start; the SDM says LOOPcc
# changes no flag).  A JMP between the flag-setting instruction and LOOPcc ends
# QEMU's block there and avoids the bug; bt is checked as usual.
@form("loope")
def _(rng, st):
    st.regs["ecx"] = rng.randrange(1, 25)
    st.regs["ebx"] = rng.choice([0, 1, 2, 4, 0x100, rng.getrandbits(32)])
    return A("l: add eax, ebx; test al, 3; jmp n; n: loope l; inc edx")


@form("loopne")
def _(rng, st):
    st.regs["ecx"] = rng.randrange(1, 25)
    st.regs["ebx"] = rng.choice([0, 1, 2, 4, 0x100, rng.getrandbits(32)])
    return A("l: add eax, ebx; test al, 3; jmp n; n: loopne l; inc edx")


@form("loop_addr16")
def _(rng, st):
    # 0x67: the count is CX; ECX's upper half must stay
    st.regs["ecx"] = (st.regs["ecx"] & 0xFFFF0000) | rng.randrange(1, 25)
    op = rng.choice([0xE2, 0xE1, 0xE0])
    # add eax,ebx; test al,3; jmp $+2; loopX (CX); inc edx
    return bytes([0x01, 0xD8, 0xA8, 0x03, 0xEB, 0x00, 0x67, op, 0xF7, 0x42])


@form("jecxz")
def _(rng, st):
    if rng.random() < 0.5:
        st.regs["ecx"] = 0 if rng.random() < 0.5 else 0x10000
    return rng.choice([b"\xe3\x01\x40\x41", b"\x67\xe3\x01\x40\x41"])


# ENTER LEAVE
@form("enter")
def _(rng, st):
    level = rng.choice([0, 1, 2, 5])
    size = rng.choice([0, 4, 8, 0x10, rng.randrange(0x100)])
    st.regs["ebp"] = STACK_TOP - rng.randrange(0x40, 0x400)
    pre = b"\x66" if rng.random() < 0.3 else b""
    code = pre + b"\xc8" + size.to_bytes(2, "little") + bytes([level])
    if rng.random() < 0.3:
        code += pre + b"\xc9"
    return code


@form("leave")
def _(rng, st):
    st.regs["ebp"] = STACK_TOP - rng.randrange(-0x100, 0x800)
    return rng.choice([b"\xc9", b"\x66\xc9"])


# strings
STR_OP = {"movs": 0xA4, "cmps": 0xA6, "stos": 0xAA, "lods": 0xAC, "scas": 0xAE}


def _string(op, size, rep):
    def g(rng, st):
        st.regs["esi"] = DATA + 0x1000 + rng.randrange(0xE000)
        st.regs["edi"] = DATA + 0x1000 + rng.randrange(0xE000)
        st.regs["ecx"] = rng.randrange(0, 41) if rng.random() < 0.9 else rng.getrandbits(32) if not rep else 0
        if rng.random() < 0.5:
            st.eflags |= DF
        if op in ("cmps", "scas") and rng.random() < 0.6:
            n = rng.randrange(1, 45) * size
            if op == "cmps":
                blk = rng.randbytes(2 * n)
                st.extra_mem.append((st.regs["esi"] - n, blk))
                st.extra_mem.append((st.regs["edi"] - n, blk))
            else:
                el = (st.regs["eax"] & ((1 << 8 * size) - 1)).to_bytes(size, "little")
                st.extra_mem.append((st.regs["edi"] - n, el * (2 * n // size)))
            if rng.random() < 0.5:
                st.extra_mem.append((st.regs["edi"] + rng.randrange(-n, n), rng.randbytes(1)))
        pre = {None: b"", "rep": b"\xf3", "repne": b"\xf2"}[rep]
        if size == 2:
            pre += b"\x66"
        return pre + bytes([STR_OP[op] + (size > 1)])
    return g


for op in STR_OP:
    for s in (1, 2, 4):
        for rep in ((None, "rep", "repne") if op in ("cmps", "scas") else (None, "rep")):
            F(f"{op}{s}_{rep or 'norep'}", _string(op, s, rep), "cmp" if op in ("cmps", "scas") else None)


@form("movs_segovr")
def _(rng, st):
    st.regs["esi"] = DATA + 0x1000 + rng.randrange(0xE000)
    st.regs["edi"] = DATA + 0x1000 + rng.randrange(0xE000)
    st.regs["ecx"] = rng.randrange(0, 41)
    return bytes([rng.choice([0x26, 0x36, 0x2E, 0x3E]), 0xF3, rng.choice([0xA4, 0xA5, 0xAC])])


@form("movs_overlap")
def _(rng, st):
    # source and destination a few bytes apart: element-by-element semantics
    st.regs["esi"] = DATA + 0x1000 + rng.randrange(0xE000)
    st.regs["edi"] = st.regs["esi"] + rng.randrange(-9, 10)
    st.regs["ecx"] = rng.randrange(0, 41)
    if rng.random() < 0.5:
        st.eflags |= DF
    return bytes([0xF3]) + rng.choice([b"\xa4", b"\xa5", b"\x66\xa5"])


@form("repne_movs_stos_lods")
def _(rng, st):
    # F2 on MOVS/STOS/LODS repeats like F3
    st.regs["esi"] = DATA + 0x1000 + rng.randrange(0xE000)
    st.regs["edi"] = DATA + 0x1000 + rng.randrange(0xE000)
    st.regs["ecx"] = rng.randrange(0, 41)
    return b"\xf2" + bytes([rng.choice([0xA4, 0xA5, 0xAA, 0xAB, 0xAC, 0xAD])])


# BCD
@form("sal_digit6")
def _(rng, st):
    # D0-D3/C0/C1 /6: the undocumented SAL encoding, SHL on every CPU and in QEMU
    size = rng.choice([1, 2, 4])
    kind = rng.choice(["one", "cl", "imm"])
    code, key = _shift("shl", size, kind, rng.random() < 0.5)(rng, st)
    i = code.index(bytes([{"one": 0xD0, "cl": 0xD2, "imm": 0xC0}[kind] + (size > 1)])) + 1
    code = code[:i] + bytes([code[i] | 0x30]) + code[i + 1:]     # digit 4 -> 6
    return code, key


@form("idiv_edge", "idiv")
def _(rng, st):
    # quotients at and just past the signed limits, negative dividends and
    # divisors, remainders with the dividend's sign
    size = rng.choice([1, 2, 4])
    bits = 8 * size
    lim = 1 << (bits - 1)
    d = rng.choice([1, -1, 2, -2, 3, -3, 7, -7, lim - 1, -lim, rng.randrange(-lim, lim) or 5])
    q = rng.choice([lim - 1, -lim, lim, -lim - 1, 0, rng.randrange(-lim, lim)])
    r = rng.randrange(abs(d)) if d not in (1, -1) else 0
    n = q * d + (r if q * d >= 0 else -r)
    n &= (1 << 2 * bits) - 1
    if size == 1:
        setr(st, "ax", n)
        setr(st, "cl", d & 0xFF)
    else:
        setr(st, RN[size][0], n & ((1 << bits) - 1))
        setr(st, RN[size][2], n >> bits)
        setr(st, RN[size][1], d & ((1 << bits) - 1))
    return A(f"{rng.choice(['idiv', 'div'])} {RN[size][1]}")


@form("jmp_call_ind16")
def _(rng, st):
    # 66 FF /4 and /2: 16-bit targets (and a 16-bit return address)
    mem_state(st, rng)
    if rng.random() < 0.5:
        st.regs["eax"] = (rng.getrandbits(16) << 16) | (CODE + 5)
        return rng.choice([b"\x66\xff\xe0\x40\x41", b"\x66\xff\xd0\x40\x41"])
    put(st, st.regs["ebx"], CODE + 5, 2)
    return rng.choice([b"\x66\xff\x23\x40\x41", b"\x66\xff\x13\x40\x41"])


@form("mov_fs_gs")
def _(rng, st):
    mem_state(st, rng)
    # FS/GS overrides (flat in both machines)
    return bytes([rng.choice([0x64, 0x65])]) + A(f"mov {rng.choice(R32 + R8)}, {rng.choice(MEMS)}")


@form("ea_wrap")
def _(rng, st):
    # base + index*scale + disp wraps past 4 GiB into DATA
    k = rng.randrange(0x100, 0xF000)
    st.regs["esi"] = rng.randrange(0x100)
    st.regs["ebx"] = (DATA + k - 0x7FFFFFF0 - 4 * st.regs["esi"]) & 0xFFFFFFFF
    op = rng.choice(["mov eax, dword ptr", "add dword ptr {m}, ecx", "mov byte ptr {m}, dl"])
    m = "[ebx+esi*4+0x7ffffff0]"
    return A(f"{op} {m}" if "{m}" not in op else op.format(m=m))


for op, b in (("daa", 0x27), ("das", 0x2F), ("aaa", 0x37), ("aas", 0x3F)):
    F(op, lambda rng, st, b=b: bytes([b]), op)


@form("aam", "aam")
def _(rng, st):
    return bytes([0xD4, rng.choice([10, 0, 1, 16, rng.getrandbits(8)])])


@form("aad", "aad")
def _(rng, st):
    return bytes([0xD5, rng.choice([10, 0, 1, 16, rng.getrandbits(8)])])


@form("xlat")
def _(rng, st):
    if rng.random() < 0.5:
        st.regs["ebx"] = DATA + rng.randrange(0xFF00)
        return rng.choice([b"\xd7", b"\x26\xd7"])
    st.regs["ebx"] = (st.regs["ebx"] & 0xFFFF0000) | (0x8000 + rng.randrange(0x2000))
    st.extra_mem.append((0x8000, rng.randbytes(0x2200)))
    return b"\x67\xd7"


F("flag_ops", lambda rng, st: bytes(rng.choice([0xF8, 0xF9, 0xF5, 0xFC, 0xFD]) for _ in range(3)))

NOPS = [b"\x90", b"\x66\x90", b"\xf3\x90", b"\x0f\x1f\x00", b"\x0f\x1f\x40\x00",
        b"\x0f\x1f\x44\x00\x00", b"\x66\x0f\x1f\x44\x00\x00", b"\x0f\x1f\x80\x00\x00\x00\x00",
        b"\x0f\x1f\x84\x00\x00\x00\x00\x00", b"\x66\x0f\x1f\x84\x00\x00\x00\x00\x00",
        b"\x66\x2e\x0f\x1f\x84\x00\x00\x00\x00\x00", b"\x0f\x1f\xc0", b"\x66\x0f\x1f\xc1"]
F("nops", lambda rng, st: b"".join(rng.choice(NOPS) for _ in range(4)))


@form("undefined_opcodes")
def _(rng, st):
    # #UD in both: LOCK on a register destination or on NOP, LEA / CMPXCHG8B
    # with a register operand, UD2.  Other LOCK misuse is not compared because
    # Unicorn 2.1.4 gets it wrong: it runs LOCK MOV/TEST/ROL with a memory
    # operand (f0 8b 03, f0 85 03, f0 d1 03), reports a memory error for LOCK
    # MOVSB/BT m,r/TEST m,imm (f0 a4, f0 0f a3 03, f0 f7 03...), and aborts
    # the process on LOCK BTS r,r (f0 0f ab c0); bt raises #UD for all, as
    # the SDM says.
    mem_state(st, rng)
    return rng.choice([b"\xf0\x01\xc0", b"\xf0\x90", b"\x8d\xc0", b"\x0f\xc7\xc8", b"\x0f\x0b"])


@form("moffs_addr16")
def _(rng, st):
    # 67 A0/A1: a 16-bit moffs (reads planted bytes at 0x8000..)
    st.extra_mem.append((0x8000, rng.randbytes(0x1100)))
    return bytes([0x67, rng.choice([0xA0, 0xA1]), rng.getrandbits(8), 0x80 + rng.randrange(16)])


@form("popf_system")
def _(rng, st):
    # POPF at CPL 0 may also change IF, IOPL, NT, AC and ID (never TF here, nor VM/RF)
    v = rng.getrandbits(32) & (ARITH | DF | 0x200 | 0x3000 | 0x4000 | 0x40000 | 0x200000)
    put(st, STACK_TOP, v | 0x2, 4)
    return rng.choice([b"\x9d", b"\x66\x9d", b"\x9d\x9c", b"\x66\x9d\x66\x9c"])


# LOCK-prefixed read-modify-write forms
LOCKED = ["add", "adc", "sub", "sbb", "and", "or", "xor"]


@form("lock_alu")
def _(rng, st):
    mem_state(st, rng)
    s = rng.choice([1, 2, 4])
    mm = f"{PTR[s]} {rng.choice(MEMS)}"
    op = rng.choice(LOCKED)
    src = rng.choice(RN[s]) if rng.random() < 0.5 else f"{imm(rng, s):#x}"
    return A(f"lock {op} {mm}, {src}")


@form("lock_unary")
def _(rng, st):
    mem_state(st, rng)
    s = rng.choice([1, 2, 4])
    # LOCK NEG is left out: Unicorn 2.1.4 (QEMU) computes its flags wrongly
    # (f0 f6 1c 1e, seed 1: EFLAGS 0x93 where the unlocked f6 1c 1e gives 0x17,
    # as bt does for both); neg_m* covers NEG's semantics.
    return A(f"lock {rng.choice(['inc', 'dec', 'not'])} {PTR[s]} {rng.choice(MEMS)}")


@form("lock_xadd_cmpxchg_xchg")
def _(rng, st):
    mem_state(st, rng)
    s = rng.choice([1, 2, 4])
    mm = rng.choice(MEMS)
    op = rng.choice(["xadd", "cmpxchg", "xchg"])
    if op == "cmpxchg" and rng.random() < 0.5:
        put(st, ea_of(st, mm), st.regs["eax"], s)
    return A(f"lock {op} {PTR[s]} {mm}, {rng.choice(RN[s])}")


@form("lock_bts", "bts")
def _(rng, st):
    mem_state(st, rng)
    st.regs["ebx"] = DATA + 0x8000 + rng.randrange(-0x100, 0x100)
    s = rng.choice([2, 4])
    op = rng.choice(["bts", "btr", "btc"])
    if rng.random() < 0.5:
        return (b"\xf0" + (b"\x66" if s == 2 else b"") +
                bytes([0x0F, 0xBA, 0x43 | {"bts": 5, "btr": 6, "btc": 7}[op] << 3, 0x10, rng.getrandbits(8)]))
    setr(st, "ecx", rng.randrange(-0x3F000, 0x3F000) & 0xFFFFFFFF)
    return A(f"lock {op} {PTR[s]} [ebx], {RN[s][1]}")


# ---------------------------------------------------------------- the tests

@pytest.fixture(scope="module")
def runner():
    return Runner(STRATEGIES)


def _norm(out, mn):
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, mn


@pytest.mark.parametrize("name", list(FORMS))
def test_form(name, runner):
    gen, mn = FORMS[name]
    for seed in range(N):
        rng = random.Random(f"{name}/{seed}")
        st = base_state(rng)
        code, key = _norm(gen(rng, st), mn)
        runner.check(code, st, flag_mask=flag_mask(key) if key else 0xFFFFFFFF, seed=seed, what=name)


# ---------------------------------------------------------------- sequences
# Short programs with loops, calls and memory, without REP: besides the state,
# bt's retired-instruction count (m.stats["insns"]) must equal Unicorn's.

def _seq_count_loop(rng, st):
    st.regs["ecx"] = rng.randrange(1, 31)
    return A("l: add eax, ecx; dec ecx; jnz l; inc edx")


def _seq_loop_insn(rng, st):
    st.regs["ecx"] = rng.randrange(1, 31)
    return A("l: add eax, ebx; rol ebx, 3; loop l; inc edx")


def _seq_recursion(rng, st):
    st.regs["ecx"] = rng.randrange(1, 16)
    return A("call f; jmp e; f: dec ecx; jz r; push ecx; call f; pop ecx; add eax, ecx; r: ret; e: nop")


def _seq_memory(rng, st):
    st.regs["ebx"] = DATA + rng.randrange(0x100, 0xF000)
    st.regs["ecx"] = rng.randrange(0, 31)
    return A("l: mov al, [ebx+ecx]; add [ebx+ecx+1], al; adc edx, 0; dec ecx; jns l")


def _seq_gcd(rng, st):
    # Euclid by subtraction on small numbers
    st.regs["eax"] = rng.randrange(1, 60)
    st.regs["edx"] = rng.randrange(1, 60)
    return A("l: cmp eax, edx; je e; ja s; xchg eax, edx; s: sub eax, edx; jmp l; e: nop")


def _seq_sort(rng, st):
    # bubble sort of 8 bytes at [ebx]
    st.regs["ebx"] = DATA + rng.randrange(0x100, 0xF000)
    return A("mov edx, 7; o: xor ecx, ecx; i: mov al, [ebx+ecx]; mov ah, [ebx+ecx+1]; cmp al, ah; "
             "jbe n; mov [ebx+ecx], ah; mov [ebx+ecx+1], al; n: inc ecx; cmp ecx, edx; jb i; "
             "dec edx; jnz o")


def _seq_setcc_cmov(rng, st):
    st.regs["ecx"] = rng.randrange(1, 20)
    return A("l: add eax, ebx; setc dl; cmovo esi, eax; sbb edi, ecx; seto dh; jecxz e; "
             "dec ecx; jmp l; e: nop")


def _seq_div_fault(rng, st):
    # a loop whose divisor reaches zero: #DE at the DIV, in the middle of a block
    st.regs["ecx"] = rng.randrange(1, 10)
    return A("l: xor edx, edx; mov eax, 1000; div ecx; add esi, eax; dec ecx; jmp l")


SEQS = {"count_loop": _seq_count_loop, "loop_insn": _seq_loop_insn, "recursion": _seq_recursion,
        "memory": _seq_memory, "gcd": _seq_gcd, "sort": _seq_sort, "setcc_cmov": _seq_setcc_cmov}


@pytest.mark.parametrize("name", list(SEQS))
def test_sequence_insn_count(name, runner):
    gen = SEQS[name]
    for seed in range(N):
        rng = random.Random(f"seq/{name}/{seed}")
        st = base_state(rng)
        code = gen(rng, st)
        want = runner.check(code, st, seed=seed, count=True, what=name)
        assert want.vector is None and want.insns > 1


def test_div_fault_in_loop(runner):
    # the run stops with #DE at the faulting DIV in both (Unicorn counts the
    # faulting instruction, bt does not retire it, so counts are not compared)
    for seed in range(N):
        rng = random.Random(f"seq/div/{seed}")
        st = base_state(rng)
        want = runner.check(_seq_div_fault(rng, st), st, seed=seed, what="div_fault")
        assert want.vector == 0 and want.eip == CODE + 7     # the DIV


# ---------------------------------------------------------------- random blocks
# Blocks of ten register-only forms drawn at random: flags and registers flow
# from one instruction into the next inside a translated block.
# Forms that may fault (DIV IDIV AAM) are left out: Unicorn 2.1.4 loses lazily
# computed flags when an exception ends a block after a shift by CL (random
# block seed 64 of an earlier draw: d3ea (SHR EDX,CL with CL=0x21, OF=1) then
# 66f7f3 (DIV BX, #DE): Unicorn reports OF=0, but a faulting instruction
# changes nothing; bt keeps OF=1).  Faults are covered by the single forms and
# test_div_fault_in_loop.

_REG_ONLY = re.compile(
    r"^((add|adc|sub|sbb|cmp|and|or|xor|test)_(rr|ri|acc)\d|\w+_ri8_\d|(inc|dec|neg|not)_r\d|"
    r"(mul|imul)_r\d|imul2_rr|(rol|ror|rcl|rcr|shl|shr|sar|shld|shrd)_\w+_r\d|"
    r"(bt|bts|btr|btc)_r[ri]\d|(bsf|bsr)_r\d|mov_r[ri]\d|(movzx|movsx)_r\d|(xchg|xadd)_rr\d|"
    r"cmpxchg_r\d|bswap|lea32|lea_addr16|cbw_cwde|cwd_cdq|lahf|sahf|daa|das|aaa|aas|aad|"
    r"flag_ops|nops|jcc_\w|inc_dec_short|xchg_eax_short)$")
REG_FORMS = [n for n in FORMS if _REG_ONLY.match(n)]


def test_random_blocks(runner):
    assert len(REG_FORMS) > 150
    for seed in range(3 * N // 2):
        rng = random.Random(f"block/{seed}")
        st = base_state(rng)
        code = b"".join(_norm(FORMS[n][0](rng, st), None)[0] for n in rng.choices(REG_FORMS, k=10))
        runner.check(code, st, seed=seed, count=True, what="random block")


# Blocks of ten random memory and register instructions whose register operands
# are EAX/ECX/EDX only, so that EBX/EBP/ESI/EDI keep addressing DATA.
_LO = {1: ["al", "cl", "dl", "ah", "ch", "dh"], 2: ["ax", "cx", "dx"], 4: ["eax", "ecx", "edx"]}
_CC = ["o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"]


def _mem_insn(rng):
    s = rng.choice([1, 2, 4])
    r = rng.choice(_LO[s])
    m = f"{PTR[s]} {rng.choice(MEMS)}"
    k = rng.randrange(14)
    if k == 0:
        return f"{rng.choice(LOCKED + ['cmp', 'test', 'mov'])} {m}, {r}"
    if k == 1:
        return f"{rng.choice(LOCKED + ['cmp', 'mov'])} {r}, {m}"
    if k == 2:
        return f"{rng.choice(LOCKED + ['cmp', 'mov', 'test'])} {m}, {imm(rng, s) if s == 1 else rng.randrange(-128, 128) & 0xFF:#x}"
    if k == 3:
        return f"{rng.choice(['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sar'])} {m}, {rng.choice(['1', 'cl', str(rng.randrange(32))])}"
    if k == 4:
        return f"{rng.choice(['inc', 'dec', 'neg', 'not', 'mul', 'imul'])} {m}"
    if k == 5:
        return f"set{rng.choice(_CC)} byte ptr {rng.choice(MEMS)}"
    if k == 6 and s > 1:
        return f"cmov{rng.choice(_CC)} {r}, {m}"
    if k == 7 and s > 1:
        return f"{rng.choice(['bt', 'bts', 'btr', 'btc'])} {m}, {rng.randrange(32)}"
    if k == 8:
        return f"{rng.choice(['xchg', 'xadd', 'cmpxchg'])} {m}, {r}"
    if k == 9 and s > 1:
        return f"{rng.choice(['movzx', 'movsx'])} {rng.choice(_LO[4])}, {PTR[rng.choice([1, 2])]} {rng.choice(MEMS)}"
    if k == 10 and s > 1:
        return f"{rng.choice(['push', 'pop'])} {PTR[s]} {rng.choice(MEMS)}"
    if k == 11:
        return f"{rng.choice(['push', 'pop'])} {rng.choice(_LO[4])}"
    if k == 12 and s > 1:
        return f"{rng.choice(['shld', 'shrd'])} {m}, {r}, {rng.choice(['cl', str(rng.randrange(32))])}"
    return f"{rng.choice(['add', 'adc', 'sub', 'sbb', 'and', 'or', 'xor', 'cmp'])} {r}, {rng.choice(_LO[s])}"


def test_random_memory_blocks(runner):
    for seed in range(3 * N // 2):
        rng = random.Random(f"memblock/{seed}")
        st = base_state(rng)
        mem_state(st, rng)
        code = b"".join(A(_mem_insn(rng)) for _ in range(10))
        runner.check(code, st, seed=seed, count=True, what="random memory block")


# Self-modifying code: stores into instructions later in the same block.
def _smc(rng, st):
    k = rng.randrange(0, 6)
    kind = rng.randrange(3)
    if kind == 0:
        # MOV byte [X], 41..43 turns the INC EAX at X into INC ECX/EDX/EBX
        x = CODE + 7 + k
        return b"\xc6\x05" + le32(x) + bytes([rng.choice([0x41, 0x42, 0x43])]) + b"\x90" * k + b"\x40\x40"
    if kind == 1:
        # MOV [X+1], EBX rewrites the immediate of the MOV EAX, imm32 at X
        x = CODE + 6 + k
        return b"\x89\x1d" + le32(x + 1) + b"\x90" * k + b"\xb8\x11\x22\x33\x44\x40"
    # REP STOSB fills the NOPs after it with AL
    n = rng.randrange(0, 12)
    st.regs["edi"] = CODE + 3 + rng.randrange(0, 4)
    st.regs["ecx"] = n
    st.regs["eax"] = (st.regs["eax"] & ~0xFF) | rng.choice([0x40, 0x41, 0x42, 0x90, 0x47])
    return b"\xfc\xf3\xaa" + b"\x90" * 16 + b"\x40"


def test_self_modifying_code(runner):
    for seed in range(N):
        rng = random.Random(f"smc/{seed}")
        st = base_state(rng)
        code = _smc(rng, st)
        try:
            # no count: Unicorn's code hook counts the storing instruction twice
            # when QEMU retranslates the block it is in (9 for 8 retired)
            runner.check(code, st, seed=seed, what="self-modifying code")
        finally:
            runner._code = None         # the code page was changed: rewrite it next time
