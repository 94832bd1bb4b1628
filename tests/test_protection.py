"""Protection checks against the Intel SDM (vol. 3 ch. 5 and 7, vol. 1 18.5,
vol. 2 pseudocode of IRET, RET, CALL, JMP, SYSENTER, SYSEXIT, LTR, LLDT, LAR,
LSL, VERR, VERW, IN/OUT, CLI/STI, POPF): returns to an outer privilege level,
call gates, fast system calls, the descriptor instructions and the TSS I/O
permission bitmap.  Expected values come from the SDM text cited next to them;
the guest environment is tests/sysguest.py.  Every test runs under every strategy."""
import struct

from bt import ExitKind, Machine
from sysguest import (CG0, CG16, CG32, CODE, CODE3, CONF0, CS0, CS3, DS0, DS3, ESP0,
                      GATE_TARGET, IGATE_GDT, LDT_DS3, LDT_MAGIC, LDT_SEL, REC, RO3, STACK0,
                      STACK3, TSS32, TSS32_LIMIT, TSS_SEL, XO3, A, Sys, far, handler)

IF, IOPL3, CF, RF = 0x200, 0x3000, 0x1, 0x10000
ZF = 0x40


def lo16(v):
    return v & 0xFFFF


def gp_frame(s, n=2):
    """The ring-0 #GP handler stopped: [error code, EIP, ...]."""
    assert s.halted_in(13), f"not in the #GP handler: cs={s.m.cpu.cs:#x} eip={s.m.cpu.eip:#x}"
    return s.stack(n)


# ------------------------------------------------------------ IRET / RETF to an outer level
# vol. 2 IRET (RETURN-TO-OUTER-PRIVILEGE-LEVEL): pops EIP, CS, EFLAGS, ESP, SS;
# CPL <- RPL(CS); at CPL 0 every EFLAGS bit including IOPL and IF is loaded;
# "FOR each of segment register (ES, FS, GS, and DS) DO IF segment register
# points to data or non-conforming code segment AND CPL > segment descriptor DPL
# THEN SegmentSelector <- 0" (also SDM vol. 3 5.8.6 for RET).

def test_iret_to_ring3_loads_everything_and_nulls_segments(strategy):
    s = Sys(strategy)
    a = s.ring0([f"mov ax, {CONF0:#x}", "mov fs, ax", f"mov ax, {DS3:#x}", "mov gs, ax",
                 f"push {DS3:#x}", f"push {STACK3:#x}", f"push {0x3202 | CF:#x}",
                 f"push {CS3:#x}", f"push {CODE3:#x}", "iretd"])
    s.code(CODE3, ["nop"])
    ex = s.run(max_insns=len(a) + 2)
    assert ex.kind == ExitKind.MAX_INSNS
    c = s.m.cpu
    assert (c.cpl, c.cs, c.ss, c.esp, c.eip) == (3, CS3, DS3, STACK3, CODE3)
    assert c.eflags == 0x3202 | CF
    assert (c.ds, c.es) == (0, 0)            # data DPL 0 < CPL 3: nulled
    assert c.fs == CONF0                      # conforming code: kept
    assert c.gs == DS3                        # DPL 3: kept


def test_iret_at_ring3_cannot_change_iopl_or_if(strategy):
    # vol. 2 IRET (RETURN-TO-SAME-PRIVILEGE-LEVEL): IF only if CPL <= IOPL,
    # IOPL only at CPL 0; the other flags are loaded
    s = Sys(strategy)
    s.set_idt(0x81, CS0, handler(0x81), 0xE, dpl=3)
    a, _ = s.ring3([f"push {0x3002 | CF:#x}", f"push {CS3:#x}", f"push {CODE3 + 0x100:#x}", "iretd"])
    at = s.code(CODE3 + 0x100, ["int 0x81", "nop"])
    s.run()
    assert s.halted_in(0x81)
    eip, cs, fl, esp, ss = s.stack(5)
    assert eip == at[1] and fl == 0x202 | CF and esp == STACK3


def test_iret_outer_ss_rpl_mismatch(strategy):
    # vol. 2 IRET: "IF return stack segment selector RPL != RPL of the return
    # code segment selector THEN #GP(SS selector)"; and "IF stack segment DPL
    # != RPL of the return code segment selector THEN #GP(SS selector)"
    for ss, err in ((DS3 & ~3, DS3 & ~3), (DS0 | 3, DS0)):
        s = Sys(strategy)
        a = s.ring0([f"push {ss:#x}", f"push {STACK3:#x}", "push 0x202", f"push {CS3:#x}",
                     f"push {CODE3:#x}", "iretd"])
        s.run()
        assert gp_frame(s) == [err, a[5]], hex(ss)
        assert s.m.cpu.esp == STACK0 - 20 - 16   # nothing popped, then the #GP frame


