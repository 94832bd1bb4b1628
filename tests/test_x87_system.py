"""The x87 as the system sees it: #NM (CR0.EM/TS/MP), #MF at the next waiting
instruction (CR0.NE=1) or FERR# (CR0.NE=0), the instruction and operand
pointers, the 16- and 32-bit, real- and protected-mode FSTENV/FSAVE layouts
(SDM vol. 1 figures 8-9 to 8-12), and the state round trip through Machine."""
import random
import struct

from bt import ExitKind, Machine
from tests.oracle import asm

RAM = 1 << 20
CODE = 0x1000
BUF = 0x3000
CWADDR = 0x2F00


def prot(strategy, code, cr0_or=0):
    m = Machine(ram_size=RAM, strategy=strategy, intercept="all")
    m.mem.write(CODE, code)
    m.cpu.eip = CODE
    m.cpu.esp = 0x8000
    m.cpu.cr0 = m.cpu.cr0 | cr0_or
    return m


def test_reset_state_is_fninit(strategy):
    f = Machine(ram_size=RAM, strategy=strategy, intercept="all").core.get_fpu()
    assert (f["cw"], f["sw"], f["tw"], f["fip"], f["fdp"], f["fop"]) == (0x37F, 0, 0xFFFF, 0, 0, 0)


def test_nm(strategy):
    for code in (b"\xdb\xe3\xf4", b"\xdf\xe0\xf4", b"\xd9\x03\xf4", b"\x0f\xae\x03\xf4"):
        for bits in (4, 8, 12):                        # EM, TS: #NM, even the no-wait forms
            m = prot(strategy, code, bits)
            m.cpu.ebx = BUF
            ex = m.run(10)
            assert (ex.kind, ex.vector, m.cpu.eip) == (ExitKind.EXCEPTION, 7, CODE), code.hex()
    m = prot(strategy, b"\x9b\xf4", 8)                 # WAIT: TS alone does not trap
    assert m.run(10).kind == ExitKind.HLT
    m = prot(strategy, b"\x9b\xf4", 0xA)               # TS and MP
    assert m.run(10).vector == 7
    m = prot(strategy, b"\x9b\xf4", 4)                 # EM does not concern WAIT
    assert m.run(10).kind == ExitKind.HLT


def zero_divide_program(tail):
    # fninit; fldcw [CWADDR] (ZE unmasked); fld1; fldz; fdivp st(1); fnstsw ax; <tail>; hlt
    return (b"\xdb\xe3" + b"\xd9\x2d" + struct.pack("<I", CWADDR) + b"\xd9\xe8\xd9\xee\xde\xf9" +
            b"\xdf\xe0" + tail + b"\xf4")


def test_mf_at_next_waiting_insn(strategy):
    for tail in (b"\xd9\xe8", b"\x9b", b"\xd9\xc9"):        # fld1, fwait, fxch
        m = prot(strategy, zero_divide_program(tail), 0x20)  # CR0.NE
        m.mem.write(CWADDR, struct.pack("<H", 0x37B))
        ex = m.run(20)
        at = CODE + 2 + 6 + 2 + 2 + 2 + 2
        assert (ex.kind, ex.vector, m.cpu.eip) == (ExitKind.EXCEPTION, 16, at), tail.hex()
        f = m.core.get_fpu()
        # #Z unmasked: the division did not happen (no pop), ES and B are set
        assert m.cpu.ax & 0x80FF == 0x8084 and f["sw"] & 0x80FF == 0x8084
        assert (f["sw"] >> 11) & 7 == 6
        assert f["fip"] == CODE + 12 and f["fop"] == 0x6F9          # the faulting FDIVP
    # the no-wait forms go on: FNSTSW, FNSTENV, FNCLEX (after which nothing is pending)
    m = prot(strategy, zero_divide_program(b"\xdf\xe0\xd9\x35" + struct.pack("<I", BUF) +
                                            b"\xdb\xe2\x9b\xd9\xe8"), 0x20)
    m.mem.write(CWADDR, struct.pack("<H", 0x37B))
    assert m.run(30).kind == ExitKind.HLT
    assert m.core.get_fpu()["sw"] & 0x80FF == 0


def test_ferr_without_ne(strategy):
    # CR0.NE=0: no #MF; FERR# (for IRQ 13 through the PIC) is recorded instead
    m = prot(strategy, zero_divide_program(b"\xd9\xe8"))
    m.mem.write(CWADDR, struct.pack("<H", 0x37B))
    assert m.run(20).kind == ExitKind.HLT
    f = m.core.get_fpu()
    assert f["ferr"] == 1 and f["sw"] & 0x8080 == 0x8080


