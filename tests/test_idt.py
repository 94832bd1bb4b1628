"""Exception and interrupt delivery through the protected-mode IDT and the
real-mode IVT, checked against the Intel SDM (vol. 3 ch. 6 and 20, vol. 2 INT n /
IRET).  Every expected value is derived from the SDM text cited next to it; the
guest environment is tests/sysguest.py.  Every test runs under every strategy."""
import struct

import pytest

from bt import ExitKind, Machine
from bt.machine import BtError
from sysguest import (CODE, far, CS0, CS3, DS0, DS3, ESP0, IDT, REC, SMALL0,
                      STACK0, STACK3, SP0_16, TSS16_SEL, A, Sys, handler)

IF, TF, NT, RF, CF, OF = 0x200, 0x100, 0x4000, 0x10000, 0x1, 0x800
DR6_BS = 1 << 14


def lo16(v):
    return v & 0xFFFF


# ------------------------------------------------------------ same-privilege delivery
# SDM vol. 3 6.12.1 (figure 6-4, "Stack Usage with No Privilege-Level Change"):
# EFLAGS, CS, EIP [, error code] are pushed on the current stack; an interrupt
# gate clears IF, both gate kinds clear TF, NT, RF and VM (6.12.1.3, and the
# INT n pseudocode: "TF <- 0; NT <- 0; VM <- 0; RF <- 0; IF <- 0 (interrupt gate)").
# Fault vs. trap (6.5, 6.15): a fault saves the EIP of the faulting instruction,
# a trap (INT n, INT3, INTO) the EIP of the next one.

def test_de_is_a_fault_without_error_code(strategy):
    s = Sys(strategy)
    a = s.ring0(["mov ecx, 0", "mov edx, 0", "mov eax, 5", "div ecx", "nop"])
    s.m.cpu.eflags = 0x2 | IF | CF
    ex = s.run()
    assert ex.kind == ExitKind.HLT and s.halted_in(0)
    # 6.15 Interrupt 0: fault, no error code; saved EIP -> the DIV
    assert s.m.cpu.esp == STACK0 - 12
    eip, cs, fl = s.stack(3)
    assert eip == a[3] and lo16(cs) == CS0
    # EFLAGS before the DIV (a fault changes nothing); RF: test_rf_in_saved_eflags
    assert fl & ~RF == 0x2 | IF | CF
    assert s.m.cpu.eflags & (IF | TF | NT | RF) == 0   # interrupt gate
    assert s.m.cpu.cpl == 0 and s.m.cpu.ss == DS0


def test_ud_fault_and_int3_into_traps(strategy):
    # 6.15 Interrupt 6: fault (EIP of UD2); Interrupt 3/4: traps, EIP after INT3/INTO
    s = Sys(strategy)
    a = s.ring0(["ud2"])
    s.run()
    assert s.halted_in(6) and s.stack(1)[0] == a[0] and s.m.cpu.esp == STACK0 - 12

    s = Sys(strategy)
    a = s.ring0(["nop", "int3", "nop"])
    s.run()
    assert s.halted_in(3) and s.stack(1)[0] == a[2]

    s = Sys(strategy)
    a = s.ring0(["mov al, 0x7f", "add al, 1", "into", "nop"])   # OF=1
    s.run()
    assert s.halted_in(4) and s.stack(1)[0] == a[3]
    assert s.stack(3)[2] & OF

    s = Sys(strategy)     # INTO with OF=0 does nothing (vol. 2 INTO)
    a = s.ring0(["mov al, 1", "add al, 1", "into", "int 0x40"])
    s.run()
    assert s.halted_in(0x40)


def test_br_is_a_fault(strategy):
    # 6.15 Interrupt 5: BOUND range exceeded, fault, no error code
    s = Sys(strategy)
    s.m.mem.write(REC, struct.pack("<ii", 0, 10))
    a = s.ring0(["mov eax, 20", f"bound eax, [{REC:#x}]", "nop"])
    s.run()
    assert s.halted_in(5) and s.stack(1)[0] == a[1] and s.m.cpu.esp == STACK0 - 12


def test_gp_np_ss_error_codes_from_segment_loads(strategy):
    # vol. 2 MOV (segment register) pseudocode: selector outside the table
    # limit -> #GP(selector); data segment not present -> #NP(selector); SS not
    # present -> #SS(selector).  6.13: the error code is the selector index with
    # TI, IDT=0 and EXT=0 (the instruction caused it); pushed after EIP (fig. 6-4).
    cases = [("mov ax, 0x103", "mov ds, ax", 13, 0x100),
             ("mov ax, 0x78", "mov ds, ax", 11, 0x78),
             ("mov ax, 0x7b", "mov es, ax", 13, 0x78),     # RPL 3 > DPL 0: #GP(sel)
             ("mov ax, 0x78", "mov ss, ax", 12, 0x78),
             ("mov ax, 0x18", "mov ds, ax", None, None)]   # code DPL 0 readable: fine
    for i, (l1, l2, vec, err) in enumerate(cases):
        s = Sys(strategy)
        a = s.ring0([l1, l2, "int 0x40"])
        s.run()
        if vec is None:
            assert s.halted_in(0x40)
            continue
        assert s.halted_in(vec), (i, s.m.cpu.eip)
        assert s.m.cpu.esp == STACK0 - 16
        e, eip, cs, fl = s.stack(4)
        assert (e, eip, lo16(cs)) == (err, a[1], CS0), i


def test_gp_from_segment_limit_has_error_code_zero(strategy):
    # 6.15 Interrupt 13 / vol. 2 MOV: a memory operand outside DS's limit -> #GP(0)
    s = Sys(strategy)
    a = s.ring0([f"mov ax, {SMALL0:#x}", "mov ds, ax", "mov eax, [0xffc]", "mov eax, [0x1000]"])
    s.run()
    assert s.halted_in(13) and s.stack(2) == [0, a[3]]


def test_trap_gate_keeps_if_interrupt_gate_clears_it(strategy):
    # 6.12.1.3: through an interrupt gate IF is cleared, through a trap gate it is not
    for typ, want_if in ((0xE, 0), (0xF, IF)):
        s = Sys(strategy)
        s.set_idt(0x40, CS0, handler(0x40), typ)
        a = s.ring0(["int 0x40", "nop"])
        s.m.cpu.eflags = 0x2 | IF | TF * 0
        s.run()
        assert s.halted_in(0x40)
        assert s.m.cpu.eflags & IF == want_if
        eip, cs, fl = s.stack(3)
        assert eip == a[1] and fl & IF      # INT n is a trap; the saved EFLAGS has IF