def test_iret_outer_not_present(strategy):
    # vol. 2 IRET: return code segment not present -> #NP(return code segment
    # selector); stack segment not present -> #SS(SS selector)
    from sysguest import seg_desc
    for vec, sel_cs, sel_ss in ((11, 0xB3, DS3), (12, CS3, 0xAB)):
        s = Sys(strategy)
        s.set_gdt(0xA8, seg_desc(0, 0xFFFFFFFF, 0x3, dpl=3, p=0))
        s.set_gdt(0xB0, seg_desc(0, 0xFFFFFFFF, 0xB, dpl=3, p=0))
        a = s.ring0([f"push {sel_ss:#x}", f"push {STACK3:#x}", "push 0x202", f"push {sel_cs:#x}",
                     f"push {CODE3:#x}", "iretd"])
        s.run()
        err = (sel_cs if vec == 11 else sel_ss) & ~3
        assert s.halted_in(vec) and s.stack(2) == [err, a[5]], vec
        assert s.m.cpu.cpl == 0


def test_int80_iret_round_trip_from_ring3(strategy):
    # the handler adds to EAX and IRETs to ring 3: SS:ESP back to the ring-3 stack
    s = Sys(strategy)
    s.set_idt(0x80, CS0, handler(0x80), 0xE, dpl=3)
    s.set_idt(0x81, CS0, handler(0x81), 0xE, dpl=3)
    s.code(handler(0x80), ["add eax, 1", "iretd"])
    a, _ = s.ring3(["mov eax, 7", "int 0x80", "int 0x80", "mov ebx, eax", "int 0x81", "nop"])
    s.run()
    assert s.halted_in(0x81) and s.m.cpu.ebx == 9
    eip, cs, fl, esp, ss = s.stack(5)
    assert (eip, lo16(cs), fl, esp, lo16(ss)) == (a[5], CS3, 0x202, STACK3, DS3)
    assert s.m.cpu.esp == ESP0 - 20               # the ring-0 stack starts again at ESP0
    assert s.m.cpu.ds == DS3


def test_retf_to_ring3(strategy):
    # vol. 2 RET (RETURN-TO-OUTER-PRIVILEGE-LEVEL): EIP, CS, then ESP, SS; data
    # segments the new CPL may not use are nulled; EFLAGS untouched
    s = Sys(strategy)
    a = s.ring0([f"push {DS3:#x}", f"push {STACK3:#x}", f"push {CS3:#x}", f"push {CODE3:#x}",
                 "retf"])
    s.code(CODE3, ["nop"])
    s.m.cpu.eflags = 0x2 | CF
    s.run(max_insns=len(a) + 2)
    c = s.m.cpu
    assert (c.cpl, c.cs, c.ss, c.esp, c.eip, c.eflags) == (3, CS3, DS3, STACK3, CODE3, 0x2 | CF)
    assert (c.ds, c.es) == (0, 0)


def test_retf_imm_to_ring3_releases_both_stacks(strategy):
    # vol. 2 RET: with an immediate, ESP += imm after popping CS:EIP (the
    # called procedure's stack) and again after loading SS:ESP (the caller's)
    s = Sys(strategy)
    a = s.ring0([f"push {DS3:#x}", f"push {STACK3 - 0x10:#x}", "push 0xaaaa", "push 0xbbbb",
                 f"push {CS3:#x}", f"push {CODE3:#x}", "retf 8"])
    s.code(CODE3, ["nop"])
    s.run(max_insns=len(a) + 2)
    assert s.m.cpu.cpl == 3 and s.m.cpu.esp == STACK3 - 0x10 + 8 and s.m.cpu.eip == CODE3