def test_pointers_protected(strategy):
    # fninit; fld dword [ebx+4]; fnstenv [BUF]; hlt
    code = b"\xdb\xe3\xd9\x43\x04\xd9\x35" + struct.pack("<I", BUF) + b"\xf4"
    m = prot(strategy, code)
    m.cpu.ebx = 0x2000
    m.mem.write(0x2004, struct.pack("<f", 1.5))
    assert m.run(10).kind == ExitKind.HLT
    env = struct.unpack("<7I", m.mem.read(BUF, 28))
    # SDM vol. 1 fig. 8-9: the protected-mode 32-bit layout
    assert env == (0xFFFF037F, 0xFFFF3800, 0xFFFF3FFF, CODE + 2,
                   m.cpu.cs | (0x143 << 16), 0x2004, 0xFFFF0000 | m.cpu.ds)
    # 16-bit protected layout (0x66): CW SW TW IP CS DP DS
    m = prot(strategy, b"\xdb\xe3\xd9\x43\x04\x66\xd9\x35" + struct.pack("<I", BUF) + b"\xf4")
    m.cpu.ebx = 0x2000
    m.mem.write(0x2004, struct.pack("<f", 1.5))
    assert m.run(10).kind == ExitKind.HLT
    assert struct.unpack("<7H", m.mem.read(BUF, 14)) == (0x37F, 0x3800, 0x3FFF, CODE + 2, m.cpu.cs,
                                                          0x2004, m.cpu.ds)


def real_machine(strategy, code):
    m = Machine(ram_size=RAM, strategy=strategy, mode="real", intercept="all")
    m.mem.write(0x12340, code)
    m.cpu.cs = 0x1200          # CS:IP 1200:0340 = linear 0x12340
    m.cpu.eip = 0x340
    m.cpu.ds = 0x2345
    m.cpu.esp = 0x8000
    return m


def test_pointers_real_mode(strategy):
    # fninit; fld dword [bx+4]; fnstenv [0x100] (16-bit layout), o32 fnstenv [0x200]
    code = b"\xdb\xe3\xd9\x47\x04\xd9\x36\x00\x01\x66\xd9\x36\x00\x02\xf4"
    m = real_machine(strategy, code)
    m.cpu.ebx = 0xFFF0
    m.mem.write((0x2345 << 4) + 0xFFF4, struct.pack("<f", 1.5))
    assert m.run(10).kind == ExitKind.HLT
    lip = 0x12340 + 2
    ldp = (0x2345 << 4) + 0xFFF4
    base = 0x2345 << 4
    # SDM vol. 1 fig. 8-12: real-mode 16-bit layout (20-bit linear pointers)
    assert struct.unpack("<7H", m.mem.read(base + 0x100, 14)) == (
        0x37F, 0x3800, 0x3FFF, lip & 0xFFFF, ((lip >> 16) << 12) | 0x147, ldp & 0xFFFF, (ldp >> 16) << 12)
    # fig. 8-10: real-mode 32-bit layout
    assert struct.unpack("<7I", m.mem.read(base + 0x200, 28)) == (
        0xFFFF037F, 0xFFFF3800, 0xFFFF3FFF, 0xFFFF0000 | (lip & 0xFFFF), ((lip >> 16) << 12) | 0x147,
        0xFFFF0000 | (ldp & 0xFFFF), (ldp >> 16) << 12)


