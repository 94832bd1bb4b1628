"""INT n and IRET read the IDT gate and the code-segment descriptor from memory
at every transfer, and write the frame through the ordinary memory checks:
a guest that rewrites its tables in place (no LIDT/LGDT), clears an accessed
bit, pushes a frame over translated code, or keeps its tables and stack across
page boundaries that map to scattered physical pages must see exactly what the
SDM says.  bt delivers the common case on a fast path (idt.pxi deliver_fast,
protect.pxi iret_fast) and caches decoded descriptors by their raw bytes; these
tests pin the behaviour that such shortcuts could get wrong.

Every expected value comes from the SDM text cited next to it (vol. 3 3.4.5.1,
6.10-6.13, vol. 2 INT n and IRET pseudocode); the guest environment is
tests/sysguest.py.  Every test runs under every strategy."""
import struct

from sysguest import (CODE, CS0, GDT, IDT, STACK0, Sys, far, gate_desc, handler, seg_desc)

HCS = 0x90          # a second ring-0 code segment for the handlers (GDT entry 18)
CSX = 0x98          # a third one for the interrupted code
H1 = 0x5000         # handler of vector 0x40 in these tests
H2 = 0x5100


def lo16(v):
    return v & 0xFFFF


class _Labels(dict):
    def __init__(self, labels, default):
        super().__init__((k, f"{v:#x}") for k, v in labels.items())
        self.default = f"{default:#x}"

    def __missing__(self, key):
        return self.default


def code(s, addr, lines):
    """s.code() with labels: a line "name:" marks the next instruction, and
    "{name}" in any line is its address (two passes: the first with every label
    at addr).  Returns (addresses of the instructions, {label: address})."""
    labels = {}
    for _ in range(2):
        body, marks = [], {}
        for ln in lines:
            if isinstance(ln, str) and ln.endswith(":"):
                marks[ln[:-1]] = len(body)
            else:
                body.append(ln.format_map(_Labels(labels, addr)) if isinstance(ln, str) else ln)
        addrs = s.code(addr, body)
        labels = {k: addrs[i] for k, i in marks.items()}
    return addrs, labels


def gdt_write(sel, d):
    """Ring-0 instructions that store descriptor d into GDT entry sel in memory."""
    lo, hi = d
    return [f"mov dword ptr [{GDT + (sel & ~7):#x}], {lo:#x}",
            f"mov dword ptr [{GDT + (sel & ~7) + 4:#x}], {hi:#x}"]


def idt_write(v, d):
    lo, hi = d
    return [f"mov dword ptr [{IDT + 8 * v:#x}], {lo:#x}",
            f"mov dword ptr [{IDT + 8 * v + 4:#x}], {hi:#x}"]


# ------------------------------------------------------------ gates rewritten in place
# SDM vol. 3 6.10-6.12: at each interrupt or exception the processor indexes the
# IDT (IDTR.base + 8 * vector) and reads the gate; only LIDT changes IDTR, and
# nothing says a gate is kept anywhere else.  vol. 2 INT n: a not-present gate is
# #NP(vector * 8 + 2) (IDT bit set, EXT = 0 for INT n, 6.13).

def test_gate_rewritten_in_place_is_used_at_the_next_int(strategy):
    s = Sys(strategy)
    s.set_idt(0x40, CS0, H1, 0xE)
    s.code(H1, ["add ebx, 1", "iretd"])
    s.code(H2, ["add ebx, 0x10", "iretd"])
    new = gate_desc(CS0, H2, 0xE)
    lines = ["mov ebx, 0", "mov ecx, 3",
             "int 0x40", "int 0x40",                    # twice through the first gate
             *idt_write(0x40, new),
             "int 0x40",                                # the new one
             *idt_write(0x40, gate_desc(CS0, H2, 0xE, p=0)),
             "int 0x40"]                                # not present now
    a = s.ring0(lines)
    s.run()
    assert s.halted_in(11)
    assert s.m.cpu.ebx == 0x12
    err, eip, cs, _ = s.stack(4)
    assert (err, eip, lo16(cs)) == (0x40 * 8 + 2, a[-1], CS0)