def test_16bit_iret_and_retf_to_ring3(strategy):
    # vol. 2 IRET/RET with a 16-bit operand size: IP, CS, [FLAGS,] SP, SS are
    # popped as words (66 CF / 66 CB; pushes with 66 6A / 66 68)
    for tail, fl in ((b"\x66\xcf", True), (b"\x66\xcb", False)):
        s = Sys(strategy)
        lines = [b"\x66\x6a\x23", b"\x66\x68" + struct.pack("<H", STACK3)]
        if fl:
            lines.append(b"\x66\x68" + struct.pack("<H", 0x202 | CF))
        lines += [b"\x66\x6a\x1b", b"\x66\x68" + struct.pack("<H", CODE3), tail]
        a = s.ring0(lines)
        s.code(CODE3, ["nop"])
        s.run(max_insns=len(a) + 2)
        c = s.m.cpu
        assert (c.cpl, c.cs, c.ss, c.esp, c.eip) == (3, CS3, DS3, STACK3, CODE3), tail
        assert c.eflags == (0x202 | CF if fl else 0x2)
        assert (c.ds, c.es) == (0, 0)


def test_same_level_transfers_to_conforming_code(strategy):
    # 5.8.2.2 / vol. 2 JMP, CALL, IRET: a conforming segment with DPL <= CPL is
    # entered at the same CPL (CS.RPL = CPL); a CALL through a call gate to it
    # is a same-privilege call: CS:EIP pushed, no stack switch, no parameters
    # copied (vol. 2 CALL: parameters are copied on a privilege change only)
    from sysguest import gate_desc
    tgt = GATE_TARGET + 0x300
    s = Sys(strategy)
    s.code(tgt, ["nop", "nop"])
    a, n = s.ring3([far("jmp", CONF0, tgt)])
    s.run(max_insns=n + 2)
    c = s.m.cpu
    assert (c.cpl, c.cs, c.eip, c.esp) == (3, CONF0 | 3, tgt + 1, STACK3)

    s = Sys(strategy)
    s.set_gdt(0xB8, gate_desc(CONF0, tgt, 0xC, dpl=3, params=1))
    s.code(tgt, ["nop", "nop"])
    a, n = s.ring3(["push 0x55", far("call", 0xBB, 0)])
    s.run(max_insns=n + 3)
    c = s.m.cpu
    assert (c.cpl, c.cs, c.eip, c.ss, c.esp) == (3, CONF0 | 3, tgt + 1, DS3, STACK3 - 12)
    eip, cs, p = s.stack(3)
    assert (eip, lo16(cs), p) == (a[1] + 7, CS3, 0x55)

    s = Sys(strategy)
    s.code(tgt, ["nop", "nop"])
    a, n = s.ring3(["push 0x202", f"push {CONF0 | 3:#x}", f"push {tgt:#x}", "iretd"])
    s.run(max_insns=n + 5)
    c = s.m.cpu
    assert (c.cpl, c.cs, c.eip, c.esp) == (3, CONF0 | 3, tgt + 1, STACK3)


def test_retf_to_inner_level_is_gp(strategy):
    # vol. 2 RET: "IF return code segment selector RPL < CPL THEN #GP(return
    # code segment selector)"; a fault: EIP of the RETF
    s = Sys(strategy)
    a, _ = s.ring3([f"push {CS0:#x}", f"push {CODE:#x}", "retf"])
    s.run()
    e, eip, cs = gp_frame(s, 3)
    assert (e, eip, lo16(cs)) == (CS0, a[2], CS3)


# ------------------------------------------------------------ call gates
# SDM vol. 3 5.8.3-5.8.5 and vol. 2 CALL: a CALL through a call gate to a more
# privileged non-conforming segment switches to the TSS stack for the new CPL,
# pushes the caller's SS and ESP, copies "parameter count" parameters from the
# caller's stack (figure 5-13: same order), then pushes CS and EIP; operand
# sizes follow the gate (16- or 32-bit).

def test_call_gate_to_ring0_switches_stack_and_copies_params(strategy):
    s = Sys(strategy)
    s.code(GATE_TARGET, ["hlt"])
    a, _ = s.ring3(["push 0x11111111", "push 0x22222222", far("call", CG32 | 3, 0), "nop"])
    s.run()
    c = s.m.cpu
    assert c.eip == GATE_TARGET + 1 and c.cs == CS0 and c.cpl == 0
    assert c.ss == DS0 and c.esp == ESP0 - 24
    eip, cs, p0, p1, esp, ss = s.stack(6)
    assert (eip, lo16(cs), p0, p1, esp, lo16(ss)) == \
        (a[3], CS3, 0x22222222, 0x11111111, STACK3 - 8, DS3)


