"""A small protected-mode guest environment for the protection/IDT tests:
a GDT with ring-0/ring-3 code and data, a 16-bit code segment, a 32-bit TSS
(SS0:ESP0 and an I/O permission bitmap), a 16-bit TSS, an LDT, call gates and
an IDT whose every vector goes to its own ring-0 handler (a HLT by default),
all written into guest memory the way a guest kernel would lay them out
(descriptor formats: SDM vol. 3 3.4.5, 3.5, 5.8.3, 6.11, 7.2.2, 7.6.2, 7.7).

Physical = linear (paging off).
"""
import struct

from bt import Machine
from oracle import asm

RAM = 1 << 20

GDT = 0x0500
GDT_LIMIT = 0xFF
IDT = 0x0800            # 256 gates: 0x800..0xFFF
TSS32 = 0x1000
IOMAP_OFF = 0x68        # I/O map base (offset in the TSS)
IOMAP_BYTES = 0x80      # covers ports 0..0x3FF; one 0xFF byte follows
TSS32_LIMIT = IOMAP_OFF + IOMAP_BYTES   # includes the trailing 0xFF byte
TSS16 = 0x1200
LDT = 0x1300
CODE = 0x2000           # ring-0 test code (entry)
CODE3 = 0x2800          # ring-3 code
H = 0x3000              # handler of vector v at H + 16*v (0x3000..0x3FFF)
GATE_TARGET = 0x4000    # call-gate / SYSENTER targets
REC = 0x6000            # scratch memory the guests record into
STACK0 = 0x7000         # initial ring-0 ESP
ESP0 = 0x8000           # TSS32 ESP0
STACK3 = 0x9000         # ring-3 ESP
SP0_16 = 0xA000         # TSS16 SP0

# selectors
CS0, DS0, CS3, DS3 = 0x08, 0x10, 0x1B, 0x23
TSS_SEL, CS16, TSS16_SEL, LDT_SEL = 0x28, 0x30, 0x38, 0x40
CONF0 = 0x48            # conforming readable code, DPL 0
XO3 = 0x50              # execute-only code, DPL 3
RO3 = 0x58              # read-only data, DPL 3, byte limit 0x1234
CG32 = 0x60             # 32-bit call gate, DPL 3, 2 params -> CS0:GATE_TARGET
CG16 = 0x68             # 16-bit call gate, DPL 3, 1 param -> CS0:GATE_TARGET+0x100
CG0 = 0x70              # 32-bit call gate, DPL 0 -> CS0:GATE_TARGET+0x200
NP0 = 0x78              # writable data DPL 0, not present
SMALL0 = 0x80           # writable data DPL 0, byte limit 0xFFF
IGATE_GDT = 0x88        # an interrupt-gate descriptor put in the GDT (DPL 3), for LAR
LDT_DS3 = 0x0F          # LDT entry 1, RPL 3: data DPL 3, base REC, limit 0xFFF
LDT_MAGIC = 0x5A5A1234


def handler(v):
    return H + 16 * v


def seg_desc(base, limit, typ, dpl=0, s=1, p=1, db=1, g=None):
    """Segment descriptor (SDM vol. 3 3.4.5): returns (low dword, high dword)."""
    if g is None:
        g = 1 if limit > 0xFFFFF else 0
    if g:
        limit >>= 12
    lo = (limit & 0xFFFF) | ((base & 0xFFFF) << 16)
    hi = (((base >> 16) & 0xFF) | (typ << 8) | (s << 12) | (dpl << 13) | (p << 15)
          | (limit & 0xF0000) | (db << 22) | (g << 23) | (base & 0xFF000000))
    return lo, hi


def gate_desc(sel, off, typ, dpl=0, p=1, params=0):
    """Interrupt/trap/call gate (SDM vol. 3 5.8.3 figure 5-8, 6.11 figure 6-2)."""
    lo = (off & 0xFFFF) | (sel << 16)
    hi = (off & 0xFFFF0000) | (p << 15) | (dpl << 13) | (typ << 8) | (params & 0x1F)
    return lo, hi


def A(lines, addr, bits=32):
    """Assemble a list of instructions one by one (a str item is assembled by
    keystone, a bytes item is taken as is); returns (code, [address of each])."""
    out, addrs = b"", []
    for ln in lines:
        addrs.append(addr + len(out))
        out += ln if isinstance(ln, bytes) else asm(ln, bits, addr + len(out))
    return out, addrs


def far(op, sel, off):
    """Far CALL (0x9A) / JMP (0xEA) ptr16:32 (keystone adds a stray 0x66 to ljmp)."""
    return bytes([0x9A if op == "call" else 0xEA]) + struct.pack("<IH", off, sel)