def test_gate_rewritten_in_a_loop(strategy):
    # the same INT instruction, run many times, alternating between two gates
    # (the handler itself flips the gate it came through)
    s = Sys(strategy)
    g1, g2 = gate_desc(CS0, H1, 0xE), gate_desc(CS0, H2, 0xF)
    s.set_idt(0x40, CS0, H1, 0xE)
    s.code(H1, ["add ebx, 1", *idt_write(0x40, g2), "iretd"])
    s.code(H2, ["add esi, 1", *idt_write(0x40, g1), "iretd"])
    code(s, CODE, ["mov ebx, 0", "mov esi, 0", "mov ecx, 101",
                   "l:", "int 0x40", "dec ecx", "jnz {l}", "int 0x50"])
    s.run(max_insns=10_000)
    assert s.halted_in(0x50)
    assert (s.m.cpu.ebx, s.m.cpu.esi) == (51, 50)


def test_gate_dpl_lowered_in_place(strategy):
    # vol. 2 INT n: "IF software interrupt AND gate DPL < CPL THEN #GP(vector * 8 + 2)";
    # from ring 3 through a DPL-3 gate to a conforming segment (no privilege change,
    # 5.8.2.2), then the same gate rewritten with DPL 0
    from sysguest import CONF0, CS3, DS3, STACK3
    s = Sys(strategy)
    s.set_idt(0x40, CONF0, H1, 0xE, dpl=3)
    s.code(H1, ["add ebx, 1", "iretd"])
    a, n = s.ring3(["mov ebx, 0", "int 0x40", "int 0x40", "int 0x40"])
    s.run(max_insns=n + 7)
    c = s.m.cpu
    assert (c.ebx, c.cpl, c.cs, c.ss, c.esp) == (2, 3, CS3, DS3, STACK3)
    s.set_idt(0x40, CONF0, H1, 0xE, dpl=0)        # the guest's table, changed in memory
    s.run()
    assert s.halted_in(13)
    err, eip, cs = s.stack(3)
    assert (err, eip, lo16(cs)) == (0x40 * 8 + 2, a[3], CS3)


# ------------------------------------------------------------ descriptors rewritten in place
# SDM vol. 3 3.4.3: the hidden part of a segment register is loaded from the
# descriptor table when the selector is loaded; INT n and IRET load CS (vol. 2
# pseudocode: "CS <- ... (* segment descriptor information also loaded *)"), so
# a descriptor changed in memory takes effect at the next INT or IRET.
# vol. 2 INT n: "IF instruction pointer not within code segment limits THEN
# #GP(0)"; vol. 2 IRET: "IF return instruction pointer not within return code
# segment limit THEN #GP(0)", "IF return code segment not present THEN
# #NP(return code segment selector)".

def test_handler_descriptor_rewritten_in_place(strategy):
    s = Sys(strategy)
    s.set_gdt(HCS, seg_desc(0, 0xFFFFFFFF, 0xB))
    s.set_idt(0x40, HCS, H1, 0xE)
    s.code(H1, ["mov edx, 1", "iretd"])
    s.code(H1 + 0x100, ["mov edx, 2", "iretd"])
    a = s.ring0(["int 0x40", "mov esi, edx",
                 *gdt_write(HCS, seg_desc(0x100, 0xFFFFFFFF, 0xB)),    # base 0x100
                 "int 0x40", "mov edi, edx",
                 *gdt_write(HCS, seg_desc(0, H1 - 1, 0xB, g=0)),      # limit below H1
                 "int 0x40"])
    s.run()
    c = s.m.cpu
    assert (c.esi, c.edi) == (1, 2)
    assert s.halted_in(13)
    err, eip, cs = s.stack(3)
    assert (err, eip, lo16(cs)) == (0, a[-1], CS0)