def test_call_gate_round_trip_with_retf_imm(strategy):
    s = Sys(strategy)
    s.set_idt(0x81, CS0, handler(0x81), 0xE, dpl=3)
    s.code(GATE_TARGET, ["mov eax, [esp+8]", "add eax, [esp+12]", "retf 8"])
    a, _ = s.ring3(["push 0x11111111", "push 0x22222222", far("call", CG32 | 3, 0),
                    "int 0x81", "nop"])
    s.run()
    assert s.halted_in(0x81) and s.m.cpu.eax == 0x33333333
    eip, cs, fl, esp, ss = s.stack(5)
    # back in ring 3 with both stacks released: ESP = STACK3 - 8 + 8
    assert (eip, lo16(cs), esp, lo16(ss)) == (a[4], CS3, STACK3, DS3)
    assert s.m.cpu.ds == DS3


def test_16bit_call_gate_pushes_words(strategy):
    s = Sys(strategy)
    s.code(GATE_TARGET + 0x100, ["hlt"])
    a, _ = s.ring3([b"\x66\x68\x34\x12", far("call", CG16 | 3, 0), "nop"])   # push word 0x1234
    s.run()
    c = s.m.cpu
    assert c.eip == GATE_TARGET + 0x101 and c.cs == CS0 and c.cpl == 0
    assert c.esp == ESP0 - 10
    assert s.stack(5, 2) == [lo16(a[2]), CS3, 0x1234, lo16(STACK3 - 2), DS3]


def test_jmp_through_call_gate_same_level(strategy):
    # 5.8.4: a JMP through a call gate to a segment of the same level: no stack change
    s = Sys(strategy)
    s.code(GATE_TARGET + 0x200, ["hlt"])
    s.ring0([far("jmp", CG0, 0x1234)])
    s.run()
    c = s.m.cpu
    assert (c.cs, c.eip, c.esp, c.ss) == (CS0, GATE_TARGET + 0x201, STACK0, DS0)


def test_call_gate_privilege_checks(strategy):
    # vol. 2 CALL: "IF call gate DPL < CPL or RPL THEN #GP(call-gate selector)";
    # JMP: through a gate to a non-conforming segment with DPL != CPL ->
    # #GP(code segment selector); gate not present -> #NP(call-gate selector)
    s = Sys(strategy)
    a, _ = s.ring3([far("call", CG0 | 3, 0)])
    s.run()
    assert gp_frame(s) == [CG0, a[0]]

    s = Sys(strategy)
    a, _ = s.ring3([far("jmp", CG32 | 3, 0)])
    s.run()
    assert gp_frame(s) == [CS0, a[0]]

    s = Sys(strategy)
    lo, hi = s.gdt[CG32]
    s.set_gdt(CG32, (lo, hi & ~0x8000))
    a, _ = s.ring3([far("call", CG32 | 3, 0)])
    s.run()
    assert s.halted_in(11) and s.stack(2) == [CG32, a[0]]


def test_far_call_to_conforming_keeps_cpl(strategy):
    # 5.8.2.2: a conforming segment runs at the caller's CPL; CS.RPL = CPL
    s = Sys(strategy)
    s.code(GATE_TARGET + 0x300, ["nop", "nop"])
    a, n = s.ring3([far("call", CONF0, GATE_TARGET + 0x300)])
    s.run(max_insns=n + 2)
    c = s.m.cpu
    assert (c.cpl, c.cs, c.eip, c.ss) == (3, CONF0 | 3, GATE_TARGET + 0x301, DS3)
    eip, cs = s.stack(2)
    assert (eip, lo16(cs), c.esp) == (a[0] + 7, CS3, STACK3 - 8)


def test_far_call_to_more_privileged_nonconforming_is_gp(strategy):
    # vol. 2 CALL (NONCONFORMING-CODE-SEGMENT): "IF (RPL > CPL) or (DPL != CPL)
    # THEN #GP(new code segment selector)"
    s = Sys(strategy)
    a, _ = s.ring3([far("call", CS0, 0x1000)])
    s.run()
    assert gp_frame(s) == [CS0, a[0]]


# ------------------------------------------------------------ SYSENTER / SYSEXIT
# vol. 2 SYSENTER: #GP(0) if IA32_SYSENTER_CS[15:2] = 0; EFLAGS.VM, IF, RF <- 0;
# CS <- SYSENTER_CS & FFFCH (flat, DPL 0), SS <- CS + 8; ESP <- SYSENTER_ESP;
# EIP <- SYSENTER_EIP; CPL 0.  SYSEXIT: #GP(0) if SYSENTER_CS[15:2] = 0 or
# CPL != 0; CS <- (SYSENTER_CS + 16) | 3, SS <- (SYSENTER_CS + 24) | 3,
# ESP <- ECX, EIP <- EDX, CPL 3.  MSRs 174H-176H (vol. 4 table 2-2).

