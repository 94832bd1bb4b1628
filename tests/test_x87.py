"""The x87 FPU, differential: bt against the host CPU (the authority) and Unicorn.

Every case is one x87 instruction run from a random full x87 state (random TOP,
tags, control word with every precision and rounding control, sticky flags,
registers drawn from the special encodings: +-0, +-inf, QNaN, SNaN, the
default NaN, denormals, pseudo-denormals, unnormals, pseudo-NaNs and
pseudo-infinities, huge and tiny exponents, integers) and a random memory
operand of the instruction's format.  The guest program is

    frstor [STATE]; <insn with its memory operand at [ebx]>; fnsave [OUT]; hlt

so the state goes in and out through the guest's own FRSTOR/FNSAVE.  The host
runs the same instruction between FXRSTOR and FNSAVE (tests/x87_host.py).
Compared bit for bit: the control, status and tag words, the eight 80-bit
registers, the memory operand after the instruction and EFLAGS (FCOMI & co.).
The pointer fields of FNSAVE (FIP/FCS/FOP/FDP/FDS) hold host addresses on the
host and are checked separately (test_pointers).
"""
import random
import struct

import pytest

from bt import ExitKind, Machine
from tests.x87_host import HostX87, fnsave_image, fxsave_image, parse_fnsave

RAM = 1 << 20
CODE = 0x1000
STATE = 0x10000       # FRSTOR image
OUT = 0x10100         # FNSAVE image
OPND = 0x10200        # the memory operand ([ebx])

HOST = HostX87()


# ---------------------------------------------------------------- values

def f80(sign, exp, mant):
    return struct.pack("<QH", mant & (2**64 - 1), (sign << 15) | exp)


def rand_f80(rng):
    s = rng.getrandbits(1)
    k = rng.randrange(16)
    r64 = rng.getrandbits(64)
    if k == 0:
        return f80(s, 0, 0)                                      # +-0
    if k == 1:
        return f80(s, 0x7FFF, 1 << 63)                           # +-inf
    if k == 2:
        return f80(s, 0x7FFF, (3 << 62) | (r64 >> 2) * rng.getrandbits(1))   # QNaN (incl. default)
    if k == 3:
        return f80(s, 0x7FFF, (1 << 63) | ((r64 >> 2) or 1))    # SNaN
    if k == 4:
        return f80(s, 0, (r64 >> 1) or 1)                        # denormal
    if k == 5:
        return f80(s, 0, (1 << 63) | (r64 >> 1))                 # pseudo-denormal
    if k == 6:
        return f80(s, rng.randrange(1, 0x7FFF), r64 >> 1)         # unnormal (unsupported)
    if k == 7:
        return f80(s, 0x7FFF, r64 >> 1)                          # pseudo-NaN / pseudo-inf
    if k == 8:
        return f80(s, rng.randrange(0x7FF0, 0x7FFF), (1 << 63) | r64)   # huge
    if k == 9:
        return f80(s, rng.randrange(1, 0x10), (1 << 63) | r64)   # tiny
    if k == 10:                                                  # a small integer
        v = rng.randrange(1, 1 << rng.randrange(1, 64))
        e = v.bit_length() - 1
        return f80(s, 0x3FFF + e, v << (63 - e))
    if k == 11:                                                  # near the double/float range ends
        return f80(s, rng.choice((0x3C00, 0x3C01, 0x43FE, 0x43FF, 0x3F80, 0x3F81, 0x407E, 0x407F)),
                   (1 << 63) | r64)
    return f80(s, rng.randrange(0x3FFF - 70, 0x3FFF + 70), (1 << 63) | r64)   # ordinary


