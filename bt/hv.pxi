# The hypervisor's callout path: every privileged or sensitive instruction the
# translator met reaches hv_callout(), written once.  What C can finish (flags,
# control registers, descriptor tables, segment loads, CPUID, RDTSC, MSRs) is
# finished here without the GIL; what needs Python (port I/O to device models)
# leaves the loop with EXIT_IO and the Python side completes the instruction.
# Delivery through the IDT is idt.pxi; privilege changes, call gates and the
# descriptor instructions are protect.pxi; port I/O is ioports.pxi.

cdef inline bint prot(CtxC* c) noexcept nogil:
    return (c.cpu.cr[0] & 1) != 0


cdef inline int gp0(CtxC* c) noexcept nogil:
    return raise_exc(c, 13, 0, 1)


cdef inline int unsupported(CtxC* c, UopC* u) noexcept nogil:
    c.exit_kind = EXIT_UNSUPPORTED
    c.exit_addr = u.d.op
    return ST_STOP_BEFORE


cdef inline void seg_from_desc(SegC* sg, u32 sel, u32 lo, u32 hi) noexcept nogil:
    cdef u32 typ = (hi >> 8) & 0xF
    sg.sel = <u16>sel
    sg.base = (lo >> 16) | ((hi & 0xFF) << 16) | (hi & 0xFF000000U)
    sg.limit = (lo & 0xFFFF) | (hi & 0xF0000)
    if hi & 0x800000:
        sg.limit = (sg.limit << 12) | 0xFFF
    # byte 5 | byte 6's high nibble (AVL L D/B G) << 8, the SegC.attr layout
    sg.attr = <u16>(((hi >> 8) & 0xFF) | ((hi >> 12) & 0xF00))
    sg.flags = SF_VALID
    if typ & 8:
        sg.flags |= SF_EXEC
        if typ & 2:
            sg.flags |= SF_READ
    else:
        sg.flags |= SF_READ
        if typ & 2:
            sg.flags |= SF_WRITE
        if typ & 4:
            sg.flags |= SF_EXPDOWN
    if hi & 0x400000:
        sg.flags |= SF_BIG
    seg_update_flat(sg)


cdef inline void seg_update_flat(SegC* sg) noexcept nogil:
    if sg.base == 0 and sg.limit == 0xFFFFFFFFU and \
            (sg.flags & (SF_VALID | SF_READ | SF_WRITE | SF_EXPDOWN)) == (SF_VALID | SF_READ | SF_WRITE):
        sg.flags |= SF_FLAT
    else:
        sg.flags &= ~(<u8>SF_FLAT)


cdef int read_desc(CtxC* c, u32 sel, u32* lo, u32* hi, u32* addr) noexcept nogil:
    """Fetch the 8-byte descriptor for sel from the GDT or LDT; #GP(sel) past the limit."""
    cdef u32 base, limit
    cdef int st
    if sel & 4:
        if not (c.cpu.ldtr.flags & SF_VALID):
            return raise_exc(c, 13, sel & 0xFFFC, 1)
        base = c.cpu.ldtr.base
        limit = c.cpu.ldtr.limit
    else:
        base = c.cpu.gdtr.base
        limit = c.cpu.gdtr.limit
    if (sel | 7) > limit:
        return raise_exc(c, 13, sel & 0xFFFC, 1)
    addr[0] = base + (sel & 0xFFF8)
    st = lrd_sys(c, addr[0], 4, lo)
    if st:
        return st
    return lrd_sys(c, addr[0] + 4, 4, hi)