def test_nt_cleared_on_delivery(strategy):
    # INT n pseudocode (vol. 2): "TF <- 0; NT <- 0; VM <- 0; RF <- 0" for either gate
    s = Sys(strategy)
    s.set_idt(0x40, CS0, handler(0x40), 0xF)
    s.ring0(["pushfd", f"or dword ptr [esp], {NT:#x}", "popfd", "int 0x40"])
    s.run()
    assert s.halted_in(0x40)
    assert s.stack(3)[2] & NT and not s.m.cpu.eflags & NT


def test_16bit_interrupt_gate_pushes_words(strategy):
    # 6.12.1 / figure 6-4 with a 16-bit gate: IP, CS, FLAGS are 16-bit pushes;
    # the handler offset is 16 bits (6.11 figure 6-2)
    s = Sys(strategy)
    s.set_idt(0x41, CS0, handler(0x41), 0x6)
    a = s.ring0(["int 0x41", "nop"])
    s.m.cpu.eflags = 0x2 | IF | CF
    s.run()
    assert s.halted_in(0x41)
    assert s.m.cpu.esp == STACK0 - 6
    assert s.stack(3, 2) == [lo16(a[1]), CS0, 0x2 | IF | CF]
    assert not s.m.cpu.eflags & IF


def test_16bit_trap_gate_error_code_is_a_word(strategy):
    # 6.13: with a 16-bit gate the error code is pushed as a word
    s = Sys(strategy)
    s.set_idt(13, CS0, handler(13), 0x7)
    a = s.ring0(["mov ax, 0x103", "mov ds, ax"])
    s.m.cpu.eflags = 0x2 | IF
    s.run()
    assert s.halted_in(13)
    assert s.m.cpu.esp == STACK0 - 8
    assert s.stack(4, 2) == [0x100, lo16(a[1]), CS0, 0x2 | IF]
    assert s.m.cpu.eflags & IF          # trap gate


def test_interrupt_from_16bit_code_segment_and_back(strategy):
    # the gate (32-bit) decides the frame, not the interrupted code (6.12.1);
    # IRETD returns to the 16-bit segment, which decodes as 16-bit again
    from sysguest import CS16
    s = Sys(strategy)
    s.code(handler(0x40), ["iretd"])
    t16 = CODE + 0x100
    a16 = s.code(t16, ["int 0x40", "mov ax, 0x1234", "int 0x41"], bits=16)
    s.ring0(["mov eax, 0", far("jmp", CS16, t16)])
    s.run()
    assert s.halted_in(0x41) and s.m.cpu.eax == 0x1234
    eip, cs, fl = s.stack(3)
    assert (eip, lo16(cs)) == (a16[2] + 2, CS16) and s.m.cpu.esp == STACK0 - 12


def test_handler_iret_resumes_after_trap(strategy):
    # IRET at the same level pops EIP, CS, EFLAGS (vol. 2 IRET RETURN-TO-SAME-PRIVILEGE-LEVEL)
    s = Sys(strategy)
    s.code(handler(0x40), ["inc ebx", "iretd"])
    s.ring0(["mov ebx, 0", "int 0x40", "int 0x40", "mov ecx, ebx", "int 0x41"])
    s.m.cpu.eflags = 0x2 | IF
    s.run()
    assert s.halted_in(0x41) and s.m.cpu.ecx == 2
    assert s.m.cpu.esp == STACK0 - 12 and s.m.cpu.eflags & IF == 0 and s.stack(3)[2] & IF


def test_rf_in_saved_eflags(strategy):
    # SDM vol. 3 17.3.1.1 (RF): "For any fault-class exception except a debug
    # exception generated in response to an instruction breakpoint, the value
    # pushed for RF is 1"; software interrupts push RF=0 (cleared at the start
    # of the instruction); traps after an instruction push the current RF (0).
    s = Sys(strategy)
    s.ring0(["nop", "ud2"])
    s.run()
    assert s.halted_in(6) and s.stack(3)[2] & RF, "fault: RF=1 in the saved EFLAGS"
    assert not s.m.cpu.eflags & RF
    s = Sys(strategy)
    s.ring0(["nop", "int 0x40"])
    s.run()
    assert s.halted_in(0x40) and not s.stack(3)[2] & RF


# ------------------------------------------------------------ privilege change
# SDM vol. 3 6.12.1 (figure 6-4, "Stack Usage with Privilege-Level Change"): the
# handler's stack comes from the TSS (SS0:ESP0 for a DPL-0 handler, 7.2.1), and
# SS, ESP, EFLAGS, CS, EIP [, error code] are pushed on it.  Only the low 16 bits
# of the SS and CS slots are compared: the SDM lets the upper half be zero or
# left unmodified (vol. 2 PUSH, segment register with 32-bit operand size).

def test_int80_from_ring3_switches_to_tss_stack(strategy):
    s = Sys(strategy)
    s.set_idt(0x80, CS0, handler(0x80), 0xE, dpl=3)
    a, _ = s.ring3(["mov eax, 1", "int 0x80", "nop"])
    s.run()
    assert s.halted_in(0x80)
    assert s.m.cpu.cpl == 0 and s.m.cpu.ss == DS0 and s.m.cpu.esp == ESP0 - 20
    eip, cs, fl, esp, ss = s.stack(5)
    assert (eip, lo16(cs), fl, esp, lo16(ss)) == (a[2], CS3, 0x202, STACK3, DS3)
    assert not s.m.cpu.eflags & IF
    # data segment registers are not touched by the delivery (6.12.1: only
    # virtual-8086 mode clears DS/ES/FS/GS on the way in)
    assert s.m.cpu.ds == DS3 and s.m.cpu.es == DS3


def test_exception_in_ring3_with_error_code(strategy):
    # vol. 2 HLT: #GP(0) at CPL > 0; the frame on the ring-0 stack has the error code last
    s = Sys(strategy)
    a, _ = s.ring3(["nop", "hlt"])
    s.run()
    assert s.halted_in(13)
    assert s.m.cpu.esp == ESP0 - 24
    e, eip, cs, fl, esp, ss = s.stack(6)
    assert (e, eip, lo16(cs), fl & ~RF, esp, lo16(ss)) == (0, a[1], CS3, 0x202, STACK3, DS3)


def test_int_n_gate_dpl_below_cpl_is_gp(strategy):
    # vol. 2 INT n: software interrupt and gate DPL < CPL -> #GP(vector*8 + 2)
    # (IDT bit set, EXT clear); a fault: saved EIP is the INT instruction
    s = Sys(strategy)
    a, _ = s.ring3(["int 0x41"])
    s.run()
    assert s.halted_in(13)
    e, eip, cs = s.stack(3)
    assert e == 0x41 * 8 + 2 and eip == a[0] and lo16(cs) == CS3