def test_handler_descriptor_alternates(strategy):
    # two gates to two selectors whose descriptors differ only in the base, and
    # the same selector's descriptor changed between deliveries
    s = Sys(strategy)
    s.set_gdt(HCS, seg_desc(0, 0xFFFFFFFF, 0xB))
    s.set_gdt(HCS + 0x20, seg_desc(0x100, 0xFFFFFFFF, 0xB))     # entry 0xB0
    s.set_idt(0x40, HCS, H1, 0xE)
    s.set_idt(0x41, HCS + 0x20, H1, 0xE)
    s.code(H1, ["add ebx, 1", "iretd"])
    s.code(H1 + 0x100, ["add ebx, 0x100", "iretd"])
    code(s, CODE, ["mov ebx, 0", "mov ecx, 20",
                   "l:", "int 0x40", "int 0x41", "dec ecx", "jnz {l}",
                   *gdt_write(HCS, seg_desc(0x100, 0xFFFFFFFF, 0xB)),
                   "int 0x40", "int 0x50"])
    s.run(max_insns=10_000)
    assert s.halted_in(0x50)
    assert s.m.cpu.ebx == 20 * 0x101 + 0x100


def test_iret_rereads_the_return_descriptor(strategy):
    # the interrupted code runs in CSX; the handler rewrites CSX's descriptor
    # before its IRET
    cases = [(seg_desc(0x100, 0xFFFFFFFF, 0xB), None),         # base 0x100: resumes there
             (None, (13, 0)),                                 # limit below the return EIP
             (seg_desc(0, 0xFFFFFFFF, 0xB, p=0), (11, CSX))]  # not present
    for i, (d, fault) in enumerate(cases):
        s = Sys(strategy)
        s.set_gdt(CSX, seg_desc(0, 0xFFFFFFFF, 0xB))
        lcode = CODE + 0x100
        s.code(CODE, [far("jmp", CSX, lcode)])
        a = s.code(lcode, ["int 0x40", "mov edx, 1", "int 0x51"])
        s.code(a[1] + 0x100, ["mov edx, 2", "int 0x50"])
        if d is None:
            d = seg_desc(0, a[1] - 1, 0xB, g=0)
        h = s.code(H1, [*gdt_write(CSX, d), "iretd"])
        s.set_idt(0x40, CS0, H1, 0xE)
        s.run()
        c = s.m.cpu
        if fault is None:
            assert s.halted_in(0x50), i
            assert c.edx == 2
            eip, cs, _ = s.stack(3)
            assert (eip, lo16(cs)) == (a[1] + 5 + 2, CSX), i   # after "mov edx, 2; int 0x50"
        else:
            vec, err = fault
            assert s.halted_in(vec), i
            e, eip, cs = s.stack(3)
            assert (e, eip, lo16(cs)) == (err, h[-1], CS0), i
            assert c.esp == STACK0 - 12 - 16       # the IRET's frame still there


# ------------------------------------------------------------ accessed bits
# SDM vol. 3 3.4.5.1: the processor sets a segment descriptor's accessed bit
# when it loads the selector into a segment register (CS by INT n and IRET
# too), if the bit is clear.

def test_int_and_iret_set_the_accessed_bit(strategy):
    s = Sys(strategy)
    s.set_gdt(HCS, seg_desc(0, 0xFFFFFFFF, 0xA))       # execute/read, not accessed
    s.set_gdt(CSX, seg_desc(0, 0xFFFFFFFF, 0xB))
    s.set_idt(0x40, HCS, H1, 0xE)
    lcode = CODE + 0x100
    s.code(CODE, [far("jmp", CSX, lcode)])
    # the handler clears CSX's accessed bit; its IRET reloads CSX
    s.code(H1, [f"and byte ptr [{GDT + CSX + 5:#x}], 0xfe", "iretd"])
    s.code(lcode, ["int 0x40", "int 0x50"])
    assert (s.get_gdt(HCS)[1] >> 8) & 1 == 0
    s.run()
    assert s.halted_in(0x50)
    assert (s.get_gdt(HCS)[1] >> 8) & 0xF == 0xB
    assert (s.get_gdt(CSX)[1] >> 8) & 0xF == 0xB
    assert s.stack(2)[1] & 0xFFFF == CSX