def sysenter_setup(cs=CS0, esp=0x8800, eip=GATE_TARGET + 0x400):
    return ["mov edx, 0", "mov ecx, 0x174", f"mov eax, {cs:#x}", "wrmsr",
            "mov ecx, 0x175", f"mov eax, {esp:#x}", "wrmsr",
            "mov ecx, 0x176", f"mov eax, {eip:#x}", "wrmsr"]


def test_sysexit_then_sysenter(strategy):
    s = Sys(strategy)
    s.code(GATE_TARGET + 0x400, ["hlt"])
    a = s.ring0(sysenter_setup() + ["mov ecx, 0x175", "rdmsr", "mov ebp, eax",
                                     f"mov ecx, {STACK3:#x}", f"mov edx, {CODE3:#x}", "sysexit"])
    s.code(CODE3, ["mov esi, 5", "sysenter"])
    s.m.cpu.eflags = 0x2 | IF
    s.run(max_insns=len(a) + 2)
    c = s.m.cpu
    assert c.ebp == 0x8800
    assert (c.cpl, c.cs, c.ss, c.esp, c.eip) == (3, CS3, DS3, STACK3, CODE3)
    assert c.eflags & IF
    ex = s.run()
    assert ex.kind == ExitKind.HLT
    assert (c.cpl, c.cs, c.ss, c.esp, c.eip) == (0, CS0, DS0, 0x8800, GATE_TARGET + 0x401)
    assert c.esi == 5 and not c.eflags & IF
    cs = c.get_seg("cs")
    assert (cs["base"], cs["limit"]) == (0, 0xFFFFFFFF)


def test_sysenter_with_null_cs_msr_is_gp(strategy):
    s = Sys(strategy)
    a, _ = s.ring3(["nop", "sysenter"])
    s.run()
    e, eip, cs = gp_frame(s, 3)
    assert (e, eip, lo16(cs)) == (0, a[1], CS3)


def test_sysexit_and_wrmsr_at_cpl3_are_gp(strategy):
    for insn in ("sysexit", "wrmsr", "rdmsr"):
        s = Sys(strategy)
        a, _ = s.ring3(["mov ecx, 0x174", insn])
        s.run()
        assert gp_frame(s) == [0, a[1]], insn


# ------------------------------------------------------------ LTR / LLDT
# vol. 2 LTR: #GP(0) at CPL != 0 or with a null selector; #GP(selector) if the
# selector is not in the GDT or the descriptor is not an available TSS; #NP if
# not present; marks the TSS busy.  LLDT: #GP(selector) if not an LDT
# descriptor in the GDT; a null selector makes the LDTR invalid; #UD in real mode.

def test_ltr_marks_busy_and_str_reads_it(strategy):
    s = Sys(strategy)
    s.ring0(["mov ax, 0x28", "ltr ax", "str bx", "int 0x40"], ltr=False)
    s.run()
    assert s.halted_in(0x40)
    assert (s.get_gdt(TSS_SEL)[1] >> 8) & 0xF == 0xB
    assert s.m.cpu.ebx & 0xFFFF == TSS_SEL
    sel, base, limit, attr, _ = s.m.core.get_seg(7)
    assert (sel, base, limit) == (TSS_SEL, TSS32, TSS32_LIMIT)


def test_ltr_16bit_tss_busy(strategy):
    # LTR marks a 16-bit TSS busy too: type 1 -> 3 (vol. 3 7.2.2 / table 3-2)
    from sysguest import TSS16_SEL
    s = Sys(strategy)
    s.ring0(["mov ax, 0x38", "ltr ax", "int 0x40"], ltr=False)
    s.run()
    assert s.halted_in(0x40) and (s.get_gdt(TSS16_SEL)[1] >> 8) & 0x1F == 3


def test_ltr_faults(strategy):
    cases = [(["mov ax, 0x28", "ltr ax", "ltr ax"], 0x28),      # busy
             (["xor eax, eax", "ltr ax"], 0),                    # null
             (["mov ax, 0x10", "ltr ax"], 0x10),                 # a data segment
             (["mov ax, 0x0c", "ltr ax"], 0x0c),                 # TI=1
             (["mov ax, 0x100", "ltr ax"], 0x100)]               # past the GDT limit
    for lines, err in cases:
        s = Sys(strategy)
        a = s.ring0(lines, ltr=False)
        s.run()
        assert gp_frame(s) == [err, a[-1]], lines