def test_int3_from_ring3_needs_dpl3_gate(strategy):
    # INT3 is a software interrupt too (vol. 2 INT n: "INT3 ... gate DPL checked")
    s = Sys(strategy)
    a, _ = s.ring3(["int3"])
    s.run()
    assert s.halted_in(13) and s.stack(2) == [3 * 8 + 2, a[0]]
    s = Sys(strategy)
    s.set_idt(3, CS0, handler(3), 0xE, dpl=3)
    a, _ = s.ring3(["int3", "nop"])
    s.run()
    assert s.halted_in(3) and s.stack(1) == [a[1]] and s.m.cpu.esp == ESP0 - 20


def test_exceptions_ignore_gate_dpl(strategy):
    # vol. 2 INT n: the gate DPL check applies to software interrupts only;
    # a #UD in ring 3 through a DPL-0 gate is delivered
    s = Sys(strategy)
    a, _ = s.ring3(["ud2"])
    s.run()
    assert s.halted_in(6) and s.stack(1) == [a[0]] and s.m.cpu.esp == ESP0 - 20


def test_not_present_gate(strategy):
    # vol. 2 INT n: "IF gate not present THEN #NP(error_code(vector_number,1,EXT))"
    # INT n: EXT=0 -> vector*8+2; an exception: EXT=1 -> vector*8+3 (6.13)
    s = Sys(strategy)
    s.set_idt(0x42, CS0, handler(0x42), 0xE, dpl=3, p=0)
    a, _ = s.ring3(["int 0x42"])
    s.run()
    assert s.halted_in(11) and s.stack(2) == [0x42 * 8 + 2, a[0]]

    s = Sys(strategy)
    s.set_idt(6, CS0, handler(6), 0xE, p=0)
    a = s.ring0(["nop", "ud2"])
    s.run()
    # benign (#UD) then contributory (#NP): handled serially (table 6-5);
    # the #NP's saved EIP is the UD2 that started the delivery
    assert s.halted_in(11) and s.stack(2) == [6 * 8 + 3, a[1]]
    assert s.m.stats["vectors_delivered"] == {11: 1}


def test_vector_beyond_idt_limit(strategy):
    # 6.10 / vol. 2 INT n: "IF (vector_number*8 + 7) > IDT limit THEN
    # #GP(error_code(vector_number,1,EXT))"
    s = Sys(strategy)
    s.m.core.set_dtr(1, IDT, 0x30 * 8 - 1)      # vectors 0..0x2F
    a = s.ring0(["int 0x30"])
    s.run()
    assert s.halted_in(13) and s.stack(2) == [0x30 * 8 + 2, a[0]]


def test_gate_to_non_code_or_more_privileged_code(strategy):
    # vol. 2 INT n: the gate's selector must name a code segment with DPL <= CPL,
    # else #GP(error_code(new code-segment selector,0,EXT)); for INT n EXT=0
    s = Sys(strategy)
    s.set_idt(0x80, DS3, handler(0x80), 0xE, dpl=3)       # a data segment
    a, _ = s.ring3(["int 0x80"])
    s.run()
    assert s.halted_in(13) and s.stack(2) == [DS3 & ~3, a[0]]


def test_gate_to_more_privileged_target_and_ext_bit(strategy):
    # vol. 2 INT n: "IF new code-segment DPL > CPL THEN #GP(error_code(new
    # code-segment selector,0,EXT))": INT n from ring 0 to a DPL-3 code segment
    s = Sys(strategy)
    s.set_idt(0x80, CS3, handler(0x80), 0xE, dpl=3)
    a = s.ring0(["int 0x80"])
    s.run()
    assert s.halted_in(13) and s.stack(2) == [CS3 & ~3, a[0]]
    # the same check for an exception (#UD): EXT=1 (6.13)
    s = Sys(strategy)
    s.set_idt(6, DS0, handler(6), 0xE)
    a = s.ring0(["ud2"])
    s.run()
    assert s.halted_in(13) and s.stack(2) == [DS0 | 1, a[0]]


def test_16bit_gate_from_ring3(strategy):
    # 6.12.1 with a 16-bit gate and a privilege change: SS, SP, FLAGS, CS, IP
    # pushed as words on SS0:ESP0
    s = Sys(strategy)
    s.set_idt(0x80, CS0, handler(0x80), 0x6, dpl=3)
    a, _ = s.ring3(["int 0x80", "nop"])
    s.run()
    assert s.halted_in(0x80) and s.m.cpu.cpl == 0
    assert s.m.cpu.esp == ESP0 - 10
    assert s.stack(5, 2) == [lo16(a[1]), CS3, 0x202, lo16(STACK3), DS3]


def test_new_stack_without_room_is_ss(strategy):
    # vol. 2 INT n (INTER-PRIVILEGE-LEVEL-INTERRUPT, 32-bit gate): "IF new stack
    # does not have room for 24 bytes (error code pushed) or 20 bytes (no error
    # code) THEN #SS(error_code(NewSS,0,EXT))"; INT n: EXT=0, a fault of the INT.
    # The #SS goes to a conforming ring-0 segment (no stack switch, 5.8.2.3)
    # that reports the error code through the exit port.
    from sysguest import CONF0, TSS32
    s = Sys(strategy)
    s.set_idt(0x80, CS0, handler(0x80), 0xE, dpl=3)
    s.set_idt(12, CONF0, handler(12), 0xE)
    s.code(handler(12), ["pop eax", "out 0xf4, al"])
    s.m.mem.write(TSS32 + 4, struct.pack("<IH", 0x10, SMALL0))    # ESP0 = 0x10, limit 0xFFF
    a, _ = s.ring3(["int 0x80"])
    ex = s.run()
    assert ex.kind == ExitKind.GUEST_EXIT and ex.status == (SMALL0 << 1) | 1
    assert s.m.cpu.cpl == 3 and s.stack(2) == [a[0], CS3]