def rand_f32(rng):
    k = rng.randrange(8)
    s = rng.getrandbits(1) << 31
    if k == 0:
        return struct.pack("<I", s)
    if k == 1:
        return struct.pack("<I", s | 0x7F800000)
    if k == 2:
        return struct.pack("<I", s | 0x7FC00000 | rng.getrandbits(22) * rng.getrandbits(1))
    if k == 3:
        return struct.pack("<I", s | 0x7F800000 | (rng.getrandbits(22) or 1))
    if k == 4:
        return struct.pack("<I", s | (rng.getrandbits(23) or 1))
    return struct.pack("<I", s | (rng.randrange(0x60, 0xA0) << 23) | rng.getrandbits(23))


def rand_f64(rng):
    k = rng.randrange(8)
    s = rng.getrandbits(1) << 63
    if k == 0:
        return struct.pack("<Q", s)
    if k == 1:
        return struct.pack("<Q", s | 0x7FF0 << 48)
    if k == 2:
        return struct.pack("<Q", s | 0x7FF8 << 48 | rng.getrandbits(51) * rng.getrandbits(1))
    if k == 3:
        return struct.pack("<Q", s | 0x7FF0 << 48 | (rng.getrandbits(51) or 1))
    if k == 4:
        return struct.pack("<Q", s | (rng.getrandbits(52) or 1))
    return struct.pack("<Q", s | (rng.randrange(0x3C0, 0x440) << 52) | rng.getrandbits(52))


def rand_int(rng, n):
    k = rng.randrange(4)
    bits = 8 * n
    if k == 0:
        v = rng.choice((0, 1, -1, (1 << (bits - 1)) - 1, -(1 << (bits - 1))))
    elif k == 1:
        v = rng.randrange(-1000, 1000)
    else:
        v = rng.getrandbits(bits)
    return (v & ((1 << bits) - 1)).to_bytes(n, "little")


def rand_bcd(rng):
    if rng.randrange(4) == 0:
        return rng.randbytes(10)                                 # invalid digits too
    digits = [rng.randrange(10) for _ in range(18)]
    b = bytes(digits[2 * i] | (digits[2 * i + 1] << 4) for i in range(9))
    return b + bytes([rng.choice((0, 0x80))])


# memory forms: (escape, reg) -> (operand generator, size)
def _mem_forms():
    forms = {}
    for r in range(8):
        forms[(0xD8, r)] = (rand_f32, 4)
        forms[(0xDA, r)] = (lambda g: rand_int(g, 4), 4)
        forms[(0xDC, r)] = (rand_f64, 8)
        forms[(0xDE, r)] = (lambda g: rand_int(g, 2), 2)
    for r in (0, 2, 3):
        forms[(0xD9, r)] = (rand_f32, 4)
        forms[(0xDD, r)] = (rand_f64, 8)
    for r in (0, 2, 3):
        forms[(0xDB, r)] = (lambda g: rand_int(g, 4), 4)
        forms[(0xDF, r)] = (lambda g: rand_int(g, 2), 2)
    forms[(0xDB, 5)] = (rand_f80, 10)
    forms[(0xDB, 7)] = (rand_f80, 10)
    forms[(0xDF, 4)] = (rand_bcd, 10)
    forms[(0xDF, 5)] = (lambda g: rand_int(g, 8), 8)
    forms[(0xDF, 6)] = (rand_bcd, 10)
    forms[(0xDF, 7)] = (lambda g: rand_int(g, 8), 8)
    return forms


MEM_FORMS = _mem_forms()


def rand_env(rng):
    st = rand_state(rng, unmask=True, pending=rng.getrandbits(1))
    return fnsave_image(st)[:28]


# control forms with a memory operand; the first four and the register ones
# below do not wait, so they also run from states with a pending exception
NOWAIT_MEM = {(0xD9, 6): (lambda g: b"", 28), (0xD9, 7): (lambda g: b"", 2),
              (0xDD, 6): (lambda g: b"", 108), (0xDD, 7): (lambda g: b"", 2)}