def test_ltr_not_present_is_np(strategy):
    s = Sys(strategy)
    lo, hi = s.gdt[TSS_SEL]
    s.set_gdt(TSS_SEL, (lo, hi & ~0x8000))
    a = s.ring0(["mov ax, 0x28", "ltr ax"], ltr=False)
    s.run()
    assert s.halted_in(11) and s.stack(2) == [TSS_SEL, a[1]]


def test_lldt_and_a_load_through_the_ldt(strategy):
    s = Sys(strategy)
    s.ring0(["mov ax, 0x40", "lldt ax", "sldt bx", f"mov ax, {LDT_DS3:#x}", "mov ds, ax",
             "mov eax, [0x10]", "int 0x40"])
    s.run()
    assert s.halted_in(0x40)
    c = s.m.cpu
    assert c.eax == LDT_MAGIC and c.ebx & 0xFFFF == LDT_SEL and c.ds == LDT_DS3
    assert c.get_seg("ds")["base"] == REC


def test_lldt_faults_and_null(strategy):
    s = Sys(strategy)
    a = s.ring0(["mov ax, 0x28", "lldt ax"])
    s.run()
    assert gp_frame(s) == [TSS_SEL, a[1]]
    # after LLDT of a null selector a reference through the LDT is #GP(selector)
    s = Sys(strategy)
    a = s.ring0(["mov ax, 0x40", "lldt ax", "xor eax, eax", "lldt ax",
                 f"mov ax, {LDT_DS3:#x}", "mov ds, ax"])
    s.run()
    assert gp_frame(s) == [LDT_DS3 & ~3, a[5]]
    s = Sys(strategy)
    a, _ = s.ring3(["mov ax, 0x40", "lldt ax"])
    s.run()
    assert gp_frame(s) == [0, a[1]]


def test_system_instructions_in_real_mode_are_ud(strategy):
    # vol. 2 LLDT/LTR/LAR/LSL/VERR/VERW: "#UD ... not recognized in real-address mode"
    for insn in ("lldt ax", "ltr ax", "lar bx, ax", "lsl bx, ax", "verr ax", "verw ax"):
        m = Machine(ram_size=1 << 20, strategy=strategy, mode="real")
        m.mem.write(6 * 4, struct.pack("<HH", 0x1000, 0))
        m.mem.write(0x1000, b"\xf4")
        code, a = A(["mov ax, 0x28", insn], 0x2000, 16)
        m.mem.write(0x2000, code)
        m.cpu.eip, m.cpu.esp = 0x2000, 0x7000
        m.run(max_insns=20)
        assert m.cpu.eip == 0x1001, insn
        assert struct.unpack("<H", m.mem.read(0x7000 - 6, 2))[0] == a[1], insn


# ------------------------------------------------------------ LAR / LSL / VERR / VERW
# vol. 2 LAR: ZF=1 and DEST <- descriptor dword 2 AND 00FxFF00H (32-bit; bits
# 19:16 undefined, so not compared) when the descriptor is valid for LAR
# (code/data, or system types 1,2,3,4,5,9,B,C) and, unless conforming code,
# DPL >= CPL and DPL >= RPL; else ZF=0 and DEST unchanged.  LSL: the byte
# limit (scaled by G), system types 1,2,3,9,B only.  VERR: readable segment,
# VERW: writable data segment, same privilege rule, no system segments.

RING3_CASES = [
    ("lar", DS3), ("lar", DS0 | 3), ("lar", CONF0 | 3), ("lar", CS0 | 3), ("lar", CG32 | 3),
    ("lar", IGATE_GDT | 3), ("lar", 0), ("lar", 0x1003), ("lar", LDT_DS3), ("lar", XO3 | 3),
    ("lar", TSS_SEL | 3),
    ("lsl", DS3), ("lsl", RO3 | 3), ("lsl", CG32 | 3), ("lsl", DS0 | 3), ("lsl", LDT_DS3),
    ("lsl", CONF0 | 3),
    ("verr", DS3), ("verw", DS3), ("verr", RO3 | 3), ("verw", RO3 | 3), ("verr", XO3 | 3),
    ("verr", CS3), ("verw", CS3), ("verr", CONF0 | 3), ("verr", DS0 | 3), ("verw", DS0 | 3),
    ("verr", CG32 | 3), ("verr", 0), ("verw", LDT_DS3), ("verr", 0x1003),
]