# ------------------------------------------------------------ the frame over translated code
# The frame is an ordinary write (SDM vol. 3 6.12.1: pushed on the stack), so
# a frame written over code that already ran must be the code that runs next
# (vol. 3 11.6, self-modifying code: a write to a code address invalidates it).

def test_frame_pushed_over_translated_code(strategy):
    s = Sys(strategy)
    t = 0x4800
    s.set_idt(0x40, CS0, H1, 0xE)
    s.code(H1, ["iretd"])
    # T: jmp rel32 (first with rel32 = 0, to T+5: jmp back)
    s.m.mem.write(t, b"\xe9" + struct.pack("<i", 0))
    a, lab = code(s, CODE, ["mov ebx, 0", f"jmp {t:#x}",
                            "back:", "mov edx, esp", f"mov esp, {t + 1 + 12:#x}",
                            "int 0x40",
                            "ret:", "mov esp, edx", f"jmp {t:#x}"])
    s.code(t + 5, [f"jmp {lab['back']:#x}"])
    # after the INT, rel32 = the pushed EIP (the instruction after INT): T+5+EIP
    ret = lab["ret"]
    target = t + 5 + ret
    assert target + 4 < 0x6F00 and target > t + 0x20
    s.code(target, ["int 0x42"])
    s.run(max_insns=100)
    assert s.halted_in(0x42)
    assert s.m.mem.read_u32(t + 1) == ret


# ------------------------------------------------------------ paging: tables and stack on scattered pages
# With CR0.PG=1 the IDT, GDT and stack are linear addresses (SDM vol. 3 2.4.1,
# 3.5.1, 6.10); an 8-byte gate or a 12-byte frame may straddle two pages that
# map to unrelated physical pages (4.3).

PD, PT = 0x80000, 0x81000
ALIAS = 0x70000      # linear pages 0x70 and 0x71 map to physical 0x90 and 0x60


def paged_sys(strategy):
    s = Sys(strategy)
    pt = [(i << 12) | 7 for i in range(1024)]          # identity, user, writable
    pt[ALIAS >> 12] = 0x90000 | 7
    pt[(ALIAS >> 12) + 1] = 0x60000 | 7
    s.m.mem.write(PT, struct.pack("<1024I", *pt))
    s.m.mem.write(PD, struct.pack("<1024I", PT | 7, *([0] * 1023)))
    on = [f"mov eax, {PD:#x}", "mov cr3, eax", "mov eax, cr0",
          "or eax, 0x80000000", "mov cr0, eax"]
    return s, on


def test_paged_gate_straddling_scattered_pages(strategy):
    s, on = paged_sys(strategy)
    # an IDT whose gate 0x40 starts 4 bytes before the end of linear page 0x70:
    # its low half is at physical 0x90ffc, its high half at physical 0x60000
    base = ALIAS + 0x1000 - 4 - 8 * 0x40
    lo, hi = gate_desc(CS0, H1, 0xE)
    s.m.mem.write(0x90FFC, struct.pack("<I", lo))
    s.m.mem.write(0x60000, struct.pack("<I", hi))
    # and gate 0x50 (a HLT handler) inside page 0x71 -> physical 0x60000 + ...
    lo5, hi5 = gate_desc(CS0, handler(0x50), 0xE)
    s.m.mem.write(0x60000 + 4 + 8 * 0x0F, struct.pack("<II", lo5, hi5))
    s.code(H1, ["add ebx, 1", "iretd"])
    # a decoy where the gate's high half would be if the two pages were
    # contiguous: a valid gate to 0x10000 + H1
    s.m.mem.write(0x91000, struct.pack("<I", gate_desc(CS0, 0x10000 + H1, 0xE)[1]))
    s.code(0x10000 + H1, ["add ebx, 0x100", "iretd"])
    idtr = 0x6100
    s.m.mem.write(idtr, struct.pack("<HI", 0x7FF, base))
    code(s, CODE, [*on, f"lidt [{idtr:#x}]", "mov ebx, 0", "mov ecx, 10",
                   "l:", "int 0x40", "dec ecx", "jnz {l}", "int 0x50"])
    s.run(max_insns=1000)
    assert s.m.cpu.eip == handler(0x50) + 1
    assert s.m.cpu.ebx == 10