WAIT_MEM = {(0xD9, 4): (rand_env, 28), (0xD9, 5): (lambda g: g.randbytes(2), 2),
            (0xDD, 4): (lambda g: fnsave_image(rand_state(g, unmask=True, pending=g.getrandbits(1))), 108)}
NOWAIT_REG = [(0xDB, 0xE0), (0xDB, 0xE1), (0xDB, 0xE2), (0xDB, 0xE3), (0xDB, 0xE4), (0xDF, 0xE0)]

# register forms that exist and compute (the control ones are tested on their own)
REG_FORMS = []
for esc in range(0xD8, 0xE0):
    for modrm in range(0xC0, 0x100):
        e, m = esc, modrm
        if e == 0xD9 and (0xD1 <= m <= 0xD7 or m in (0xE2, 0xE3, 0xE6, 0xE7, 0xEF)):
            continue
        if e == 0xDA and m >= 0xE0 and m != 0xE9:
            continue
        if e == 0xDB and (0xE0 <= m <= 0xE7 or m >= 0xF8):
            continue
        if e == 0xDD and m >= 0xF0:
            continue
        if e == 0xDE and 0xD8 <= m <= 0xDF and m != 0xD9:
            continue
        if e == 0xDF and (0xE0 <= m <= 0xE7 or m >= 0xF8):
            continue
        REG_FORMS.append((e, m))

TRANSCENDENTAL = [(0xD9, m) for m in (0xF0, 0xF1, 0xF2, 0xF3, 0xF9, 0xFB, 0xFE, 0xFF)]


def rand_state(rng, unmask=False, pending=False):
    """A random x87 state; pending=True may leave an unmasked exception flag set
    (ES=1: only for the non-waiting instructions, the host would trap)."""
    cw = 0x40 | (rng.choice((0, 2, 3)) << 8) | (rng.randrange(4) << 10)
    cw |= rng.getrandbits(6) if unmask or pending else 0x3F
    top = rng.randrange(8)
    tw = 0
    for phys in range(8):
        if rng.randrange(5) == 0:
            tw |= 3 << (2 * phys)
    flags = rng.getrandbits(7) & (0x7F if pending else cw & 0x3F)    # sticky flags
    sw = (top << 11) | (rng.getrandbits(4) & 0x7) << 8 | (rng.getrandbits(1) << 14) | flags
    if flags & ~cw & 0x3F:
        sw |= 0x8080                                 # ES and B
    return {"cw": cw, "sw": sw, "tw": tw, "st": [rand_f80(rng) for _ in range(8)]}


def guest_code(esc, modrm):
    if modrm < 0xC0:
        modrm = (modrm & 0x38) | 3          # [ebx]
    return (b"\xdd\x25" + struct.pack("<I", STATE) + bytes([esc, modrm]) +
            b"\xdd\x35" + struct.pack("<I", OUT) + b"\xf4")


class Bt:
    def __init__(self, strategy):
        self.m = Machine(ram_size=RAM, strategy=strategy, intercept="all")

    def run(self, esc, modrm, state, mem, eflags, cr0_extra=0):
        m = self.m
        m.mem.write(CODE, guest_code(esc, modrm))
        m.mem.write(STATE, fnsave_image(state))
        m.mem.write(OPND, mem.ljust(112, b"\0"))
        m.mem.write(OUT, bytes(108))
        m.cpu.ebx = OPND
        m.cpu.eflags = 0x2 | (eflags & 0x8D5)
        m.cpu.eip = CODE
        ex = m.run(10)
        assert ex.kind == ExitKind.HLT, f"{bytes([esc, modrm]).hex()}: {ex}"
        return m.mem.read(OUT, 108), m.mem.read(OPND, 112), m.cpu.eflags, m.cpu.ax


def fmt_state(s):
    return (f"cw={s['cw']:#06x} sw={s['sw']:#06x} tw={s['tw']:#06x} " +
            " ".join(r[::-1].hex() for r in s["st"]))