def test_gate_descriptor_checks(strategy):
    from sysguest import CS16, seg_desc
    # vol. 2 INT n: "IF descriptor type is not interrupt, trap or task gate THEN
    # #GP(error_code(vector_number,1,EXT))"
    s = Sys(strategy)
    s.m.mem.write(IDT + 8 * 0x80, struct.pack("<II", *seg_desc(0, 0xFFFFF, 0xB, dpl=3)))
    a = s.ring0(["int 0x80"])
    s.run()
    assert s.halted_in(13) and s.stack(2) == [0x80 * 8 + 2, a[0]]
    # "IF new code segment is not present THEN #NP(error_code(segment selector,0,EXT))"
    s = Sys(strategy)
    s.set_gdt(0x90, seg_desc(0, 0xFFFFFFFF, 0xB, p=0))
    s.set_idt(0x80, 0x90, handler(0x80), 0xE)
    a = s.ring0(["int 0x80"])
    s.run()
    assert s.halted_in(11) and s.stack(2) == [0x90, a[0]]
    s = Sys(strategy)                                 # an exception: EXT=1
    s.set_gdt(0x90, seg_desc(0, 0xFFFFFFFF, 0xB, p=0))
    s.set_idt(6, 0x90, handler(6), 0xE)
    a = s.ring0(["ud2"])
    s.run()
    assert s.halted_in(11) and s.stack(2) == [0x91, a[0]]
    # "IF instruction pointer from the gate is not within the code segment
    # limits THEN #GP(EXT)": the 64 KiB CS16 and an offset above it
    s = Sys(strategy)
    s.set_idt(0x80, CS16, 0x12345, 0xE)
    s.set_idt(6, CS16, 0x12345, 0xE)
    a = s.ring0(["int 0x80"])
    s.run()
    assert s.halted_in(13) and s.stack(2) == [0, a[0]]
    s = Sys(strategy)
    s.set_idt(6, CS16, 0x12345, 0xE)
    a = s.ring0(["ud2"])
    s.run()
    assert s.halted_in(13) and s.stack(2) == [1, a[0]]


def test_ring1_handler_uses_ss1_esp1(strategy):
    # 7.2.1 figure 7-2 (32-bit TSS: ESP1 at 0xC, SS1 at 0x10) and 7.7 figure
    # 7-11 (16-bit TSS: SP1 at 6, SS1 at 8); 6.12.1: the new stack is the one
    # for the handler's DPL.  The handler (ring 1) cannot HLT: the run stops
    # by instruction count right after the INT.
    from sysguest import TSS16, TSS32, seg_desc
    for tss, off, fmt in ((0x28, TSS32 + 0xC, "<IH"), (TSS16_SEL, TSS16 + 6, "<HH")):
        s = Sys(strategy)
        s.set_gdt(0x98, seg_desc(0, 0xFFFFFFFF, 0xB, dpl=1))
        s.set_gdt(0xA0, seg_desc(0, 0xFFFFFFFF, 0x3, dpl=1))
        s.m.mem.write(off, struct.pack(fmt, 0x5F00, 0xA1))
        s.set_idt(0x80, 0x98, handler(0x80), 0xE, dpl=3)
        a, n = s.ring3(["int 0x80"], tss=tss)
        s.run(max_insns=n + 1)
        c = s.m.cpu
        assert (c.cpl, c.cs, c.ss, c.esp, c.eip) == (1, 0x99, 0xA1, 0x5F00 - 20, handler(0x80)), tss
        eip, cs, fl, esp, ss = s.stack(5)
        assert (eip, lo16(cs), esp, lo16(ss)) == (a[0] + 2, CS3, STACK3, DS3)


def test_tss_too_short_for_the_stack_pointer_is_ts(strategy):
    # vol. 2 INT n (INTER-PRIVILEGE-LEVEL-INTERRUPT, 32-bit TSS): "TSSstackAddress
    # <- (new code-segment DPL << 3) + 4; IF (TSSstackAddress + 5) > current TSS
    # limit THEN #TS(error_code(current TSS selector,0,EXT))": for DPL 0 a limit
    # of 9 is enough, 8 is not.  The #TS handler is a conforming segment that
    # reports through the exit port (IOPL 3: no bitmap in so short a TSS).
    from sysguest import CONF0, TSS32, TSS_SEL, seg_desc
    for limit, status in ((9, None), (8, (TSS_SEL << 1) | 1)):
        s = Sys(strategy)
        s.set_gdt(TSS_SEL, seg_desc(TSS32, limit, 0x9, s=0, db=0))
        s.set_idt(0x80, CS0, handler(0x80), 0xE, dpl=3)
        s.set_idt(10, CONF0, handler(10), 0xE)
        s.code(handler(10), ["pop eax", "out 0xf4, al"])
        a, _ = s.ring3(["int 0x80"], eflags=0x3202)
        ex = s.run()
        if status is None:
            assert ex.kind == ExitKind.HLT and s.halted_in(0x80) and s.m.cpu.esp == ESP0 - 20
        else:
            assert ex.kind == ExitKind.GUEST_EXIT and ex.status == status, ex
            assert s.stack(1) == [a[0]]


def test_16bit_tss_stack_for_32bit_gate(strategy):
    # 7.7 figure 7-11: a 16-bit TSS holds SP0 at offset 2 and SS0 at 4; the 32-bit
    # gate still pushes doublewords (6.12.1), on SS0:SP0
    s = Sys(strategy)
    s.set_idt(0x80, CS0, handler(0x80), 0xE, dpl=3)
    a, _ = s.ring3(["int 0x80", "nop"], tss=TSS16_SEL)
    s.run()
    assert s.halted_in(0x80)
    assert s.m.cpu.ss == DS0 and s.m.cpu.esp == SP0_16 - 20
    eip, cs, fl, esp, ss = s.stack(5)
    assert (eip, lo16(cs), esp, lo16(ss)) == (a[1], CS3, STACK3, DS3)


def test_bad_tss_ss0_is_ts(strategy):
    # vol. 2 INT n (INTER-PRIVILEGE-LEVEL-INTERRUPT): "IF NewSS is NULL THEN
    # #TS(EXT)"; "IF NewSS.RPL != new CPL or NewSS is not a writable data
    # segment ... THEN #TS(error_code(NewSS,0,EXT))".  The #TS handler here is
    # a conforming ring-0 segment (no stack switch, 5.8.2.3) that reports
    # through the exit port (allowed to ring 3 by the I/O bitmap).
    # "IF NewSS is not present THEN #SS(error_code(NewSS,0,EXT))"
    from sysguest import CONF0, NP0, TSS32
    for ss0, vec, want in ((CS0, 10, CS0), (0, 10, 0), (DS0 | 3, 10, DS0), (DS3, 10, DS3 & ~3),
                           (NP0, 12, NP0)):
        s = Sys(strategy)
        s.set_idt(0x80, CS0, handler(0x80), 0xE, dpl=3)
        s.set_idt(vec, CONF0, handler(vec), 0xE)
        s.code(handler(vec), ["pop eax", "out 0xf4, al"])
        s.m.mem.write(TSS32 + 8, struct.pack("<H", ss0))
        a, _ = s.ring3(["int 0x80"])
        ex = s.run()
        assert ex.kind == ExitKind.GUEST_EXIT and ex.status == (want << 1) | 1, (ss0, ex)
        assert s.m.cpu.cpl == 3 and s.stack(1) == [a[0]]