# (ZF, value) per case, from the rules above: None = DEST unchanged / not written
def expected_ring3(s, op, sel):
    hi = s.get_gdt(sel)[1] if not sel & 4 else struct.unpack("<I", s.m.mem.read(0x1300 + (sel & ~7) + 4, 4))[0]
    if op == "lar":
        ok = {DS3: 1, DS0 | 3: 0, CONF0 | 3: 1, CS0 | 3: 0, CG32 | 3: 1, IGATE_GDT | 3: 0, 0: 0,
              0x1003: 0, LDT_DS3: 1, XO3 | 3: 1, TSS_SEL | 3: 0}[sel]
        return ok, (hi & 0x00F0FF00) if ok else 0xDEADBEEF
    if op == "lsl":
        want = {DS3: 0xFFFFFFFF, RO3 | 3: 0x1234, CG32 | 3: None, DS0 | 3: None, LDT_DS3: 0xFFF,
                CONF0 | 3: 0xFFFFFFFF}[sel]
        return (1, want) if want is not None else (0, 0xDEADBEEF)
    ok = {("verr", DS3): 1, ("verw", DS3): 1, ("verr", RO3 | 3): 1, ("verw", RO3 | 3): 0,
          ("verr", XO3 | 3): 0, ("verr", CS3): 1, ("verw", CS3): 0, ("verr", CONF0 | 3): 1,
          ("verr", DS0 | 3): 0, ("verw", DS0 | 3): 0, ("verr", CG32 | 3): 0, ("verr", 0): 0,
          ("verw", LDT_DS3): 1, ("verr", 0x1003): 0}[(op, sel)]
    return ok, 0xDEADBEEF


def test_lar_lsl_verr_verw_at_ring3(strategy):
    s = Sys(strategy)
    s.set_idt(0x81, CS0, handler(0x81), 0xE, dpl=3)
    lines = []
    for op, sel in RING3_CASES:
        lines += [f"mov eax, {sel:#x}", "mov ebx, 0xdeadbeef",
                  f"{op} ebx, eax" if op in ("lar", "lsl") else f"{op} ax", "pushfd", "push ebx"]
    s.ring3(lines + ["int 0x81"])
    s.run()
    assert s.halted_in(0x81)
    n = len(RING3_CASES)
    got = struct.unpack(f"<{2 * n}I", s.m.mem.read(STACK3 - 8 * n, 8 * n))
    bad = []
    for i, (op, sel) in enumerate(RING3_CASES):
        ebx, fl = got[2 * (n - 1 - i)], got[2 * (n - 1 - i) + 1]
        zf, val = expected_ring3(s, op, sel)
        if op == "lar" and zf:
            ebx &= 0x00F0FF00
        if bool(fl & ZF) != bool(zf) or ebx != val:
            bad.append(f"{op} {sel:#x}: ZF={int(bool(fl & ZF))} ebx={ebx:#x}, want ZF={zf} {val:#x}")
    assert not bad, "\n".join(bad)


def test_lar_at_ring0_tss_and_16bit_form(strategy):
    # ring 0 may read a TSS's rights (type B after LTR: busy); the 16-bit
    # form loads descriptor dword 2 AND FF00H into the 16-bit register
    s = Sys(strategy)
    s.ring0(["mov eax, 0x28", "lar ebx, eax", "mov ecx, 0xdead0000", b"\x66\x0f\x02\xc8",  # lar cx, ax
             "lsl edx, eax", "mov eax, 0x13", "mov esi, 0x1234", "lar esi, eax", "pushfd",
             "pop edi", "int 0x40"])
    s.run()
    # RPL 3 > DPL 0 at CPL 0: ZF=0, ESI unchanged
    assert s.m.cpu.esi == 0x1234 and not s.m.cpu.edi & ZF
    assert s.halted_in(0x40)
    hi = s.get_gdt(TSS_SEL)[1]
    assert (hi >> 8) & 0xF == 0xB
    c = s.m.cpu
    assert c.ebx & 0x00F0FF00 == hi & 0x00F0FF00
    assert c.ecx == 0xDEAD0000 | (hi & 0xFF00)
    assert c.edx == TSS32_LIMIT


def test_lsl_16bit_form_truncates(strategy):
    # vol. 2 LSL: with a 16-bit operand the low 16 bits of the (scaled) limit
    s = Sys(strategy)
    s.ring0(["mov eax, 0x10", "mov ebx, 0xabcd0000", b"\x66\x0f\x03\xd8",   # lsl bx, ax
             "int 0x40"])
    s.run()
    assert s.halted_in(0x40) and s.m.cpu.ebx == 0xABCDFFFF