# bytes of a stored environment that hold pointers (host addresses on the host)
ENV_POINTERS = range(12, 28)


def compare(esc, modrm, got, want):
    gi, gm, gf, gax = got
    wi, wm, wf, wax = want
    g, w = parse_fnsave(gi), parse_fnsave(wi)
    diffs = []
    for k in ("cw", "sw", "tw"):
        if g[k] != w[k]:
            diffs.append(f"{k}: {g[k]:#06x} != host {w[k]:#06x}")
    for i in range(8):
        if g["st"][i] != w["st"][i]:
            diffs.append(f"st{i}: {g['st'][i][::-1].hex()} != host {w['st'][i][::-1].hex()}")
    if modrm < 0xC0 and (esc, (modrm >> 3) & 7) in ((0xD9, 6), (0xDD, 6)):
        gm = bytes(0 if i in ENV_POINTERS else b for i, b in enumerate(gm))
        wm = bytes(0 if i in ENV_POINTERS else b for i, b in enumerate(wm))
    if gm != wm:
        diffs.append(f"memory: {gm.hex()} != host {wm.hex()}")
    if (gf ^ wf) & 0x8D5:
        diffs.append(f"eflags: {gf:#x} != host {wf:#x}")
    if (esc, modrm) == (0xDF, 0xE0) and gax != wax:
        diffs.append(f"ax: {gax:#06x} != host {wax:#06x}")
    return diffs


def one_case(rng, bt, esc, modrm, unmask=False, pending=False):
    st = rand_state(rng, unmask, pending)
    mem = b""
    if modrm < 0xC0:
        k = (esc, (modrm >> 3) & 7)
        gen, n = MEM_FORMS.get(k) or NOWAIT_MEM.get(k) or WAIT_MEM[k]
        mem = gen(rng)
    eflags = rng.getrandbits(12) & 0x8D5
    want = HOST.run(esc, modrm, st, mem, eflags)
    got = bt.run(esc, modrm, st, mem, eflags)
    d = compare(esc, modrm, got, want)
    if d:
        raise AssertionError(f"{bytes([esc, modrm]).hex()} from {fmt_state(st)} mem={mem.hex()} "
                             f"eflags={eflags:#x}:\n  " + "\n  ".join(d))


@pytest.fixture(scope="module")
def machines():
    return {}


def _bt(machines, strategy):
    if strategy not in machines:
        machines[strategy] = Bt(strategy)
    return machines[strategy]


def test_register_forms_vs_host(strategy, machines):
    """Every register form that computes, 6 random states each."""
    rng = random.Random(1)
    bt = _bt(machines, strategy)
    for esc, modrm in REG_FORMS:
        for _ in range(6):
            one_case(rng, bt, esc, modrm)


def test_memory_forms_vs_host(strategy, machines):
    """Every memory form (loads, arithmetic, stores, FBLD/FBSTP, integers)."""
    rng = random.Random(2)
    bt = _bt(machines, strategy)
    for (esc, reg) in MEM_FORMS:
        for _ in range(40):
            one_case(rng, bt, esc, reg << 3)


def test_unmasked_exceptions_vs_host(strategy, machines):
    """Random exception masks: unmasked responses (destination left alone, the
    scaled results of unmasked #O/#U, stores that do not happen), ES and B."""
    rng = random.Random(3)
    bt = _bt(machines, strategy)
    forms = REG_FORMS + [(e, r << 3) for (e, r) in MEM_FORMS]
    for _ in range(3000):
        esc, modrm = rng.choice(forms)
        one_case(rng, bt, esc, modrm, unmask=True)


def test_transcendentals_vs_host(strategy, machines):
    """F2XM1 FYL2X FPTAN FPATAN FYL2XP1 FSQRT FSINCOS FSIN FCOS: bit-exact with
    the host (bt runs them on the host's x87)."""
    rng = random.Random(4)
    bt = _bt(machines, strategy)
    for esc, modrm in TRANSCENDENTAL:
        for _ in range(200):
            one_case(rng, bt, esc, modrm)