# ------------------------------------------------------------ fault precision
# 6.5 (faults): "the return address ... points to the faulting instruction";
# the state is that before the instruction, so earlier instructions of the same
# translated block have retired and later ones have not.

def test_fault_mid_block_is_precise_when_delivered(strategy):
    s = Sys(strategy)
    a = s.ring0(["mov esi, 0x11", f"mov [{REC + 0x100:#x}], esi", "mov ecx, 0", "mov edx, 0",
                 "mov eax, 9", "div ecx", "mov edi, 5", f"mov [{REC + 0x104:#x}], edi", "int 0x40"])
    s.run()
    assert s.halted_in(0)
    assert s.stack(1) == [a[5]]
    assert s.m.mem.read_u32(REC + 0x100) == 0x11 and s.m.cpu.esi == 0x11
    assert s.m.mem.read_u32(REC + 0x104) == 0 and s.m.cpu.edi == 0
    assert s.m.cpu.eax == 9       # DIV faulted: EAX/EDX unchanged
    assert s.m.stats["vectors_delivered"] == {0: 1}


def test_memory_fault_mid_block_is_precise_and_resumable(strategy):
    # the #GP handler pops the error code, skips the faulting 5-byte load and
    # returns (IRET at the same level); each load's successor has not run when
    # the fault is taken, and runs after the return
    s = Sys(strategy)
    s.code(handler(13), ["add esp, 4", "add dword ptr [esp], 5", "inc ebp",
                         "iretd"])
    a = s.ring0([f"mov ax, {SMALL0:#x}", "mov ds, ax", "mov ebp, 0", "mov ebx, 1",
                 "mov eax, [0x1000]", "mov ebx, 2", "mov eax, [0x2000]", "mov ecx, 3",
                 "int 0x40"])
    assert a[5] - a[4] == 5 and a[7] - a[6] == 5
    ex = s.run()
    assert ex.kind == ExitKind.HLT and s.halted_in(0x40)
    assert s.m.cpu.ebp == 2 and s.m.cpu.ebx == 2 and s.m.cpu.ecx == 3