def test_env_and_save_round_trip_all_layouts(strategy):
    """FLDENV/FRSTOR of an image then FNSTENV/FNSAVE of the same layout gives it
    back (real and protected mode, 16- and 32-bit), registers included, and the
    state is the same as after a 32-bit protected-mode FRSTOR of it."""
    rng = random.Random(11)
    for mode in ("prot", "real"):
        for o32 in (False, True):
            for _ in range(20):
                regs = [rng.randbytes(8) + struct.pack("<H", rng.randrange(1, 0x7FFF)) for _ in range(8)]
                for i in range(8):      # a set J bit: valid numbers, the tags stay as loaded
                    regs[i] = regs[i][:7] + bytes([regs[i][7] | 0x80]) + regs[i][8:]
                top = rng.randrange(8)
                cw, sw = 0x037F, top << 11 | 0x4100
                tw = 0
                for i in range(8):
                    tw |= (3 if rng.randrange(3) == 0 else 0) << (2 * i)
                ip, dp, op = rng.randrange(1 << 16), rng.randrange(1 << 16), rng.randrange(1 << 11)
                if (mode, o32) == ("prot", True):
                    env = struct.pack("<7I", 0xFFFF0000 | cw, 0xFFFF0000 | sw, 0xFFFF0000 | tw, ip,
                                      0x08 | op << 16, dp, 0xFFFF0010)
                elif mode == "prot":
                    env = struct.pack("<7H", cw, sw, tw, ip, 0x08, dp, 0x10)
                elif o32:
                    lip, ldp = rng.randrange(1 << 32), rng.randrange(1 << 32)
                    env = struct.pack("<7I", 0xFFFF0000 | cw, 0xFFFF0000 | sw, 0xFFFF0000 | tw,
                                      0xFFFF0000 | (lip & 0xFFFF), (lip >> 16) << 12 | op,
                                      0xFFFF0000 | (ldp & 0xFFFF), (ldp >> 16) << 12)
                else:
                    lip, ldp = rng.randrange(1 << 20), rng.randrange(1 << 20)
                    env = struct.pack("<7H", cw, sw, tw, lip & 0xFFFF, (lip >> 16) << 12 | op,
                                      ldp & 0xFFFF, (ldp >> 16) << 12)
                img = env + b"".join(regs)
                p = b"\x66" if o32 != (mode == "prot") else b""
                # frstor [0x100]; fnsave [0x300]; hlt  (disp32 or disp16 by mode)
                if mode == "prot":
                    code = p + b"\xdd\x25\x00\x31\x00\x00" + p + b"\xdd\x35\x00\x33\x00\x00\xf4"
                    m = prot(strategy, code)
                    src, dst = 0x3100, 0x3300
                else:
                    code = p + b"\xdd\x26\x00\x01" + p + b"\xdd\x36\x00\x03\xf4"
                    m = real_machine(strategy, code)
                    src, dst = (0x2345 << 4) + 0x100, (0x2345 << 4) + 0x300
                m.mem.write(src, img)
                assert m.run(10).kind == ExitKind.HLT
                assert m.mem.read(dst, len(img)) == img, (mode, o32)
                f = m.core.get_fpu()
                assert (f["cw"], f["sw"], f["tw"]) == (0x37F, 0, 0xFFFF)   # FNSAVE initialises


def test_cpu_state_round_trip(strategy):
    code = asm("fninit; fldpi; fld1; fdiv st(0), st(1); fld qword ptr [0x2000]; hlt", addr=CODE)
    m = prot(strategy, code)
    m.mem.write(0x2000, struct.pack("<d", -2.5))
    assert m.run(20).kind == ExitKind.HLT
    s = m.cpu.state
    assert s["fpu"]["st"][0] == struct.pack("<QH", 0xA000000000000000, 0xC000)   # -2.5
    m2 = Machine(ram_size=RAM, strategy=strategy, intercept="all")
    m2.cpu.state = s
    assert m2.cpu.state == s


def test_ferr_raises_irq13_through_the_pic(strategy):
    # CR0.NE=0 on a PC: FERR# is wired to IRQ 13 (slave PIC input 5).  The handler
    # clears the latch through port 0xF0 and the exception with FNCLEX, then IRETs.
    m = Machine(ram_size=RAM, strategy=strategy)
    gdt = bytes(8) + bytes.fromhex("ffff0000009acf00") + bytes.fromhex("ffff00000092cf00")
    m.mem.write(0x7000, gdt)
    m.core.set_dtr(0, 0x7000, len(gdt) - 1)
    handler = 0x5000
    idt = bytearray(256 * 8)
    vec = 0x70 + 5                       # the slave's base after reset is 0x70
    idt[vec * 8:vec * 8 + 8] = struct.pack("<HHBBH", handler, 8, 0, 0x8E, 0)
    m.mem.write(0x6000, bytes(idt))
    m.core.set_dtr(1, 0x6000, len(idt) - 1)
    # handler: inc esi; out 0xF0, al; fnclex; mov al, 0x20; out 0xA0, al; out 0x20, al; iretd
    m.mem.write(handler, b"\x46\xe6\xf0\xdb\xe2\xb0\x20\xe6\xa0\xe6\x20\xcf")
    m.ports.write(0x21, 1, 0xFB)         # master: only the cascade (IRQ 2) unmasked
    m.ports.write(0xA1, 1, 0xDF)         # slave: only IRQ 13 unmasked
    # sti; <zero divide>; fld1 (a waiting instruction: FERR#); nop x4; hlt
    m.mem.write(CODE, b"\xfb" + zero_divide_program(b"\xd9\xe8" + b"\x90" * 4))
    m.mem.write(CWADDR, struct.pack("<H", 0x37B))
    m.cpu.eip = CODE
    m.cpu.esp = 0x8000
    m.cpu.esi = 0
    ex = m.run(200)
    assert ex.kind == ExitKind.HLT
    assert m.cpu.esi == 1                                  # exactly one IRQ 13
    assert m.core.get_fpu()["sw"] & 0x80 == 0              # FNCLEX in the handler
    assert m.stats["irqs"] == {13: 1}