# ------------------------------------------------------------ I/O permission
# SDM vol. 1 18.5.1-18.5.2 and vol. 2 IN/OUT: at CPL > IOPL, every bit of the
# TSS I/O permission bitmap for the ports accessed must be 0, else #GP(0); a
# port whose bits lie beyond the TSS limit is #GP(0).  At CPL <= IOPL no check.
# vol. 2 CLI/STI: #GP(0) at CPL > IOPL (PVI/VME off).  POPF at CPL > IOPL leaves
# IF alone; at CPL > 0 it leaves IOPL alone.

def test_io_bitmap_allows_clear_bits(strategy):
    s = Sys(strategy)
    s.ring3(["mov al, 0x55", "out 0x80, al", "in al, 0x80", "mov al, 3", "out 0xf4, al"])
    ex = s.run()
    assert ex.kind == ExitKind.GUEST_EXIT and ex.status == 7 and s.m.cpu.cpl == 3
    assert s.m.post.codes == [0x55]


def test_io_bitmap_denies(strategy):
    cases = [["mov al, 1", "out 0x81, al"], ["in al, 0x81"],
             ["mov dx, 0x80", "out dx, ax"],          # 0x80 allowed, 0x81 not
             ["mov dx, 0xf3", "out dx, ax"],          # 0xF3 not, 0xF4 allowed
             ["mov dx, 0x80", "in eax, dx"],
             ["mov dx, 0x800", "in al, dx"]]          # beyond the bitmap and the TSS limit
    for lines in cases:
        s = Sys(strategy)
        a, _ = s.ring3(lines)
        s.run()
        assert gp_frame(s) == [0, a[-1]], lines


def test_string_io_at_ring3_checks_the_bitmap(strategy):
    # INS/OUTS (vol. 2 INS/OUTS: the same I/O permission check as IN/OUT, one
    # port per byte of the element): OUTSB/INSB to 0x80 allowed, OUTSW denied
    s = Sys(strategy)
    s.m.mem.write(REC, b"\x42\x43")
    s.ring3(["mov dx, 0x80", f"mov esi, {REC:#x}", "outsb", f"mov edi, {REC + 8:#x}", "insb",
             "mov al, 3", "out 0xf4, al"])
    ex = s.run()
    assert ex.kind == ExitKind.GUEST_EXIT and ex.status == 7, ex
    assert s.m.post.codes == [0x42] and s.m.mem.read(REC + 8, 1) == b"\x42"
    s = Sys(strategy)
    a, _ = s.ring3(["mov dx, 0x80", f"mov esi, {REC:#x}", "outsw"])
    s.run()
    assert gp_frame(s) == [0, a[2]]


def test_iopl3_skips_the_bitmap(strategy):
    s = Sys(strategy)
    s.ring3(["mov al, 1", "out 0x81, al", "cli", "sti", "mov al, 3", "out 0xf4, al"],
            eflags=0x202 | IOPL3)
    ex = s.run()
    assert ex.kind == ExitKind.GUEST_EXIT and ex.status == 7


def test_cli_sti_at_cpl3_iopl0_are_gp(strategy):
    for insn in ("cli", "sti"):
        s = Sys(strategy)
        a, _ = s.ring3(["nop", insn])
        s.run()
        assert gp_frame(s) == [0, a[1]], insn


def test_popf_at_ring3_keeps_if_and_iopl(strategy):
    s = Sys(strategy)
    s.set_idt(0x81, CS0, handler(0x81), 0xE, dpl=3)
    s.ring3([f"push {0x3002 | CF:#x}", "popfd", "int 0x81"])
    s.run()
    assert s.halted_in(0x81) and s.stack(3)[2] == 0x202 | CF


def test_far_jmp_with_rpl_above_cpl_to_nonconforming_is_gp(strategy):
    # vol. 2 JMP (NONCONFORMING-CODE-SEGMENT): "IF (RPL > CPL) OR (DPL != CPL)
    # THEN #GP(segment selector)"; the error code is the selector without its RPL
    s = Sys(strategy)
    a = s.ring0([far("jmp", CS0 | 3, 0x1000)])
    s.run()
    assert gp_frame(s) == [CS0, a[0]]


def test_retf_to_a_tss_selector_is_gp(strategy):
    # vol. 2 RET: "IF return code segment selector does not point to a code
    # segment THEN #GP(selector)"
    s = Sys(strategy)
    a = s.ring0([f"push {TSS_SEL:#x}", f"push {CODE:#x}", "retf"])
    s.run()
    assert gp_frame(s) == [TSS_SEL, a[2]]