cdef int load_seg(CtxC* c, int s, u32 sel) noexcept nogil:
    """Load a data or stack segment register (MOV/POP Sreg, LDS...), with the
    checks of SDM vol. 3 5.5-5.7 in protected mode."""
    cdef SegC* sg = &c.cpu.seg[s]
    cdef u32 lo, hi, addr, typ, dpl, rpl = sel & 3, err = sel & 0xFFFC
    cdef int st
    sel &= 0xFFFF
    if not prot(c):
        # real mode: only selector and base change (unreal mode keeps its limit)
        sg.sel = <u16>sel
        sg.base = sel << 4
        sg.flags |= SF_VALID | SF_READ | SF_WRITE
        seg_update_flat(sg)
        return 0
    if (sel & 0xFFFC) == 0:
        if s == S_SS:
            return gp0(c)
        sg.sel = <u16>sel
        sg.base = 0
        sg.limit = 0
        sg.attr = 0
        sg.flags = 0
        return 0
    st = read_desc(c, sel, &lo, &hi, &addr)
    if st:
        return st
    typ = (hi >> 8) & 0xF
    dpl = (hi >> 13) & 3
    if not (hi & 0x1000):            # system descriptor
        return raise_exc(c, 13, err, 1)
    if s == S_SS:
        if (typ & 8) or not (typ & 2) or rpl != c.cpu.cpl or dpl != c.cpu.cpl:
            return raise_exc(c, 13, err, 1)
        if not (hi & 0x8000):
            return raise_exc(c, 12, err, 1)
    else:
        if (typ & 0xA) == 8:         # execute-only code
            return raise_exc(c, 13, err, 1)
        if (not (typ & 8) or not (typ & 4)) and (dpl < c.cpu.cpl or dpl < rpl):
            return raise_exc(c, 13, err, 1)
        if not (hi & 0x8000):
            return raise_exc(c, 11, err, 1)
    if not (typ & 1):
        hi |= 0x100                  # set the accessed bit, as the CPU does
        lwr_sys(c, addr + 4, 4, hi)
    seg_from_desc(sg, sel, lo, hi)
    return 0


cdef int load_cs(CtxC* c, u32 sel, u32 eip) noexcept nogil:
    """Far JMP/CALL/RET/IRET to a code segment at the same privilege level (call
    gates and returns to an outer level are protect.pxi's, before this)."""
    cdef SegC* cs = &c.cpu.seg[S_CS]
    cdef u32 lo, hi, addr, typ, dpl, rpl = sel & 3, err = sel & 0xFFFC
    cdef int st
    sel &= 0xFFFF
    if not prot(c):
        if eip > cs.limit:
            return gp0(c)
        cs.sel = <u16>sel
        cs.base = sel << 4
        # no access rights in real mode: a CS: override may write (SDM vol. 3 20.1)
        cs.flags |= SF_VALID | SF_READ | SF_WRITE
        seg_update_flat(cs)
        c.cpu.eip = eip
        return 0
    if (sel & 0xFFFC) == 0:
        return gp0(c)
    st = read_desc(c, sel, &lo, &hi, &addr)
    if st:
        return st
    typ = (hi >> 8) & 0xF
    dpl = (hi >> 13) & 3
    if not (hi & 0x1000) or not (typ & 8):
        return raise_exc(c, 13, err, 1)   # not a code segment (gates: far_transfer)
    if typ & 4:                      # conforming
        if dpl > c.cpu.cpl:
            return raise_exc(c, 13, err, 1)
    elif rpl > c.cpu.cpl or dpl != c.cpu.cpl:
        return raise_exc(c, 13, err, 1)
    if not (hi & 0x8000):
        return raise_exc(c, 11, err, 1)
    seg_from_desc(&c.tmpseg, (sel & 0xFFFC) | c.cpu.cpl, lo, hi)
    if eip > c.tmpseg.limit:
        return gp0(c)
    if not (typ & 1):
        lwr_sys(c, addr + 4, 4, hi | 0x100)
        c.tmpseg.attr |= 1
    c.cpu.seg[S_CS] = c.tmpseg
    c.cpu.eip = eip
    return 0


cdef u32 eflags_write_mask(CtxC* c, int osz) noexcept nogil:
    # which bits POPF/IRET may change at the current CPL and IOPL
    cdef u32 m = F_CF | F_PF | F_AF | F_ZF | F_SF | F_TF | F_DF | F_OF | F_NT | F_AC | F_ID | 0
    cdef u32 iopl = (c.cpu.eflags >> 12) & 3
    if not prot(c) or c.cpu.cpl == 0:
        m |= F_IOPL | F_IF
    elif c.cpu.cpl <= iopl:
        m |= F_IF
    if osz == 2:
        m &= 0xFFFF
    return m