def test_paged_frame_straddling_scattered_pages(strategy):
    s, on = paged_sys(strategy)
    s.set_idt(0x40, CS0, H1, 0xE)
    s.code(H1, ["mov eax, [esp]", "mov esi, [esp + 4]", "mov edi, [esp + 8]",
                "add ebx, 1", "iretd"])
    # ESP = linear 0x71004: EIP at 0x70ff8 (physical 0x90ff8), CS at 0x70ffc
    # (0x90ffc), EFLAGS at 0x71000 (physical 0x60000)
    _, lab = code(s, CODE, [*on, "mov ebx, 0", f"mov esp, {ALIAS + 0x1004:#x}", "mov ecx, 5",
                            # a sentinel where the pushed EFLAGS must go
                            "l:", f"mov dword ptr [{ALIAS + 0x1000:#x}], 0x12345678",
                            "int 0x40", "r1:", "dec ecx", "jnz {l}",
                            f"mov dword ptr [{ALIAS + 0x1000:#x}], 0x12345678",
                            "int 0x50", "r2:", "nop"])
    s.run(max_insns=1000)
    c = s.m.cpu
    assert s.halted_in(0x50) and c.ebx == 5
    # what the 5th handler read: the 5th INT 0x40's frame
    assert (c.eax, lo16(c.esi)) == (lab["r1"], CS0)
    assert c.edi & ~0x8D5 == 0x2            # bit 1 and arithmetic flags only (IF=0, TF=0)
    # INT 0x50's frame, at the same linear address, in the two physical pages
    eip, cs = struct.unpack("<II", s.m.mem.read(0x90FF8, 8))
    assert (eip, lo16(cs)) == (lab["r2"], CS0)
    assert s.m.mem.read_u32(0x60000) & ~0x8D5 == 0x2
    assert c.esp == ALIAS + 0x1004 - 12


# ------------------------------------------------------------ IRET that is not a plain return
# vol. 2 IRET: "IF NT = 1 THEN GOTO TASK-RETURN": the back link of the current
# TSS names the task to return to; a link that is not a busy TSS descriptor in
# the GDT is #TS(link selector) (the fault is the IRET's, in the current task).

def test_iret_with_nt_is_a_task_return(strategy):
    s = Sys(strategy)
    s.set_idt(0x40, CS0, H1, 0xE)
    h = s.code(H1, ["pushfd", "or dword ptr [esp], 0x4000", "popfd", "iretd"])
    s.ring0(["int 0x40", "int 0x50"])            # the TSS's back link is 0 (null)
    s.run()
    assert s.halted_in(10)
    err, eip, cs = s.stack(3)
    assert (err, eip, lo16(cs)) == (0, h[-1], CS0)


# vol. 3 6.12.1 / vol. 2 INT n and IRET: with no privilege change the frame
# goes on the current stack whatever its size attribute: with a 16-bit stack
# (SS.B = 0) the pushes use SP, leaving ESP's upper half as it was
# (vol. 3 6.12.1 and 3.4.5 "D/B (default operation size/default stack pointer
# size and/or upper bound) flag").

def test_int_iret_on_a_16bit_stack(strategy):
    s = Sys(strategy)
    SS16 = 0xA0
    s.set_gdt(SS16, seg_desc(0, 0xFFFFFFFF, 0x3, db=0))   # 4 GiB limit, B = 0
    s.set_idt(0x40, CS0, H1, 0xE)
    s.code(H1, ["mov eax, esp", "add ebx, 1", "iretd"])
    # a decoy frame at ESP as a 32-bit offset: returning through it ends in handler 0x51
    s.m.mem.write(0x15FF4, struct.pack("<III", handler(0x51), CS0, 2))
    s.ring0([f"mov ax, {SS16:#x}", "mov ss, ax", "mov esp, 0x16000",
             "int 0x40", "mov edx, esp", "int 0x40", "int 0x50"])
    s.run()
    c = s.m.cpu
    assert s.halted_in(0x50)
    assert (c.eax, c.edx, c.ebx) == (0x15FF4, 0x16000, 2)
    assert c.esp == 0x15FF4
    eip, cs, _ = s.stack(3, at=0x5FF4)           # at SS:SP = 0x5FF4, not 0x15FF4
    assert lo16(cs) == CS0