def test_fault_in_a_loop_is_delivered_every_time(strategy):
    # 50 iterations, each with a #GP the handler skips: every earlier
    # instruction of the block retired, every later one runs after the IRET
    s = Sys(strategy)
    s.code(handler(13), ["add esp, 4", "add dword ptr [esp], 5", "inc ebp", "iretd"])
    a = s.ring0([f"mov ax, {SMALL0:#x}", "mov ds, ax", "mov ecx, 50", "xor ebp, ebp",
                 "inc esi", "mov eax, [0x1000]", "add edi, esi", "dec ecx", b"\x75\xf5",   # jnz -11: the INC
                 "int 0x40"])
    assert a[6] - a[5] == 5 and a[8] + 2 - 11 == a[4]
    s.run()
    assert s.halted_in(0x40)
    assert (s.m.cpu.ebp, s.m.cpu.esi, s.m.cpu.edi) == (50, 50, 50 * 51 // 2)
    assert s.m.stats["vectors_delivered"] == {13: 50, 0x40: 1}


def test_stack_fault_at_ring3_is_precise(strategy):
    # vol. 2 PUSH: "#SS(0) If a memory operand effective address is outside the
    # SS segment limit"; the faulting PUSH changes nothing (ESP as before it),
    # the earlier instructions of the block have run; delivered on the TSS stack
    from sysguest import seg_desc
    s = Sys(strategy)
    s.set_gdt(0xC0, seg_desc(0x9000, 0xFFF, 0x3, dpl=3))
    a, _ = s.ring3(["mov ax, 0xc3", "mov ss, ax", "mov esp, 8", "push eax", "push eax",
                    "mov ebx, 1", "push eax", "mov ebx, 2"])
    s.run()
    assert s.halted_in(12) and s.m.cpu.ebx == 1
    e, eip, cs, fl, esp, ss = s.stack(6)
    assert (e, eip, lo16(cs), esp, lo16(ss)) == (0, a[6], CS3, 0, 0xC3)


# ------------------------------------------------------------ #DF and triple fault
# SDM vol. 3 6.15 Interrupt 8, table 6-5: benign first -> handle serially;
# contributory (0, 10-13) then contributory -> #DF; page fault then contributory
# or page fault -> #DF; #DF pushes an error code of 0 and its saved CS:EIP is
# undefined; a fault while delivering #DF shuts the processor down (triple fault).

def test_contributory_during_contributory_is_double_fault(strategy):
    s = Sys(strategy)
    s.set_idt(13, CS0, handler(13), 0xE, p=0)
    s.ring0(["mov ax, 0x103", "mov ds, ax"])
    ex = s.run()
    assert ex.kind == ExitKind.HLT and s.halted_in(8)
    assert s.m.cpu.esp == STACK0 - 16
    e, eip, cs = s.stack(3)
    assert e == 0 and lo16(cs) == CS0
    st = s.m.stats
    assert st["vectors_delivered"] == {8: 1}
    assert st["exceptions"] == {"#GP": 1, "#NP": 1, "#DF": 1}


def test_double_fault_from_ring3_switches_stack(strategy):
    # ring 3 HLT -> #GP(0); IDT[13] not present -> #NP(13*8+3): contributory
    # twice -> #DF(0) on the ring-0 stack from the TSS (6.12.1 with the #DF gate)
    s = Sys(strategy)
    s.set_idt(13, CS0, handler(13), 0xE, p=0)
    a, _ = s.ring3(["hlt"])
    s.run()
    assert s.halted_in(8) and s.m.cpu.cpl == 0 and s.m.cpu.esp == ESP0 - 24
    e, eip, cs, fl, esp, ss = s.stack(6)
    assert (e, lo16(cs), esp, lo16(ss)) == (0, CS3, STACK3, DS3)


def test_page_fault_then_contributory_is_double_fault(strategy):
    # no paging yet: the #PF comes from Core.deliver_exception
    s = Sys(strategy)
    s.set_idt(14, CS0, handler(14), 0xE, p=0)
    s.m.cpu.eip = CODE
    assert s.m.core.deliver_exception(14, 2) == 0
    assert s.m.cpu.eip == handler(8) and s.m.cpu.esp == STACK0 - 16
    assert s.stack(1) == [0]


def test_benign_then_contributory_is_serial(strategy):
    # #DB (benign) whose gate is beyond the IDT limit: the #GP(1*8+2+1) is delivered
    s = Sys(strategy)
    s.m.core.set_dtr(1, IDT, 0x7FF)
    s.set_idt(1, CS0, handler(1), 0xE, p=0)
    s.m.cpu.eip = CODE
    assert s.m.core.deliver_exception(1) == 0
    assert s.m.cpu.eip == handler(11) and s.stack(2) == [1 * 8 + 3, CODE]


def test_triple_fault_stops_with_report(strategy):
    # an IDT too small for anything: #UD -> #GP(6*8+3) (serial) -> #GP(13*8+3)
    # (contributory twice: #DF) -> #GP delivering #DF: shutdown
    s = Sys(strategy)
    s.m.core.set_dtr(1, IDT, 0)
    a = s.ring0(["nop", "ud2"])
    ex = s.run()
    assert ex.kind == ExitKind.TRIPLE_FAULT
    assert "triple fault" in str(ex)
    assert "#UD" in str(ex) and f"eip={a[1]:#x}" in str(ex)


def test_triple_fault_reset(strategy):
    # on_triple_fault="reset": the state after RESET (SDM vol. 3 9.1.4, table 9-1):
    # real mode, CS selector F000 (base FFFF0000), EIP 0000FFF0
    s = Sys(strategy, on_triple_fault="reset")
    s.m.core.set_dtr(1, IDT, 0)
    s.ring0(["ud2"])
    s.run(max_insns=50)
    assert s.m.triple_faults == 1
    assert s.m.cpu.cs == 0xF000 and s.m.cpu.eip == 0xFFF0
    assert s.m.cpu.get_seg("cs")["base"] == 0xFFFF0000
    assert s.m.cpu.cr0 & 1 == 0


# ------------------------------------------------------------ single step
# SDM vol. 3 17.3.1.4: with TF set, a #DB trap after each instruction, DR6.BS
# set; none after the instruction that sets TF (POPF): the first trap follows
# the instruction after it.  6.8.3: MOV SS / POP SS inhibit debug exceptions
# (single-step included) until the boundary after the next instruction.

DB_RECORDER = ["push eax", "push ebx", f"mov eax, [{REC:#x}]", "mov ebx, [esp+8]",
               f"mov [{REC + 4:#x}+eax*4], ebx", f"inc dword ptr [{REC:#x}]", "pop ebx",
               "pop eax", "iretd"]


def test_single_step_first_trap(strategy):
    s = Sys(strategy)
    a = s.ring0(["pushfd", f"or dword ptr [esp], {TF:#x}", "popfd", "nop", "nop", "hlt"])
    s.run()
    assert s.halted_in(1)
    eip, cs, fl = s.stack(3)
    assert eip == a[4] and fl & TF and not s.m.cpu.eflags & TF
    assert s.m.core.get_dr(6) & DR6_BS


def test_single_step_each_instruction(strategy):
    s = Sys(strategy)
    s.code(handler(1), DB_RECORDER)
    a = s.ring0(["pushfd", f"or dword ptr [esp], {TF:#x}", "popfd", "nop", "nop", "inc eax",
                 "pushfd", f"and dword ptr [esp], {~TF & 0xFFFFFFFF:#x}", "popfd", "nop", "hlt"])
    ex = s.run()
    assert ex.kind == ExitKind.HLT and s.m.cpu.eip == a[10] + 1
    n = s.m.mem.read_u32(REC)
    got = list(struct.unpack(f"<{n}I", s.m.mem.read(REC + 4, 4 * n)))
    # TF was set at the start of: nop, nop, inc, pushfd, and, popfd (the POPF that
    # clears TF began with TF=1) -> traps after each, EIP = the next instruction
    assert got == a[4:10]


def test_mov_ss_suppresses_single_step_for_one_instruction(strategy):
    s = Sys(strategy)
    s.code(handler(1), DB_RECORDER)
    a = s.ring0(["mov edx, 0x10", "pushfd", f"or dword ptr [esp], {TF:#x}", "popfd",
                 "nop", "mov ss, dx", "inc ecx", "nop",
                 "pushfd", f"and dword ptr [esp], {~TF & 0xFFFFFFFF:#x}", "popfd", "hlt"])
    s.run()
    n = s.m.mem.read_u32(REC)
    got = list(struct.unpack(f"<{n}I", s.m.mem.read(REC + 4, 4 * n)))
    # after nop (-> mov ss), none after mov ss, after inc ecx (-> nop), nop, pushfd, and, popfd
    assert got == [a[5], a[7], a[8], a[9], a[10], a[11]]


def test_single_step_through_a_loop(strategy):
    # a trap after every instruction of a loop that the block strategies
    # translate (and chain) once: the #DB EIPs are the successors, in order
    s = Sys(strategy)
    s.code(handler(1), DB_RECORDER)
    a = s.ring0(["pushfd", f"or dword ptr [esp], {TF:#x}", "popfd", "mov ecx, 5",
                 "inc ebx", "dec ecx", b"\x75\xfc",   # jnz -4: the INC
                 "pushfd", f"and dword ptr [esp], {~TF & 0xFFFFFFFF:#x}", "popfd", "hlt"])
    assert a[6] + 2 - 4 == a[4]
    s.run()
    assert s.m.cpu.eip == a[10] + 1 and s.m.cpu.ebx == 5
    n = s.m.mem.read_u32(REC)
    got = list(struct.unpack(f"<{n}I", s.m.mem.read(REC + 4, 4 * n)))
    want = [a[4]]
    for i in range(5):
        want += [a[5], a[6], a[4] if i < 4 else a[7]]
    want += [a[8], a[9], a[10]]
    assert got == want


def test_int_n_under_tf_no_trap_before_handler(strategy):
    # INT n clears TF on the way in (vol. 2 INT n), and 17.3.1.4 notes that
    # debuggers must emulate INT n/INTO rather than single-step them: no #DB
    # before the handler's first instruction; the frame keeps TF=1
    s = Sys(strategy)
    s.code(handler(1), DB_RECORDER)
    a = s.ring0(["pushfd", f"or dword ptr [esp], {TF:#x}", "popfd", "int 0x40"])
    s.run()
    assert s.halted_in(0x40) and s.stack(3)[2] & TF
    assert s.m.mem.read_u32(REC) == 0


# ------------------------------------------------------------ INTR and the shadow
# SDM vol. 3 6.8.1 / vol. 2 STI: external interrupts are recognized only with
# IF=1; after STI sets IF they are recognized after the next instruction.
# 6.4.1 / 6.13: EXT=1 in error codes raised while delivering an external interrupt.

class FakePic:
    def __init__(self, m, vector):
        self.m, self.vector, self.acks = m, vector, 0

    def ack(self):
        self.acks += 1
        self.m.core.irq_line = 0
        return self.vector


def test_irq_after_sti_and_one_instruction(strategy):
    s = Sys(strategy)
    s.m.pic = pic = FakePic(s.m, 0x30)
    a = s.ring0(["mov eax, 0", "mov ebx, 0", "nop", "nop", "sti", "inc eax", "inc ebx",
                 "inc ecx", "hlt"])
    s.m.core.irq_line = 1
    ex = s.run()
    assert ex.kind == ExitKind.HLT and s.halted_in(0x30) and pic.acks == 1
    eip, cs, fl = s.stack(3)
    assert eip == a[6] and fl & IF and not s.m.cpu.eflags & IF
    assert s.m.cpu.eax == 1 and s.m.cpu.ebx == 0
    assert s.m.stats["vectors_delivered"] == {0x30: 1}


def test_irq_right_after_popf_sets_if(strategy):
    # only STI (vol. 2 STI) and MOV SS/POP SS (vol. 3 6.8.3) delay recognition;
    # after a POPF that sets IF the interrupt is taken at the next boundary
    s = Sys(strategy)
    s.m.pic = pic = FakePic(s.m, 0x30)
    a = s.ring0(["mov eax, 0", "push 0x202", "popfd", "inc eax", "inc ebx", "hlt"])
    s.m.core.irq_line = 1
    s.run()
    assert s.halted_in(0x30) and pic.acks == 1
    assert s.stack(1) == [a[3]] and s.m.cpu.eax == 0


def test_pending_irq_wakes_hlt(strategy):
    # vol. 2 HLT: "An enabled interrupt ... will resume execution"; the saved
    # EIP is that of the instruction after HLT.  STI's shadow covers the HLT.
    s = Sys(strategy)
    s.m.pic = pic = FakePic(s.m, 0x30)
    a = s.ring0(["sti", "hlt", "inc ebx", "hlt"])
    s.m.core.irq_line = 1
    ex = s.run()
    assert ex.kind == ExitKind.HLT and pic.acks == 1, (ex, s.m.cpu.eip)
    assert s.halted_in(0x30) and s.stack(1) == [a[2]]


class RaiseOnRead:
    """An MMIO word that reads as DS0's selector and raises INTR when read."""
    name = "raise-on-read"
    ports = ()
    mmio = [(0x100000, 0x1000)]

    def __init__(self, m):
        self.m, self.reads = m, 0

    def mmio_read(self, addr, size):
        self.reads += 1
        self.m.core.irq_line = 1
        return DS0

    def mmio_write(self, addr, size, value):
        pass

    def reset(self):
        pass

    def state(self):
        return {}

    def set_state(self, st):
        pass


def test_mov_ss_and_pop_ss_shadow_the_irq(strategy):
    # SDM vol. 3 6.8.3: after MOV SS / POP SS "the processor inhibits interrupts
    # ... until the instruction boundary following the next instruction", so
    # that SS:ESP can be changed as a pair.  The selector is read from an MMIO
    # word that raises INTR as it is read: the interrupt must wait until the
    # MOV ESP after the SS load has run (saved EIP = the INC).
    for load in (["mov esp, 0x100000", "pop ss"], ["mov ss, [0x100000]"]):
        s = Sys(strategy)
        dev = s.m.add_device(RaiseOnRead(s.m))
        s.m.pic = pic = FakePic(s.m, 0x30)
        a = s.ring0(load + [f"mov esp, {STACK0:#x}", "inc ebx", "hlt"])
        s.m.cpu.eflags = 0x2 | IF
        s.run()
        assert pic.acks == 1 and s.halted_in(0x30), load
        assert s.m.cpu.esp == STACK0 - 12 and s.stack(1) == [a[len(load) + 1]], load
        assert s.m.cpu.ebx == 0 and dev.reads == 1


def test_irq_nests_in_a_trap_gate_handler(strategy):
    # a trap gate leaves IF=1 (6.12.1.3): an IRQ raised inside the handler is
    # taken there, on the same (ring-0) stack, below the first frame
    s = Sys(strategy)
    s.m.pic = pic = FakePic(s.m, 0x30)
    s.set_idt(0x80, CS0, handler(0x80), 0xF, dpl=3)
    s.code(handler(0x80), ["nop", "out 0x99, al", "nop", "iretd"])
    s.m.ports.register(RaiseOnOut(s.m), 0x99, 1)
    a, _ = s.ring3(["int 0x80", "nop"])
    s.run()
    assert s.halted_in(0x30) and pic.acks == 1
    assert s.m.cpu.esp == ESP0 - 20 - 12
    eip, cs, fl = s.stack(3)
    assert (eip, lo16(cs)) == (handler(0x80) + 3, CS0) and fl & IF
    assert s.stack(5, at=ESP0 - 20)[:2] == [a[1], CS3]


class RaiseOnOut:
    name = "raise-on-out"

    def __init__(self, m):
        self.m = m

    def io_read(self, port, size):
        return 0

    def io_write(self, port, size, value):
        self.m.core.irq_line = 1


def test_irq_not_taken_with_if_clear_hlt_ends_run(strategy):
    s = Sys(strategy)
    s.m.pic = pic = FakePic(s.m, 0x30)
    a = s.ring0(["mov eax, 1", "nop", "hlt", "nop"])
    s.m.core.irq_line = 1
    ex = s.run()
    assert ex.kind == ExitKind.HLT and s.m.cpu.eip == a[2] + 1 and pic.acks == 0


def test_irq_taken_at_once_with_if_set(strategy):
    s = Sys(strategy)
    s.m.pic = pic = FakePic(s.m, 0x31)
    s.ring0(["nop"], ltr=False)
    s.m.cpu.eflags = 0x2 | IF
    s.m.core.irq_line = 1
    s.run()
    assert s.halted_in(0x31) and pic.acks == 1 and s.stack(1) == [CODE]


def test_irq_from_ring3_uses_tss_stack(strategy):
    s = Sys(strategy)
    s.m.pic = pic = FakePic(s.m, 0x30)
    a, n = s.ring3(["nop", b"\xeb\xfe"])     # jmp $
    s.run(max_insns=n + 2)
    assert s.m.cpu.cpl == 3
    s.m.core.irq_line = 1
    s.run(max_insns=100)
    # an external interrupt ignores the gate DPL (INT n pseudocode: the DPL
    # check is for software interrupts only) and switches to SS0:ESP0
    assert s.halted_in(0x30) and s.m.cpu.esp == ESP0 - 20
    eip, cs, fl, esp, ss = s.stack(5)
    assert (eip, lo16(cs), esp, lo16(ss)) == (a[1], CS3, STACK3, DS3)


def test_irq_vector_beyond_idt_limit_has_ext(strategy):
    s = Sys(strategy)
    s.m.pic = FakePic(s.m, 0x40)
    s.m.core.set_dtr(1, IDT, 0x40 * 8 - 1)
    s.ring0(["sti", "nop", "nop", "hlt"])
    s.m.core.irq_line = 1
    s.run()
    assert s.halted_in(13) and s.stack(1) == [0x40 * 8 + 2 + 1]


# ------------------------------------------------------------ real mode (IVT)
# SDM vol. 3 20.1.4: the IVT holds 4-byte far pointers (offset, segment) at
# vector*4; delivery pushes FLAGS, CS, IP (16-bit), clears IF, TF and AC and
# jumps through the vector; IRET pops IP, CS, FLAGS.

def real_machine(strategy, **kw):
    m = Machine(ram_size=1 << 20, strategy=strategy, mode="real", **kw)
    m.cpu.esp = 0x7000
    m.cpu.eip = 0x2000
    return m


def test_real_mode_int_through_ivt(strategy):
    m = real_machine(strategy)
    m.mem.write(0x21 * 4, struct.pack("<HH", 0x0010, 0x0100))   # 0100:0010 = 0x1010
    m.mem.write(0x1010, b"\xf4")
    code, a = A(["mov ax, 1", "int 0x21", "nop"], 0x2000, 16)
    m.mem.write(0x2000, code)
    m.cpu.eflags = 0x2 | IF | TF * 0 | CF
    ex = m.run(max_insns=100)
    assert ex.kind == ExitKind.HLT
    assert m.cpu.cs == 0x100 and m.cpu.eip == 0x11
    assert m.cpu.esp == 0x7000 - 6
    assert struct.unpack("<3H", m.mem.read(0x7000 - 6, 6)) == (a[2], 0, 0x2 | IF | CF)
    assert not m.cpu.eflags & IF


def test_real_mode_de_fault_and_iret(strategy):
    # #DE is a fault: IP of the DIV; the handler fixes CX and IRETs back to it
    m = real_machine(strategy)
    m.mem.write(0, struct.pack("<HH", 0x1000, 0x0000))
    hcode, _ = A(["mov cx, 1", "iret"], 0x1000, 16)
    m.mem.write(0x1000, hcode)
    code, a = A(["mov cx, 0", "mov dx, 0", "mov ax, 7", "div cx", "hlt"], 0x2000, 16)
    m.mem.write(0x2000, code)
    m.cpu.eflags = 0x2 | IF
    ex = m.run(max_insns=100)
    assert ex.kind == ExitKind.HLT and m.cpu.eip == a[4] + 1
    assert m.cpu.eax & 0xFFFF == 7 and m.cpu.esp == 0x7000 and m.cpu.eflags & IF
    assert m.stats["vectors_delivered"] == {0: 1}


def test_real_mode_irq_through_ivt(strategy):
    # an external interrupt in real mode goes through the IVT like INT n (20.1.4)
    m = real_machine(strategy)
    m.pic = pic = FakePic(m, 0x08)
    m.mem.write(8 * 4, struct.pack("<HH", 0x0020, 0x0100))      # 0100:0020
    m.mem.write(0x1020, b"\xf4")
    code, a = A(["sti", "nop", "nop", "hlt"], 0x2000, 16)
    m.mem.write(0x2000, code)
    m.core.irq_line = 1
    m.run(max_insns=100)
    assert pic.acks == 1 and m.cpu.cs == 0x100 and m.cpu.eip == 0x21
    assert struct.unpack("<3H", m.mem.read(0x7000 - 6, 6)) == (a[2], 0, 0x2 | IF)


def test_real_mode_ivt_limit(strategy):
    # 20.1.4: vector*4+3 beyond the IDTR limit -> #GP (here delivered through
    # the IVT entry 13, which is within the limit)
    m = real_machine(strategy)
    m.core.set_dtr(1, 0, 0x3F)                    # vectors 0..15
    m.mem.write(13 * 4, struct.pack("<HH", 0x1000, 0))
    m.mem.write(0x1000, b"\xf4")
    code, a = A(["int 0x20"], 0x2000, 16)
    m.mem.write(0x2000, code)
    m.run(max_insns=100)
    assert m.cpu.eip == 0x1001 and m.stats["vectors_delivered"] == {13: 1}


# ------------------------------------------------------------ intercept
def test_intercept_list_stops_only_those(strategy):
    s = Sys(strategy, intercept=[13])
    a = s.ring0(["mov ax, 0x103", "mov ds, ax"])
    ex = s.run()
    assert ex.kind == ExitKind.EXCEPTION and ex.vector == 13 and ex.error_code == 0x100
    assert ex.eip == a[1] and s.m.cpu.eip == a[1]
    s = Sys(strategy, intercept=[13])
    a = s.ring0(["ud2"])
    ex = s.run()
    assert ex.kind == ExitKind.HLT and s.halted_in(6)


def test_intercept_int(strategy):
    s = Sys(strategy, intercept=["int"])
    s.ring0(["int 0x80"])
    ex = s.run()
    assert ex.kind == ExitKind.EXCEPTION and ex.vector == 0x80
    s = Sys(strategy, intercept=["int"])
    s.ring0(["int3"])                       # vector 3 < 32: not "int"
    ex = s.run()
    assert ex.kind == ExitKind.HLT and s.halted_in(3)
    s = Sys(strategy, intercept=["int"])
    s.ring0(["ud2"])
    assert s.run().kind == ExitKind.HLT and s.halted_in(6)


def test_intercept_all(strategy):
    for code in (["ud2"], ["int 0x80"], ["int3"]):
        s = Sys(strategy, intercept="all")
        s.ring0(code)
        ex = s.run()
        assert ex.kind == ExitKind.EXCEPTION, code
        assert s.m.stats["vectors_delivered"] == {}


def test_intercept_bad_values():
    for bad in ([32], ["INT"], "some", [-1]):
        with pytest.raises(BtError):
            Machine(ram_size=1 << 16, intercept=bad)


def test_counters(strategy):
    s = Sys(strategy)
    s.set_idt(0x80, CS0, handler(0x80), 0xF)
    s.code(handler(0x80), ["iretd"])
    a = s.ring0(["mov ax, 0x103", "mov ds, ax", "nop", "nop", "int 0x80", "int 0x80", "ud2"])
    # the #GP handler skips the MOV DS
    s.code(handler(13), ["add esp, 4", f"add dword ptr [esp], {a[2] - a[1]}", "iretd"])
    s.run()
    assert s.halted_in(6)
    st = s.m.stats
    assert st["exceptions"] == {"#GP": 1, "#UD": 1}
    assert st["vectors_delivered"] == {13: 1, 0x80: 2, 6: 1}