cdef void write_eflags(CtxC* c, u32 v, u32 mask) noexcept nogil:
    c.cpu.eflags = ((c.cpu.eflags & ~mask) | (v & mask) | 2) & ~(<u32>F_RF)


cdef inline u32 io_allowed(CtxC* c) noexcept nogil:
    return not prot(c) or c.cpu.cpl <= ((c.cpu.eflags >> 12) & 3)


cdef int far_common(CtxC* c, UopC* u, u32 sel, u32 off, int is_call) noexcept nogil:
    cdef int osz = u.d.osz
    cdef u32 old_cs = c.cpu.seg[S_CS].sel, ret = next_ip(c, u), sp0 = c.cpu.regs[4]
    cdef SegC save = c.cpu.seg[S_CS]
    cdef int st
    if osz == 2:
        off &= 0xFFFF
    if is_call:
        st = probe_w(c, S_SS, sp_add(c, sp0, <u32>(-2 * osz)) & sp_mask(c), 2 * osz)
        if st:
            return st
    st = load_cs(c, sel, off)
    if st:
        return st
    if is_call:
        push(c, osz, old_cs)
        push(c, osz, ret)
    return ST_JUMP


cdef int do_int(CtxC* c, UopC* u, int n) noexcept nogil:
    """INT n, INT3, INTO (taken): a trap through IDT entry n."""
    cdef int st
    c.cpu.eip = next_ip(c, u)      # a trap: EIP after the instruction
    if intercepted(c, n, 1):
        c.exc_vec = n
        c.exc_err = 0
        c.exc_has_err = 0
        c.exit_kind = EXIT_EXCEPTION
        return ST_STOP_AFTER
    st = deliver(c, n, 0, 0, EV_SOFT)
    if st == 0:
        return ST_JUMP
    if st == ST_UNSUPPORTED_FAR:
        c.exit_kind = EXIT_UNSUPPORTED
        c.exit_addr = 0x10000 | n
        return ST_STOP_BEFORE
    return st                      # a fault of the INT instruction itself