# ------------------------------------------------------------ privilege changes
# SDM vol. 3 6.12.1: on a privilege change "the processor reads the segment
# selector and stack pointer for the stack to be used by the handler ... from
# the TSS of the currently executing task" and loads SS from its descriptor
# (checks: vol. 2 INT n, "IF new stack segment DPL != DPL of code segment" etc.);
# nothing keeps them between interrupts, so a TSS or a descriptor rewritten in
# memory applies at the next one.  The accessed bit of the new SS is set as for
# any segment load (3.4.5.1).

def test_tss_stack_rewritten_in_place(strategy):
    from sysguest import ESP0, TSS32
    s = Sys(strategy)
    s.set_idt(0x40, CS0, H1, 0xE, dpl=3)
    s.code(H1, ["mov eax, esp", f"mov dword ptr [{TSS32 + 4:#x}], {ESP0 + 0x800:#x}", "iretd"])
    a, _ = s.ring3(["int 0x40", "mov esi, eax", "int 0x40", "mov edi, eax", "int 0x50"])
    s.run()
    c = s.m.cpu
    assert (c.esi, c.edi) == (ESP0 - 20, ESP0 + 0x800 - 20)
    assert s.halted_in(13)                      # INT 0x50: DPL-0 gate from ring 3
    assert c.esp == ESP0 + 0x800 - 24
    err, eip, cs = s.stack(3)
    assert (err, eip, lo16(cs)) == (0x50 * 8 + 2, a[4], 0x1B)


def test_tss_ss0_and_its_descriptor_rewritten(strategy):
    from sysguest import CODE3, ESP0, TSS32
    SS0B = 0xB8
    s = Sys(strategy)
    s.set_gdt(SS0B, seg_desc(0, 0xFFFFFFFF, 0x2))           # writable data, not accessed
    for v, h in ((0x40, H1), (0x41, H1 + 0x40), (0x42, H1 + 0x80)):
        s.set_idt(v, CS0, h, 0xE, dpl=3)
    s.code(H1, [f"mov word ptr [{TSS32 + 8:#x}], {SS0B:#x}", "iretd"])      # SS0 <- SS0B
    s.code(H1 + 0x40, ["mov ebx, ss", f"movzx edi, byte ptr [{GDT + SS0B + 5:#x}]",
                       *gdt_write(SS0B, seg_desc(0x100, 0xFFFFFFFF, 0x3)),
                       "iretd"])                                              # base 0x100
    s.code(H1 + 0x80, ["mov ecx, [esp]", "mov edx, ss", "iretd"])             # through SS
    _, lab = code(s, CODE3 + 0x100, ["int 0x40", "int 0x41", "int 0x42", "r3:", "int 0x50"])
    s.ring3([f"jmp {CODE3 + 0x100:#x}"])
    s.run()
    c = s.m.cpu
    assert s.halted_in(13)
    assert (c.ebx & 0xFFFF, c.edx & 0xFFFF) == (SS0B, SS0B)
    assert c.edi == 0x93                                      # accessed by the 2nd INT
    assert c.ecx == lab["r3"]                                 # the frame at SS.base + ESP
    assert c.ss == SS0B and c.esp == ESP0 - 24
    err, eip = struct.unpack("<II", s.m.mem.read(0x100 + c.esp, 8))
    assert (err, eip) == (0x50 * 8 + 2, lab["r3"])


# vol. 2 IRET, RETURN-TO-OUTER-PRIVILEGE-LEVEL: the return CS and SS
# descriptors are read from the GDT/LDT ("IF stack segment is not present THEN
# #SS(SS selector)"), loaded with their bases, and marked accessed (3.4.5.1).