def test_control_forms_vs_host(strategy, machines):
    """FLDCW FNSTCW FNSTSW (m16, AX) FNCLEX FNINIT FLDENV FNSTENV FRSTOR FNSAVE
    FENI/FDISI/FSETPM; the non-waiting ones also from states with ES=1."""
    rng = random.Random(5)
    bt = _bt(machines, strategy)
    for _ in range(100):
        for (esc, reg) in NOWAIT_MEM:
            one_case(rng, bt, esc, reg << 3, pending=True)
        for (esc, reg) in WAIT_MEM:
            one_case(rng, bt, esc, reg << 3, unmask=True)
        for esc, modrm in NOWAIT_REG:
            one_case(rng, bt, esc, modrm, pending=True)


# ---------------------------------------------------------------- Unicorn

class UcX87:
    """The same guest program in Unicorn (QEMU's x87, softfloat)."""

    def __init__(self):
        import unicorn
        from unicorn import x86_const as U
        self.U = U
        self.uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32)
        self.uc.mem_map(0, RAM)
        self.ctx = self.uc.context_save()

    def run(self, esc, modrm, state, mem, eflags):
        uc, U = self.uc, self.U
        code = guest_code(esc, modrm)
        uc.context_restore(self.ctx)
        uc.mem_write(CODE, code)
        uc.mem_write(STATE, fnsave_image(state))
        uc.mem_write(OPND, mem.ljust(112, b"\0"))
        uc.mem_write(OUT, bytes(108))
        uc.reg_write(U.UC_X86_REG_EBX, OPND)
        uc.reg_write(U.UC_X86_REG_EFLAGS, 2 | (eflags & 0x8D5))
        uc.emu_start(CODE, CODE + len(code) - 1)
        return (bytes(uc.mem_read(OUT, 108)), bytes(uc.mem_read(OPND, 112)),
                uc.reg_read(U.UC_X86_REG_EFLAGS), uc.reg_read(U.UC_X86_REG_AX))


def tame_f80(rng):
    k = rng.randrange(10)
    s = rng.getrandbits(1)
    if k == 0:
        return f80(s, 0, 0)
    if k == 1:
        return f80(s, 0x7FFF, 1 << 63)
    if k == 2:
        v = rng.randrange(1, 1 << rng.randrange(1, 64))
        e = v.bit_length() - 1
        return f80(s, 0x3FFF + e, v << (63 - e))
    return f80(s, rng.randrange(0x3FFF - 70, 0x3FFF + 70), (1 << 63) | rng.getrandbits(64))


def tame_state(rng):
    """All masked, 64-bit precision, nearest; ST(7) empty and the rest valid
    (no stack fault: QEMU does not model #IS)."""
    st = rand_state(rng)
    st["cw"] = 0x37F
    st["st"] = [tame_f80(rng) for _ in range(8)]
    top = (st["sw"] >> 11) & 7
    st["tw"] = 3 << (2 * ((top + 7) & 7))
    return st


def tame_f32(rng):
    v = struct.unpack("<I", rand_f32(rng))[0]
    if (v >> 23) & 0xFF == 0xFF and v & 0x7FFFFF:
        v |= 1 << 22                  # quiet NaNs only
    return struct.pack("<I", v)


def tame_f64(rng):
    v = struct.unpack("<Q", rand_f64(rng))[0]
    if (v >> 52) & 0x7FF == 0x7FF and v & (2**52 - 1):
        v |= 1 << 51                  # quiet NaNs only
    return struct.pack("<Q", v)