class Sys:
    """One machine with the tables above; tests put code at CODE/CODE3/handlers."""

    def __init__(self, strategy, intercept=None, **kw):
        self.m = m = Machine(ram_size=RAM, strategy=strategy, mode="prot", intercept=intercept, **kw)
        # accessed bits preset in code/data types, so that LAR results do not
        # depend on which loads happened before
        self.gdt = {
            CS0: seg_desc(0, 0xFFFFFFFF, 0xB),
            DS0: seg_desc(0, 0xFFFFFFFF, 0x3),
            CS3 & ~3: seg_desc(0, 0xFFFFFFFF, 0xB, dpl=3),
            DS3 & ~3: seg_desc(0, 0xFFFFFFFF, 0x3, dpl=3),
            TSS_SEL: seg_desc(TSS32, TSS32_LIMIT, 0x9, s=0, db=0),
            CS16: seg_desc(0, 0xFFFF, 0xB, db=0),
            TSS16_SEL: seg_desc(TSS16, 0x2B, 0x1, s=0, db=0),
            LDT_SEL: seg_desc(LDT, 0x17, 0x2, s=0, db=0),
            CONF0: seg_desc(0, 0xFFFFFFFF, 0xF),
            XO3: seg_desc(0, 0xFFFFFFFF, 0x9, dpl=3),
            RO3: seg_desc(0, 0x1234, 0x1, dpl=3),
            CG32: gate_desc(CS0, GATE_TARGET, 0xC, dpl=3, params=2),
            CG16: gate_desc(CS0, GATE_TARGET + 0x100, 0x4, dpl=3, params=1),
            CG0: gate_desc(CS0, GATE_TARGET + 0x200, 0xC, dpl=0),
            NP0: seg_desc(0, 0xFFFFFFFF, 0x3, p=0),
            SMALL0: seg_desc(0, 0xFFF, 0x3),
            IGATE_GDT: gate_desc(CS0, 0x1234, 0xE, dpl=3),
        }
        for sel, d in self.gdt.items():
            self.set_gdt(sel, d)
        m.core.set_dtr(0, GDT, GDT_LIMIT)
        # LDT: entry 1 = data DPL 3 at REC
        m.mem.write(LDT + 8, struct.pack("<II", *seg_desc(REC, 0xFFF, 0x3, dpl=3)))
        m.mem.write_u32(REC + 0x10, LDT_MAGIC)
        # 32-bit TSS (SDM vol. 3 7.2.1 figure 7-2): ESP0 at 4, SS0 at 8, I/O map base at 0x66
        tss = bytearray(TSS32_LIMIT + 1)
        struct.pack_into("<IH", tss, 4, ESP0, DS0)
        struct.pack_into("<H", tss, 0x66, IOMAP_OFF)
        bitmap = bytearray(b"\xff" * IOMAP_BYTES)
        for port in (0x80, 0xF4):           # the only ports ring 3 may use
            bitmap[port >> 3] &= ~(1 << (port & 7)) & 0xFF
        tss[IOMAP_OFF:IOMAP_OFF + IOMAP_BYTES] = bitmap
        tss[IOMAP_OFF + IOMAP_BYTES] = 0xFF
        m.mem.write(TSS32, bytes(tss))
        # 16-bit TSS (SDM vol. 3 7.7 figure 7-11): SP0 at 2, SS0 at 4
        m.mem.write(TSS16, struct.pack("<HHH", 0, SP0_16, DS0))
        # IDT: every vector a 32-bit interrupt gate, DPL 0, to its own HLT
        for v in range(256):
            self.set_idt(v, CS0, handler(v), 0xE, dpl=0)
            m.mem.write(handler(v), b"\xf4")
        m.core.set_dtr(1, IDT, 0x7FF)
        m.cpu.esp = STACK0
        m.cpu.eflags = 0x2
        m.cpu.eip = CODE

    # -------------------------------------------------------------- tables
    def set_gdt(self, sel, d):
        self.m.mem.write(GDT + (sel & ~7), struct.pack("<II", *d))

    def get_gdt(self, sel):
        return struct.unpack("<II", self.m.mem.read(GDT + (sel & ~7), 8))

    def set_idt(self, v, sel, off, typ, dpl=0, p=1):
        self.m.mem.write(IDT + 8 * v, struct.pack("<II", *gate_desc(sel, off, typ, dpl, p)))

    # -------------------------------------------------------------- code
    def code(self, addr, lines, bits=32):
        b, addrs = A(lines, addr, bits)
        self.m.mem.write(addr, b)
        return addrs

    def ring0(self, lines, ltr=True):
        """Ring-0 code at CODE (after LTR of the 32-bit TSS); returns the
        addresses of `lines`."""
        pre = ["mov ax, 0x28", "ltr ax"] if ltr else []
        return self.code(CODE, pre + list(lines))[len(pre):]

    def ring3(self, lines, eflags=0x202, tss=TSS_SEL, ds=DS3):
        """Ring-0 code enters CODE3 at CPL 3 by IRET (SS=DS3, ESP=STACK3); the
        ring-3 code first loads DS/ES with `ds`.  Returns (addresses of
        `lines`, number of instructions before the first of them)."""
        pre0 = [f"mov ax, {tss:#x}", "ltr ax", f"mov ax, {LDT_SEL:#x}", "lldt ax",
                f"push {DS3:#x}", f"push {STACK3:#x}", f"push {eflags:#x}",
                f"push {CS3:#x}", f"push {CODE3:#x}", "iretd"]
        self.code(CODE, pre0)
        pre3 = [f"mov ax, {ds:#x}", "mov ds, ax", "mov es, ax"] if ds is not None else []
        addrs = self.code(CODE3, pre3 + list(lines))
        return addrs[len(pre3):], len(pre0) + len(pre3)

    # -------------------------------------------------------------- running
    def run(self, max_insns=100_000):
        return self.m.run(max_insns=max_insns)

    def stack(self, n, size=4, at=None):
        """n items of `size` bytes at SS:ESP (SS base 0 in every test)."""
        esp = self.m.cpu.esp if at is None else at
        fmt = "<" + ("I" if size == 4 else "H") * n
        return list(struct.unpack(fmt, self.m.mem.read(esp, n * size)))

    def halted_in(self, v):
        """The run ended by the HLT of vector v's ring-0 handler."""
        return self.m.cpu.eip == handler(v) + 1 and self.m.cpu.cs == CS0