def test_iret_to_ring3_rereads_user_descriptors(strategy):
    from sysguest import CS3, DS3, STACK3
    cases = ["ss accessed", "cs accessed", "ss not present", "cs base"]
    for case in cases:
        s = Sys(strategy)
        s.set_idt(0x40, CS0, H1, 0xE, dpl=3)
        if case == "ss accessed":
            edit = [f"and byte ptr [{GDT + (DS3 & ~7) + 5:#x}], 0xfe"]
        elif case == "cs accessed":
            edit = [f"and byte ptr [{GDT + (CS3 & ~7) + 5:#x}], 0xfe"]
        elif case == "ss not present":
            edit = [f"and byte ptr [{GDT + (DS3 & ~7) + 5:#x}], 0x7f"]
        else:
            edit = gdt_write(CS3, seg_desc(0x100, 0xFFFFFFFF, 0xB, dpl=3))
        h = s.code(H1, [*edit, "iretd"])
        a, _ = s.ring3(["int 0x40", "mov esi, 1", "int 0x50"])
        s.code(a[1] + 0x100, ["mov esi, 2", "int 0x51"])
        s.run()
        c = s.m.cpu
        if case == "ss not present":
            assert s.halted_in(12), case
            err, eip, cs = s.stack(3)
            assert (err, eip, lo16(cs)) == (DS3 & ~3, h[-1], CS0)
            continue
        if case == "cs base":
            assert s.halted_in(13) and c.esi == 2, case
            # #GP(0x51 * 8 + 2) from ring 3: a fault, EIP of the INT 0x51 (offset in CS3)
            assert s.stack(3)[:2] == [0x51 * 8 + 2, a[1] + 5]
            continue
        assert s.halted_in(13) and c.esi == 1, case
        sel = DS3 if case == "ss accessed" else CS3
        assert (s.get_gdt(sel)[1] >> 8) & 1 == 1, case
        err, eip, cs, fl, esp, ss = s.stack(6)
        assert (lo16(cs), esp, lo16(ss)) == (CS3, STACK3, DS3), case


def test_paged_tss_stack_pointer_straddling_scattered_pages(strategy):
    # the TSS's ESP0 field across two linear pages that map to unrelated
    # physical pages; a decoy where it would be if they were contiguous
    from sysguest import CS3, DS3, STACK3
    s, _ = paged_sys(strategy)
    TSS2 = 0xA8
    base = ALIAS + 0x1000 - 6                      # ESP0 at 0x70ffe..0x71001
    tss = bytearray(0x68)
    struct.pack_into("<IH", tss, 4, 0x7780, 0x10)  # ESP0 = 0x7780, SS0 = DS0
    s.m.mem.write(0x90000 + 0x1000 - 6, bytes(tss[:6]))
    s.m.mem.write(0x60000, bytes(tss[6:]))
    s.m.mem.write(0x91000, struct.pack("<H", 1) + bytes(tss[8:]))    # decoy: ESP0 0x17780
    s.set_gdt(TSS2, seg_desc(base, 0x67, 0x9, s=0, db=0))
    s.set_idt(0x40, CS0, H1, 0xE, dpl=3)
    # the handler reads the TSS's first page and writes the decoy stack's page
    # (so that the TLB holds both, as a busy kernel's would)
    s.code(H1, ["mov eax, esp", f"mov edx, [{ALIAS + 0xFF0:#x}]",
                "mov dword ptr [0x17000], 0", "iretd"])
    s.m.cpu.cr3 = PD
    s.m.cpu.cr0 = s.m.cpu.cr0 | 0x80000000
    a, _ = s.ring3(["int 0x40", "int 0x40", "mov esi, eax", "int 0x50"], tss=TSS2)
    s.run()
    c = s.m.cpu
    assert s.halted_in(13)
    assert c.esi == 0x7780 - 20 and c.esp == 0x7780 - 24
    err, eip, cs, fl, esp, ss = s.stack(6)
    assert (err, eip, lo16(cs), esp, lo16(ss)) == (0x50 * 8 + 2, a[3], CS3, STACK3, DS3)