# Known differences of Unicorn's x87 (QEMU, softfloat) from the host, found by
# this test and left out of the Unicorn comparison (the host is the authority
# and bt equals the host on all of them, which the test also checks):
# - no stack overflow/underflow (#IS): pushing onto a full register or reading
#   an empty one computes with the stale contents;
# - the sticky exception flags and SF often differ (IE/SF missing, PE and C1
#   round-up not always set);
# - FCOMI/FCOMIP/FUCOMI/FUCOMIP leave OF SF AF instead of clearing them;
# - FLD m32/m64 of a signalling NaN does not set the quiet bit;
# - FPREM/FPREM1 compute through double (low significand bits lost, quotient
#   bits C0 C3 C1 differ) and FXTRACT of infinity is wrong;
# - FBSTP loses the sign of a negative value that rounds to zero;
# - the transcendentals are computed through double (not to 64 bits);
# - C0-C3 where the SDM leaves them undefined (FSQRT, FINCSTP, ...) are
#   not preserved.
UC_SKIP = set(TRANSCENDENTAL) | {(0xD9, 0xF8), (0xD9, 0xF5), (0xD9, 0xF4)}
UC_MEM_SKIP = {(0xDF, 6)}
UC_CC_DEFINED = ({(0xD8, m) for m in range(0xD0, 0xE0)} | {(0xDC, m) for m in range(0xD0, 0xE0)} |
                 {(0xDE, m) for m in range(0xD0, 0xD8)} | {(0xDE, 0xD9), (0xDA, 0xE9), (0xD9, 0xE4),
                                                           (0xD9, 0xE5)} |
                 {(0xDD, m) for m in range(0xE0, 0xF0)})
UC_CC_DEFINED_MEM = {(0xD8, 2), (0xD8, 3), (0xDC, 2), (0xDC, 3), (0xDA, 2), (0xDA, 3), (0xDE, 2), (0xDE, 3)}


def test_vs_unicorn(strategy, machines):
    """bt against Unicorn on ordinary operands (and against the host on the same
    cases): ST registers bit for bit, tags, TOP, the condition codes where the
    SDM defines them, the memory operand, ZF/PF/CF of FCOMI."""
    pytest.importorskip("unicorn")
    rng = random.Random(6)
    bt = _bt(machines, strategy)
    uc = UcX87()
    forms = [f for f in REG_FORMS if f not in UC_SKIP and (f[1] & 7) != 7] + \
        [(e, r << 3) for (e, r) in MEM_FORMS if (e, r) not in UC_MEM_SKIP]
    gens = {rand_f32: tame_f32, rand_f64: tame_f64, rand_f80: tame_f80}
    for _ in range(3000):
        esc, modrm = rng.choice(forms)
        st = tame_state(rng)
        mem = b""
        if modrm < 0xC0:
            gen, n = MEM_FORMS[(esc, (modrm >> 3) & 7)]
            mem = gens.get(gen, gen)(rng)
        eflags = rng.getrandbits(12) & 0x8D5
        got = bt.run(esc, modrm, st, mem, eflags)
        d = compare(esc, modrm, got, HOST.run(esc, modrm, st, mem, eflags))
        want = uc.run(esc, modrm, st, mem, eflags)
        g, w = parse_fnsave(got[0]), parse_fnsave(want[0])
        ccmask = 0x3800
        if (esc, modrm) in UC_CC_DEFINED or (modrm < 0xC0 and (esc, (modrm >> 3) & 7) in UC_CC_DEFINED_MEM):
            ccmask |= 0x4500
        if (g["sw"] ^ w["sw"]) & ccmask:
            d.append(f"sw: {g['sw']:#06x} != unicorn {w['sw']:#06x} (mask {ccmask:#x})")
        if g["tw"] != w["tw"]:
            d.append(f"tw: {g['tw']:#06x} != unicorn {w['tw']:#06x}")
        for i in range(8):
            if g["st"][i] != w["st"][i]:
                d.append(f"st{i}: {g['st'][i][::-1].hex()} != unicorn {w['st'][i][::-1].hex()}")
        if got[1] != want[1]:
            d.append(f"memory: {got[1][:16].hex()} != unicorn {want[1][:16].hex()}")
        if (got[2] ^ want[2]) & 0x45:
            d.append(f"eflags: {got[2]:#x} != unicorn {want[2]:#x}")
        if d:
            raise AssertionError(f"{bytes([esc, modrm]).hex()} from {fmt_state(st)} mem={mem.hex()} "
                                 f"eflags={eflags:#x}:\n  " + "\n  ".join(d))