cdef int hv_callout(CtxC* c, UopC* u) noexcept nogil:
    cdef int op = u.d.op, osz = u.d.osz, st, n
    cdef u32 a, b, t, lo, hi, sel, off
    cdef u64 v
    c.callouts[op] += 1
    if c.hook_mask & HOOK_CALLOUT:
        if hook_py(c, HOOK_CALLOUT, op, (c.beip + u.eoff) & c.ipmask, 0, NULL):
            c.exit_kind = EXIT_ERROR
            c.stop_request = 0
            return ST_STOP_BEFORE
    if op == OP_INT:
        return do_int(c, u, (u.d.ops[0].imm & 0xFF))
    if op == OP_IRET:
        if osz == 4 and prot(c):
            st = iret_fast(c)
            if st:
                return st
        return far_return(c, u)
    if op == OP_HLT:
        if c.cpu.cpl != 0:
            return gp0(c)
        c.cpu.halted = 1
        c.exit_kind = EXIT_HLT
        c.cpu.eip = next_ip(c, u)
        return ST_STOP_AFTER
    if op == OP_CLI or op == OP_STI:
        if not io_allowed(c):
            return gp0(c)
        if op == OP_CLI:
            c.cpu.eflags &= ~(<u32>F_IF)
        else:
            if not (c.cpu.eflags & F_IF):
                c.cpu.shadow = 1     # interrupts wait one more instruction
            c.cpu.eflags |= F_IF
        return 0
    if op == OP_PUSHF:
        return push(c, osz, c.cpu.eflags & 0x00FCFFFFU if osz == 4 else c.cpu.eflags & 0xFFFF)
    if op == OP_POPF:
        st = pop_peek(c, osz, 0, &a)
        if st:
            return st
        c.cpu.regs[4] = sp_add(c, c.cpu.regs[4], osz)
        write_eflags(c, a, eflags_write_mask(c, osz))
        return 0
    if op == OP_CPUID:
        a = c.cpu.regs[0]
        if a >= 0x80000000U:
            n = 8 + (a & 7) if (a - 0x80000000U) <= c.cpuid[8][0] - 0x80000000U else -1
        else:
            n = a if a <= c.cpuid[0][0] and a < 8 else -1
        if n < 0:
            n = c.cpuid[0][0] if c.cpuid[0][0] < 8 else 0   # Intel: highest basic leaf
        c.cpu.regs[0] = c.cpuid[n][0]
        c.cpu.regs[3] = c.cpuid[n][1]
        c.cpu.regs[1] = c.cpuid[n][2]
        c.cpu.regs[2] = c.cpuid[n][3]
        return 0
    if op == OP_RDTSC:
        if (c.cpu.cr[4] & 4) and c.cpu.cpl != 0 and prot(c):
            return gp0(c)
        v = c.cpu.tsc + c.insns + c.idle + (u - c.cur_uops)
        c.cpu.regs[0] = <u32>v
        c.cpu.regs[2] = <u32>(v >> 32)
        return 0
    if op == OP_IN or op == OP_OUT or op == OP_INS or op == OP_OUTS:
        if op == OP_IN:
            a = u.d.ops[1].imm if u.d.ops[1].kind == OK_IMM else c.cpu.regs[2]
            n = u.d.ops[0].size
        elif op == OP_OUT:
            a = u.d.ops[0].imm if u.d.ops[0].kind == OK_IMM else c.cpu.regs[2]
            n = u.d.ops[1].size
        else:
            a = c.cpu.regs[2]
            n = u.d.ops[0].size
        a &= 0xFFFF
        if not io_allowed(c):
            st = io_check(c, a, n)
            if st:
                return st
        return port_io(c, u, op, a, n)
    if op == OP_INT3 or op == OP_INTO:
        if op == OP_INTO and not (c.cpu.eflags & F_OF):
            return 0
        return do_int(c, u, 3 if op == OP_INT3 else 4)
    if op == OP_MOV_FROM_SREG:
        a = c.cpu.seg[u.d.ops[1].reg].sel
        if u.d.ops[0].kind == OK_REG:
            setreg(c, u.d.ops[0].reg, u.d.ops[0].size, a)   # zero-extended, as on P6
            return 0
        return wr(c, u.d.seg, c.ea, 2, a)
    if op == OP_MOV_TO_SREG:
        n = u.d.ops[0].reg
        if n == S_CS:
            return raise_exc(c, 6, 0, 0)
        if u.d.ops[1].kind == OK_REG:
            a = getreg(c, u.d.ops[1].reg, 2)
        else:
            st = rd(c, u.d.seg, c.ea, 2, &a)
            if st:
                return st
        st = load_seg(c, n, a)
        if st:
            return st
        if n == S_SS:
            c.cpu.shadow = 2     # interrupts and single-step wait one more instruction
        return 0
    if op == OP_PUSH_SREG:
        return push(c, osz, c.cpu.seg[u.d.ops[0].reg].sel)
    if op == OP_POP_SREG:
        n = u.d.ops[0].reg
        st = pop_peek(c, osz, 0, &a)
        if st:
            return st
        st = load_seg(c, n, a & 0xFFFF)
        if st:
            return st
        c.cpu.regs[4] = sp_add(c, c.cpu.regs[4], osz)
        if n == S_SS:
            c.cpu.shadow = 2     # interrupts and single-step wait one more instruction
        return 0
    if op >= OP_LDS and op <= OP_LSS:
        if u.d.ops[1].kind != OK_MEM:
            return raise_exc(c, 6, 0, 0)
        st = rd(c, u.d.seg, c.ea, osz, &a)
        if st:
            return st
        st = rd(c, u.d.seg, (c.ea + osz) & (0xFFFF if u.d.asz == 2 else 0xFFFFFFFFU), 2, &sel)
        if st:
            return st
        n = S_DS if op == OP_LDS else (S_ES if op == OP_LES else (S_FS if op == OP_LFS else
                                       (S_GS if op == OP_LGS else S_SS)))
        st = load_seg(c, n, sel)
        if st:
            return st
        setreg(c, u.d.ops[0].reg, osz, a)
        return 0
    if op == OP_JMPF or op == OP_CALLF:
        if u.d.ops[0].kind == OK_IMM:
            sel = u.d.ops[0].imm & 0xFFFF
            off = u.d.ops[1].imm
        else:
            st = rd(c, u.d.seg, c.ea, osz, &off)
            if st:
                return st
            st = rd(c, u.d.seg, (c.ea + osz) & (0xFFFF if u.d.asz == 2 else 0xFFFFFFFFU), 2, &sel)
            if st:
                return st
        return far_transfer(c, u, sel, off, op == OP_CALLF)
    if op == OP_RETF or op == OP_IRET:
        return far_return(c, u)
    if op == OP_LAR or op == OP_LSL or op == OP_VERR or op == OP_VERW:
        return do_lar_lsl_verx(c, u)
    if op == OP_SYSENTER:
        return do_sysenter(c, u)
    # --- from here on: CPL 0 only (in protected mode) ---
    if op == OP_SGDT or op == OP_SIDT:
        if u.d.ops[0].kind != OK_MEM:
            return raise_exc(c, 6, 0, 0)
        lo = c.cpu.gdtr.limit if op == OP_SGDT else c.cpu.idtr.limit
        hi = c.cpu.gdtr.base if op == OP_SGDT else c.cpu.idtr.base
        st = probe_w(c, u.d.seg, c.ea, 6)
        if st:
            return st
        wr(c, u.d.seg, c.ea, 2, lo)
        wr(c, u.d.seg, c.ea + 2, 4, hi if osz == 4 else hi & 0xFFFFFF)
        return 0
    if op == OP_SMSW:
        if u.d.ops[0].kind == OK_REG:
            setreg(c, u.d.ops[0].reg, u.d.ops[0].size, c.cpu.cr[0])
            return 0
        return wr(c, u.d.seg, c.ea, 2, c.cpu.cr[0] & 0xFFFF)
    if op == OP_SLDT or op == OP_STR:
        if not prot(c):
            return raise_exc(c, 6, 0, 0)
        a = c.cpu.ldtr.sel if op == OP_SLDT else c.cpu.tr.sel
        if u.d.ops[0].kind == OK_REG:
            setreg(c, u.d.ops[0].reg, u.d.ops[0].size, a)
            return 0
        return wr(c, u.d.seg, c.ea, 2, a)
    if op == OP_ARPL:
        if not prot(c):
            return raise_exc(c, 6, 0, 0)
        st = get_op(c, u, 0, 2, &a)
        if st:
            return st
        b = getreg(c, u.d.ops[1].reg, 2)
        if (a & 3) < (b & 3):
            st = put_op(c, u, 0, 2, (a & 0xFFFC) | (b & 3))
            if st:
                return st
            c.cpu.eflags |= F_ZF
        else:
            c.cpu.eflags &= ~(<u32>F_ZF)
        return 0
    if op == OP_BOUND:
        if u.d.ops[1].kind != OK_MEM:
            return raise_exc(c, 6, 0, 0)
        st = rd(c, u.d.seg, c.ea, osz, &lo)
        if st:
            return st
        st = rd(c, u.d.seg, (c.ea + osz) & (0xFFFF if u.d.asz == 2 else 0xFFFFFFFFU), osz, &hi)
        if st:
            return st
        a = getreg(c, u.d.ops[0].reg, osz)
        if <i32>sext(a, osz) < <i32>sext(lo, osz) or <i32>sext(a, osz) > <i32>sext(hi, osz):
            return raise_exc(c, 5, 0, 0)
        return 0
    if prot(c) and c.cpu.cpl != 0:
        return gp0(c)
    if op == OP_SYSEXIT:
        return do_sysexit(c, u)
    if op == OP_LLDT or op == OP_LTR:
        if not prot(c):
            return raise_exc(c, 6, 0, 0)
        return do_lldt_ltr(c, u, op == OP_LTR)
    if op == OP_LGDT or op == OP_LIDT:
        if u.d.ops[0].kind != OK_MEM:
            return raise_exc(c, 6, 0, 0)
        st = rd(c, u.d.seg, c.ea, 2, &lo)
        if st:
            return st
        st = rd(c, u.d.seg, c.ea + 2, 4, &hi)
        if st:
            return st
        if osz == 2:
            hi &= 0xFFFFFF
        if op == OP_LGDT:
            c.cpu.gdtr.limit = lo
            c.cpu.gdtr.base = hi
        else:
            c.cpu.idtr.limit = lo
            c.cpu.idtr.base = hi
        return 0
    if op == OP_MOV_CR:
        if u.d.ops[0].kind == OK_CREG:
            n = u.d.ops[0].reg
            if n == 1 or n > 4:
                return raise_exc(c, 6, 0, 0)
            a = c.cpu.regs[u.d.ops[1].reg]
            if n == 0:
                if (a & 0x80000000U) and not (a & 1):
                    return gp0(c)
                a |= 0x10        # ET is hard-wired on P6
                if (a ^ c.cpu.cr[0]) & 0x80010000U:      # PG, WP
                    tlb_flush_all(c)
            elif n == 3:
                tlb_flush_nonglobal(c)
            elif n == 4:
                if a & CR4_PAE:
                    return gp0(c)    # PAE is not implemented (nor in CPUID): a reserved bit
                if (a ^ c.cpu.cr[4]) & (CR4_PSE | CR4_PGE | CR4_PAE):
                    tlb_flush_all(c)
            c.cpu.cr[n] = a
            c.mode_dirty = 1
        else:
            n = u.d.ops[1].reg
            if n == 1 or n > 4:
                return raise_exc(c, 6, 0, 0)
            c.cpu.regs[u.d.ops[0].reg] = c.cpu.cr[n]
        return 0
    if op == OP_MOV_DR:
        if u.d.ops[0].kind == OK_DREG:
            c.cpu.dr[u.d.ops[0].reg] = c.cpu.regs[u.d.ops[1].reg]
        else:
            c.cpu.regs[u.d.ops[0].reg] = c.cpu.dr[u.d.ops[1].reg]
        return 0
    if op == OP_LMSW:
        st = get_op(c, u, 0, 2, &a)
        if st:
            return st
        # LMSW can set PE but never clear it
        c.cpu.cr[0] = (c.cpu.cr[0] & ~(<u32>0xE)) | (a & 0xF) | (c.cpu.cr[0] & 1)
        c.mode_dirty = 1
        return 0
    if op == OP_CLTS:
        c.cpu.cr[0] &= ~(<u32>8)
        return 0
    if op == OP_INVLPG:
        if u.d.ops[0].kind != OK_MEM:
            return raise_exc(c, 6, 0, 0)
        tlb_flush_page(c, c.cpu.seg[u.d.seg].base + c.ea)
        return 0
    if op == OP_INVD or op == OP_WBINVD:
        return 0
    if op == OP_RDMSR or op == OP_WRMSR:
        a = c.cpu.regs[1]
        v = (<u64>c.cpu.regs[2] << 32) | c.cpu.regs[0]
        if op == OP_RDMSR:
            if a == 0x10:
                v = c.cpu.tsc + c.insns + c.idle + (u - c.cur_uops)
            elif a == 0x174:
                v = c.cpu.msr_sysenter_cs
            elif a == 0x175:
                v = c.cpu.msr_sysenter_esp
            elif a == 0x176:
                v = c.cpu.msr_sysenter_eip
            elif a == 0x1B:
                v = c.cpu.msr_apic_base
            else:
                return gp0(c)
            c.cpu.regs[0] = <u32>v
            c.cpu.regs[2] = <u32>(v >> 32)
        else:
            if a == 0x10:
                c.cpu.tsc = v - c.insns - c.idle - (u - c.cur_uops)
            elif a == 0x174:
                c.cpu.msr_sysenter_cs = v
            elif a == 0x175:
                c.cpu.msr_sysenter_esp = v
            elif a == 0x176:
                c.cpu.msr_sysenter_eip = v
            elif a == 0x1B:
                c.cpu.msr_apic_base = v
            else:
                return gp0(c)
        return 0
    return unsupported(c, u)