# ---------------------------------------------------------------- FXSAVE/FXRSTOR

FXBUF = 0x11000       # 16-byte aligned


def test_fxsave_fxrstor_vs_host(strategy, machines):
    """FXSAVE (0F AE /0) against the host's FXSAVE of the same state: control,
    status, abridged tag word and the registers (the pointers and MXCSR are the
    host's own there); FXRSTOR (0F AE /1) of an image, then FNSAVE, against the
    host doing the same."""
    rng = random.Random(7)
    m = _bt(machines, strategy).m
    for _ in range(200):
        st = rand_state(rng, unmask=True, pending=True)
        # FXSAVE: frstor [STATE]; fxsave [ebx]; hlt
        _, want, _, _ = HOST.run_bytes(b"\x0f\xae\x07", st, nmem=512)
        m.mem.write(CODE, b"\xdd\x25" + struct.pack("<I", STATE) + b"\x0f\xae\x03\xf4")
        m.mem.write(STATE, fnsave_image(st))
        m.mem.write(FXBUF, bytes(512))
        m.cpu.ebx = FXBUF
        m.cpu.eip = CODE
        assert m.run(10).kind == ExitKind.HLT
        got = m.mem.read(FXBUF, 512)
        assert got[0:6] == want[0:6], (got[:6].hex(), want[:6].hex())
        assert got[32:160] == want[32:160]
        # FXRSTOR: fxrstor [ebx]; fnsave [OUT]; hlt, from an image with ES possibly set
        st2 = rand_state(rng, unmask=True, pending=True)
        img = fxsave_image(st2)
        himg, _, _, _ = HOST.run_bytes(b"\x0f\xae\x0f", st, mem=img)
        m.mem.write(CODE, b"\x0f\xae\x0b\xdd\x35" + struct.pack("<I", OUT) + b"\xf4")
        m.mem.write(FXBUF, img)
        m.cpu.eip = CODE
        assert m.run(10).kind == ExitKind.HLT
        g, w = parse_fnsave(m.mem.read(OUT, 108)), parse_fnsave(himg)
        assert g == w, (g, w)


def test_fxsave_faults(strategy):
    m = Machine(ram_size=RAM, strategy=strategy, intercept="all")
    m.mem.write(CODE, b"\x0f\xae\x03\xf4")         # fxsave [ebx]
    m.cpu.ebx = FXBUF + 8
    m.cpu.eip = CODE
    ex = m.run(10)
    assert (ex.kind, ex.vector, ex.error_code, m.cpu.eip) == (ExitKind.EXCEPTION, 13, 0, CODE)
    m.cpu.ebx = FXBUF
    m.cpu.cr0 = m.cpu.cr0 | 8                       # TS
    ex = m.run(10)
    assert (ex.kind, ex.vector, m.cpu.eip) == (ExitKind.EXCEPTION, 7, CODE)
    m.cpu.cr0 = m.cpu.cr0 & ~8
    assert m.run(10).kind == ExitKind.HLT
    # FXRSTOR of an MXCSR with reserved bits: #GP(0)
    m.mem.write(FXBUF + 24, struct.pack("<I", 0x10000))
    m.mem.write(CODE, b"\x0f\xae\x0b\xf4")
    m.cpu.eip = CODE
    ex = m.run(10)
    assert (ex.kind, ex.vector, m.cpu.eip) == (ExitKind.EXCEPTION, 13, CODE)


# ---------------------------------------------------------------- sequences

SEQ_MEM = 256


def _seq_bytes(ops, host):
    """ops: [(escape, modrm)]; op k's memory operand is at [base + 32*k] (host:
    rdi, guest: ebx)."""
    out = b""
    for k, (esc, modrm) in enumerate(ops):
        if modrm >= 0xC0:
            out += bytes([esc, modrm])
        else:
            out += bytes([esc, 0x80 | (modrm & 0x38) | (7 if host else 3)]) + struct.pack("<I", 32 * k)
    return out


def test_sequences_vs_host(strategy, machines):
    """Runs of 2 to 7 instructions between FRSTOR and FNSAVE, with their flags
    flowing (FCOMI then FCMOVcc), control instructions among them (FNSTSW AX,
    FNCLEX, FLDCW with every exception masked, FNSTCW): bt keeps the state in
    the host x87 across such runs (live mode) and must leave it at the right
    times."""
    rng = random.Random(8)
    m = _bt(machines, strategy).m
    forms = REG_FORMS + [(e, r << 3) for (e, r) in MEM_FORMS]
    extra = [(0xDF, 0xE0), (0xDB, 0xE2), (0xD9, 0x28), (0xD9, 0x38), (0xD9, 0x30)]
    for _ in range(1500):
        ops = [rng.choice(forms) if rng.randrange(6) else rng.choice(extra)
               for _ in range(rng.randrange(2, 8))]
        st = rand_state(rng)
        mem = bytearray(SEQ_MEM)
        for k, (esc, modrm) in enumerate(ops):
            if modrm < 0xC0:
                key = (esc, (modrm >> 3) & 7)
                if key == (0xD9, 5):
                    v = 0x3F | (rng.choice((0, 2, 3)) << 8) | (rng.randrange(4) << 10)
                    b = struct.pack("<H", v)
                elif key in MEM_FORMS:
                    b = MEM_FORMS[key][0](rng)
                else:
                    b = b""
                mem[32 * k:32 * k + len(b)] = b
        eflags = rng.getrandbits(12) & 0x8D5
        want = HOST.run_bytes(_seq_bytes(ops, True), st, bytes(mem), eflags, nmem=SEQ_MEM)
        code = (b"\xdd\x25" + struct.pack("<I", STATE) + _seq_bytes(ops, False) +
                b"\xdd\x35" + struct.pack("<I", OUT) + b"\xf4")
        m.mem.write(CODE, code)
        m.mem.write(STATE, fnsave_image(st))
        m.mem.write(OPND, bytes(mem))
        m.cpu.ebx = OPND
        m.cpu.eflags = 0x2 | eflags
        m.cpu.eip = CODE
        ex = m.run(20)
        assert ex.kind == ExitKind.HLT, ex
        got = (m.mem.read(OUT, 108), m.mem.read(OPND, SEQ_MEM), m.cpu.eflags, m.cpu.ax)
        # FNSTENV (D9 /6) stores pointers: mask them in its slot
        gm, wm = bytearray(got[1]), bytearray(want[1])
        for k, (esc, modrm) in enumerate(ops):
            if (esc, modrm) == (0xD9, 0x30):
                gm[32 * k + 12:32 * k + 28] = wm[32 * k + 12:32 * k + 28] = bytes(16)
        d = compare(0xD8, 0xC0, (got[0], bytes(gm), got[2], got[3]),
                    (want[0], bytes(wm), want[2], want[3]))
        if any(op == (0xDF, 0xE0) for op in ops) and got[3] != want[3]:
            d.append(f"ax: {got[3]:#06x} != host {want[3]:#06x}")
        if d:
            raise AssertionError(f"{' '.join(bytes(o).hex() for o in ops)} from {fmt_state(st)} "
                                 f"mem={bytes(mem).hex()} eflags={eflags:#x}:\n  " + "\n  ".join(d))
