# Protection: transfers that change the privilege level (RETF/IRET to an outer
# level, far CALL/JMP through call gates, SYSENTER/SYSEXIT), the descriptor
# instructions (LLDT, LTR, LAR, LSL, VERR, VERW) and the TSS I/O permission
# bitmap (SDM vol. 3 ch. 5 and 7, vol. 1 18.5).

ctypedef struct CtlSaveC:
    u32 esp
    u32 eip
    u32 eflags
    SegC cs
    SegC ss
    u8 cpl


cdef inline void ctl_save(CtxC* c, CtlSaveC* s) noexcept nogil:
    s.esp = c.cpu.regs[4]
    s.eip = c.cpu.eip
    s.eflags = c.cpu.eflags
    s.cs = c.cpu.seg[S_CS]
    s.ss = c.cpu.seg[S_SS]
    s.cpl = c.cpu.cpl


cdef inline void ctl_restore(CtxC* c, CtlSaveC* s) noexcept nogil:
    c.cpu.regs[4] = s.esp
    c.cpu.eip = s.eip
    c.cpu.eflags = s.eflags
    c.cpu.seg[S_CS] = s.cs
    c.cpu.seg[S_SS] = s.ss
    c.cpu.cpl = s.cpl


cdef int desc_lookup(CtxC* c, u32 sel, u32* lo, u32* hi, int* found) noexcept nogil:
    """Read sel's descriptor without faulting on a null or out-of-table selector
    (found=0 then); memory faults on the table itself still fault."""
    cdef u32 base, limit
    cdef int st
    found[0] = 0
    if (sel & 0xFFFC) == 0:
        return 0
    if sel & 4:
        if not (c.cpu.ldtr.flags & SF_VALID):
            return 0
        base = c.cpu.ldtr.base
        limit = c.cpu.ldtr.limit
    else:
        base = c.cpu.gdtr.base
        limit = c.cpu.gdtr.limit
    if (sel | 7) > limit:
        return 0
    st = lrd_sys(c, base + (sel & 0xFFF8), 4, lo)
    if st == 0:
        st = lrd_sys(c, base + (sel & 0xFFF8) + 4, 4, hi)
    if st == 0:
        found[0] = 1
    return st


cdef inline void null_outer_segs(CtxC* c) noexcept nogil:
    # after a return to an outer level: data segments the new CPL may not use
    # become null (SDM vol. 3 5.8.6 and IRET's pseudocode)
    cdef int s
    cdef u32 typ, dpl
    for s in range(6):
        if s == S_CS or s == S_SS:
            continue
        if not (c.cpu.seg[s].flags & SF_VALID):
            continue
        typ = c.cpu.seg[s].attr & 0xF
        dpl = (c.cpu.seg[s].attr >> 5) & 3
        if ((typ & 8) == 0 or (typ & 4) == 0) and dpl < c.cpu.cpl:
            c.cpu.seg[s].sel = 0
            c.cpu.seg[s].flags = 0
            c.cpu.seg[s].base = 0
            c.cpu.seg[s].limit = 0
            c.cpu.seg[s].attr = 0


cdef int return_outer(CtxC* c, UopC* u, u32 sel, u32 off, u32 fl, int is_iret) noexcept nogil:
    """RETF/IRET to a less privileged level: CS:EIP (and EFLAGS) already read;
    SS:ESP follow them on the stack."""
    cdef int osz = u.d.osz, st
    cdef u32 lo, hi, addr, typ, dpl, rpl = sel & 3, nesp, nss, slo, shi, saddr, n, mask = 0
    cdef SegC newss
    st = read_desc(c, sel, &lo, &hi, &addr)
    if st:
        return st
    typ = (hi >> 8) & 0xF
    dpl = (hi >> 13) & 3
    if not (hi & 0x1000) or not (typ & 8):
        return raise_exc(c, 13, sel & 0xFFFC, 1)
    if (typ & 4 and dpl > rpl) or (not (typ & 4) and dpl != rpl):
        return raise_exc(c, 13, sel & 0xFFFC, 1)
    if not (hi & 0x8000):
        return raise_exc(c, 11, sel & 0xFFFC, 1)
    n = (3 if is_iret else 2) * osz
    if not is_iret and u.d.nops:
        n += u.d.ops[0].imm & 0xFFFF
    st = pop_peek(c, osz, n, &nesp)
    if st == 0:
        st = pop_peek(c, osz, n + osz, &nss)
    if st:
        return st
    nss &= 0xFFFF
    if (nss & 0xFFFC) == 0:
        return gp0(c)
    st = read_desc(c, nss, &slo, &shi, &saddr)
    if st:
        return st
    if (nss & 3) != rpl or ((shi >> 13) & 3) != rpl or not (shi & 0x1000) or \
            (shi & 0x800) or not (shi & 0x200):
        return raise_exc(c, 13, nss & 0xFFFC, 1)
    if not (shi & 0x8000):
        return raise_exc(c, 12, nss & 0xFFFC, 1)
    seg_from_desc(&c.tmpseg, sel, lo, hi)
    if osz == 2:
        off &= 0xFFFF
    if off > c.tmpseg.limit:
        return gp0(c)
    seg_from_desc(&newss, nss, slo, shi)
    if is_iret:
        mask = eflags_write_mask(c, osz)      # at the old CPL: ring 0 may change IOPL
    if not (hi & 0x100):
        lwr_sys(c, addr + 4, 4, hi | 0x100)
        c.tmpseg.attr |= 1
    if not (shi & 0x100):
        lwr_sys(c, saddr + 4, 4, shi | 0x100)
        newss.attr |= 1
    c.cpu.seg[S_CS] = c.tmpseg
    c.cpu.eip = off
    c.cpu.cpl = <u8>rpl
    c.cpu.seg[S_SS] = newss
    if not is_iret and u.d.nops:
        nesp += u.d.ops[0].imm & 0xFFFF
    if newss.flags & SF_BIG:
        c.cpu.regs[4] = nesp
    else:
        c.cpu.regs[4] = (c.cpu.regs[4] & 0xFFFF0000U) | (nesp & 0xFFFF)
    if is_iret:
        write_eflags(c, fl, mask)
    null_outer_segs(c)
    return ST_JUMP


cdef int task_return_checks(CtxC* c, UopC* u) noexcept nogil:
    # IRET with NT=1 returns to the task in the TSS back link: the link must
    # name a busy TSS in the GDT (#TS(link) otherwise, before any state changes,
    # SDM vol. 2 IRET).  The task switch itself is not implemented.
    cdef u32 link, lo, hi, addr, typ
    cdef int st = lrd_sys(c, c.cpu.tr.base, 2, &link)
    if st:
        return st
    if link & 4:
        return raise_exc(c, 10, link & 0xFFFC, 1)
    st = read_desc(c, link, &lo, &hi, &addr)
    if st:
        if st == ST_FAULT:
            return raise_exc(c, 10, link & 0xFFFC, 1)
        return st
    typ = (hi >> 8) & 0x1F
    if typ != 3 and typ != 0xB:
        return raise_exc(c, 10, link & 0xFFFC, 1)
    if not (hi & 0x8000):
        return raise_exc(c, 11, link & 0xFFFC, 1)
    return unsupported(c, u)          # a task switch


cdef int iret_fast_outer(CtxC* c, u32 sel) noexcept nogil:
    """iret_fast() to a less privileged level (RPL = sel & 3 > CPL): a code
    segment of that level and a flat 32-bit stack segment for it, both present
    and accessed, SS:ESP popped with EIP, CS and EFLAGS.  ST_JUMP when done,
    0 (nothing changed) for the full path."""
    cdef u8* p
    cdef u32 esp = c.cpu.regs[4], rpl = sel & 3, eip, fl, nesp, nss, clo, chi, slo, shi, dpl, mask
    if esp > 0xFFFFFFECU:
        return 0
    p = rptr(c, S_SS, esp, 20)
    if p == NULL:
        return 0
    eip = load_n(p, 4)
    fl = load_n(p + 8, 4)
    nesp = load_n(p + 12, 4)
    nss = load_n(p + 16, 4) & 0xFFFF
    if (nss & 3) != rpl:
        return 0
    p = desc_ptr(c, sel)
    if p == NULL:
        return 0
    clo = load_n(p, 4)
    chi = load_n(p + 4, 4)
    dpl = (chi >> 13) & 3
    if (chi & 0x9900) != 0x9900 or (dpl > rpl if chi & 0x400 else dpl != rpl):
        return 0
    if eip > desc_limit(clo, chi):
        return 0
    p = desc_ptr(c, nss)
    if p == NULL:
        return 0
    slo = load_n(p, 4)
    shi = load_n(p + 4, 4)
    if not flat32_stack_desc(slo, shi, rpl):
        return 0
    mask = eflags_write_mask(c, 4)      # at the old CPL: ring 0 may change IOPL
    cs_from_desc(c, sel, clo, chi)
    c.cpu.eip = eip
    c.cpu.cpl = <u8>rpl
    seg_from_desc(&c.cpu.seg[S_SS], nss, slo, shi)
    c.cpu.regs[4] = nesp
    write_eflags(c, fl, mask)
    null_outer_segs(c)
    return ST_JUMP


cdef int iret_fast(CtxC* c) noexcept nogil:
    """The common 32-bit IRET in protected mode in one go: to a present, accessed
    code segment at the current privilege level (RPL == CPL), NT=0, the frame
    read from a flat 32-bit stack through one host pointer and the descriptor
    read from the GDT/LDT in memory (never cached).  Returns ST_JUMP when done;
    anything else (nothing changed) sends it down far_return, which also raises
    every fault.  (Writes EFLAGS: lazy flags must be materialized before.)"""
    cdef u8* p
    cdef u32 esp = c.cpu.regs[4], eip, sel, fl, clo, chi
    cdef u32 cpl = c.cpu.cpl
    if (c.cpu.eflags & (F_NT | F_VM)) or c.ac_on or esp > 0xFFFFFFF4U or \
            (c.cpu.seg[S_SS].flags & (SF_FLAT | SF_BIG)) != (SF_FLAT | SF_BIG):
        return 0
    p = rptr(c, S_SS, esp, 12)
    if p == NULL:
        return 0
    eip = load_n(p, 4)
    sel = load_n(p + 4, 4) & 0xFFFF
    fl = load_n(p + 8, 4)
    if cpl == 0 and (fl & F_VM):
        return 0
    if (sel & 3) != cpl:
        if (sel & 3) > cpl:
            return iret_fast_outer(c, sel)
        return 0
    p = desc_ptr(c, sel)
    if p == NULL:
        return 0
    clo = load_n(p, 4)
    chi = load_n(p + 4, 4)
    if not same_level_code(chi, cpl):
        return 0
    if eip > desc_limit(clo, chi):
        return 0
    cs_from_desc(c, sel, clo, chi)
    c.cpu.eip = eip
    c.cpu.regs[4] = esp + 12
    write_eflags(c, fl, eflags_write_mask(c, 4))
    return ST_JUMP


cdef int far_return(CtxC* c, UopC* u) noexcept nogil:
    """RETF and IRET in every mode bt runs: real mode, the same level, an outer level."""
    cdef int osz = u.d.osz, is_iret = u.d.op == OP_IRET, st
    cdef u32 off, sel, t = 0, n
    cdef CtlSaveC sv
    st = pop_peek(c, osz, 0, &off)
    if st == 0:
        st = pop_peek(c, osz, osz, &sel)
    if st == 0 and is_iret:
        st = pop_peek(c, osz, 2 * osz, &t)
    if st:
        return st
    sel &= 0xFFFF
    if is_iret and prot(c):
        if c.cpu.eflags & F_NT:
            return task_return_checks(c, u)
        if osz == 4 and (t & F_VM) and c.cpu.cpl == 0:
            return unsupported(c, u)        # a return to virtual-8086 mode
    if prot(c) and (sel & 0xFFFC) != 0 and (sel & 3) > c.cpu.cpl:
        ctl_save(c, &sv)
        st = return_outer(c, u, sel, off, t, is_iret)
        if st != ST_JUMP:
            ctl_restore(c, &sv)
        return st
    if prot(c) and (sel & 3) < c.cpu.cpl:
        return raise_exc(c, 13, sel & 0xFFFC, 1)
    if osz == 2:
        off &= 0xFFFF
    st = load_cs(c, sel, off)
    if st:
        return st
    n = (2 if not is_iret else 3) * osz
    if not is_iret and u.d.nops:
        n += u.d.ops[0].imm & 0xFFFF
    c.cpu.regs[4] = sp_add(c, c.cpu.regs[4], n)
    if is_iret:
        write_eflags(c, t, eflags_write_mask(c, osz))
    return ST_JUMP


cdef int gate_transfer(CtxC* c, UopC* u, u32 gsel, u32 glo, u32 ghi, int is_call) noexcept nogil:
    """Far CALL/JMP through a call gate (SDM vol. 3 5.8.4-5.8.5), with the inner
    stack switch and parameter copy for a CALL to a more privileged level."""
    cdef u32 gdpl = (ghi >> 13) & 3, sel = glo >> 16, off, lo, hi, addr, dpl, typ
    cdef u32 nss = 0, nesp = 0, pcount = ghi & 0x1F, old_ss, old_esp, v, i, ret
    cdef int gsize = 4 if ((ghi >> 8) & 0xF) == 0xC else 2, st
    cdef SegC newss
    if gdpl < c.cpu.cpl or gdpl < (gsel & 3):
        return raise_exc(c, 13, gsel & 0xFFFC, 1)
    if not (ghi & 0x8000):
        return raise_exc(c, 11, gsel & 0xFFFC, 1)
    off = (glo & 0xFFFF) | (ghi & 0xFFFF0000U) if gsize == 4 else glo & 0xFFFF
    if (sel & 0xFFFC) == 0:
        return gp0(c)
    st = read_desc(c, sel, &lo, &hi, &addr)
    if st:
        return st
    typ = (hi >> 8) & 0xF
    dpl = (hi >> 13) & 3
    if not (hi & 0x1000) or not (typ & 8) or dpl > c.cpu.cpl:
        return raise_exc(c, 13, sel & 0xFFFC, 1)
    if not is_call and not (typ & 4) and dpl != c.cpu.cpl:
        return raise_exc(c, 13, sel & 0xFFFC, 1)
    if not (hi & 0x8000):
        return raise_exc(c, 11, sel & 0xFFFC, 1)
    ret = next_ip(c, u)
    old_ss = c.cpu.seg[S_SS].sel
    old_esp = c.cpu.regs[4]
    if is_call and not (typ & 4) and dpl < c.cpu.cpl:
        st = tss_stack(c, dpl, &nss, &nesp, 0)
        if st == 0:
            st = load_inner_ss(c, nss, dpl, &newss, 0)
        if st:
            return st
        seg_from_desc(&c.tmpseg, (sel & 0xFFFC) | dpl, lo, hi)
        if off > c.tmpseg.limit:
            return gp0(c)
        # the parameters, read from the caller's stack before the switch
        c.cpu.cpl = <u8>dpl
        c.cpu.seg[S_SS] = newss
        c.cpu.regs[4] = nesp
        st = push(c, gsize, old_ss)
        if st == 0:
            st = push(c, gsize, old_esp)
        i = pcount
        while st == 0 and i > 0:
            i -= 1
            st = copy_param(c, &newss, old_ss, old_esp, i, gsize)
        if st == 0:
            st = push(c, gsize, c.cpu.seg[S_CS].sel)
        if st == 0:
            st = push(c, gsize, ret)
        if st:
            if st == ST_FAULT and c.exc_vec == 12:
                c.exc_err = nss & 0xFFFC
            return st
    else:
        seg_from_desc(&c.tmpseg, (sel & 0xFFFC) | c.cpu.cpl, lo, hi)
        if off > c.tmpseg.limit:
            return gp0(c)
        if is_call:
            st = push(c, gsize, c.cpu.seg[S_CS].sel)
            if st == 0:
                st = push(c, gsize, ret)
            if st:
                return st
    if not (hi & 0x100):
        lwr_sys(c, addr + 4, 4, hi | 0x100)
        c.tmpseg.attr |= 1
    c.cpu.seg[S_CS] = c.tmpseg
    c.cpu.eip = off
    return ST_JUMP


cdef int copy_param(CtxC* c, SegC* newss, u32 old_ss_sel, u32 old_esp, u32 i, int gsize) noexcept nogil:
    # parameter i of a call-gate CALL: read from the caller's stack (its SS
    # descriptor saved in c.tmpseg2) and pushed on the new one
    cdef u32 v, off
    cdef int st
    cdef SegC* oss = &c.tmpseg2
    off = old_esp + i * gsize
    if not (oss.flags & SF_BIG):
        off &= 0xFFFF
    if not seg_range_ok(oss, off, gsize):
        return raise_exc(c, 12, 0, 1)
    st = lrd(c, oss.base + off, gsize, &v)
    if st:
        return st
    return push(c, gsize, v)


cdef int far_transfer(CtxC* c, UopC* u, u32 sel, u32 off, int is_call) noexcept nogil:
    """Far JMP/CALL: to a code segment, or through a call gate."""
    cdef u32 lo, hi, addr, typ
    cdef int st
    cdef CtlSaveC sv
    if prot(c) and (sel & 0xFFFC) != 0:
        st = read_desc(c, sel, &lo, &hi, &addr)
        if st:
            return st
        if not (hi & 0x1000):
            typ = (hi >> 8) & 0xF
            if typ == 4 or typ == 0xC:
                ctl_save(c, &sv)
                c.tmpseg2 = c.cpu.seg[S_SS]
                st = gate_transfer(c, u, sel, lo, hi, is_call)
                if st != ST_JUMP:
                    ctl_restore(c, &sv)
                return st
            if typ == 1 or typ == 9 or typ == 5:
                return unsupported(c, u)     # a task switch
            return raise_exc(c, 13, sel & 0xFFFC, 1)
    return far_common(c, u, sel, off, is_call)


# ---------------------------------------------------------------- SYSENTER/SYSEXIT

cdef void flat_seg(SegC* s, u32 sel, int code, int dpl) noexcept nogil:
    s.sel = <u16>sel
    s.base = 0
    s.limit = 0xFFFFFFFFU
    # present, S, DPL, type (code: execute/read accessed; data: read/write accessed), G, D
    s.attr = <u16>(0x80 | 0x10 | (dpl << 5) | (0xB if code else 0x3) | 0xC00)
    if code:
        s.flags = SF_VALID | SF_EXEC | SF_READ | SF_BIG
    else:
        s.flags = SF_VALID | SF_READ | SF_WRITE | SF_BIG
    seg_update_flat(s)


cdef int do_sysenter(CtxC* c, UopC* u) noexcept nogil:
    cdef u32 cs = <u32>c.cpu.msr_sysenter_cs & 0xFFFF
    if not prot(c) or (cs & 0xFFFC) == 0:
        return gp0(c)
    c.cpu.eflags &= ~(<u32>(F_VM | F_IF | F_RF))
    flat_seg(&c.cpu.seg[S_CS], cs & 0xFFFC, 1, 0)
    flat_seg(&c.cpu.seg[S_SS], (cs + 8) & 0xFFFC, 0, 0)
    c.cpu.cpl = 0
    c.cpu.regs[4] = <u32>c.cpu.msr_sysenter_esp
    c.cpu.eip = <u32>c.cpu.msr_sysenter_eip
    return ST_JUMP


cdef int do_sysexit(CtxC* c, UopC* u) noexcept nogil:
    cdef u32 cs = <u32>c.cpu.msr_sysenter_cs & 0xFFFF
    if not prot(c) or c.cpu.cpl != 0 or (cs & 0xFFFC) == 0:
        return gp0(c)
    flat_seg(&c.cpu.seg[S_CS], (cs + 16) | 3, 1, 3)
    flat_seg(&c.cpu.seg[S_SS], (cs + 24) | 3, 0, 3)
    c.cpu.cpl = 3
    c.cpu.regs[4] = c.cpu.regs[1]
    c.cpu.eip = c.cpu.regs[2]
    return ST_JUMP


# ---------------------------------------------------------------- LLDT LTR LAR LSL VERR VERW

cdef int do_lldt_ltr(CtxC* c, UopC* u, int is_ltr) noexcept nogil:
    cdef u32 sel, lo, hi, addr, typ
    cdef int st
    st = get_op(c, u, 0, 2, &sel)
    if st:
        return st
    if (sel & 0xFFFC) == 0:
        if is_ltr:
            return gp0(c)
        c.cpu.ldtr.sel = <u16>sel
        c.cpu.ldtr.flags = 0
        c.cpu.ldtr.base = 0
        c.cpu.ldtr.limit = 0
        return 0
    if sel & 4:
        return raise_exc(c, 13, sel & 0xFFFC, 1)
    st = read_desc(c, sel, &lo, &hi, &addr)
    if st:
        return st
    typ = (hi >> 8) & 0x1F
    if (is_ltr and typ != 1 and typ != 9) or (not is_ltr and typ != 2):
        return raise_exc(c, 13, sel & 0xFFFC, 1)
    if not (hi & 0x8000):
        return raise_exc(c, 11, sel & 0xFFFC, 1)
    if is_ltr:
        hi |= 0x200                   # busy
        st = lwr_sys(c, addr + 4, 4, hi)
        if st:
            return st
        seg_from_desc(&c.cpu.tr, sel, lo, hi)
    else:
        seg_from_desc(&c.cpu.ldtr, sel, lo, hi)
    return 0


cdef int do_lar_lsl_verx(CtxC* c, UopC* u) noexcept nogil:
    cdef int op = u.d.op, st, found, ok
    cdef u32 sel, lo = 0, hi = 0, typ, dpl, lim
    if not prot(c):
        return raise_exc(c, 6, 0, 0)
    st = get_op(c, u, 1 if (op == OP_LAR or op == OP_LSL) else 0, 2, &sel)
    if st:
        return st
    st = desc_lookup(c, sel, &lo, &hi, &found)
    if st:
        return st
    ok = found
    if ok:
        typ = (hi >> 8) & 0xF
        dpl = (hi >> 13) & 3
        if hi & 0x1000:
            # conforming code skips the privilege check
            if not ((typ & 0xC) == 0xC) and (dpl < c.cpu.cpl or dpl < (sel & 3)):
                ok = 0
            elif op == OP_VERR and (typ & 0xA) == 8:
                ok = 0                # execute-only code
            elif op == OP_VERW and ((typ & 8) or not (typ & 2)):
                ok = 0
        else:
            if op == OP_VERR or op == OP_VERW:
                ok = 0
            elif dpl < c.cpu.cpl or dpl < (sel & 3):
                ok = 0
            elif op == OP_LAR:
                ok = (typ >= 1 and typ <= 5) or typ == 9 or typ == 0xB or typ == 0xC
            else:
                ok = (typ >= 1 and typ <= 3) or typ == 9 or typ == 0xB
    if not ok:
        c.cpu.eflags &= ~(<u32>F_ZF)
        return 0
    c.cpu.eflags |= F_ZF
    if op == OP_LAR:
        setreg(c, u.d.ops[0].reg, u.d.osz, hi & (0x00F0FF00U if u.d.osz == 4 else 0xFF00))
    elif op == OP_LSL:
        lim = (lo & 0xFFFF) | (hi & 0xF0000)
        if hi & 0x800000:
            lim = (lim << 12) | 0xFFF
        setreg(c, u.d.ops[0].reg, u.d.osz, lim)
    return 0


# ---------------------------------------------------------------- I/O permission

cdef int io_check(CtxC* c, u32 port, u32 size) noexcept nogil:
    """IN/OUT/INS/OUTS at CPL > IOPL (the caller checked io_allowed): every bit of
    the TSS I/O bitmap for the ports touched must be clear (#GP(0) otherwise, or
    past the TSS limit)."""
    cdef SegC* tr = &c.cpu.tr
    cdef u32 typ = tr.attr & 0xF, base, off, bits
    cdef int st
    if not (tr.flags & SF_VALID) or (typ != 9 and typ != 0xB) or tr.limit < 0x67:
        return gp0(c)
    st = lrd_sys(c, tr.base + 0x66, 2, &base)
    if st:
        return st
    off = base + (port >> 3)
    if off + 1 > tr.limit:
        return gp0(c)
    st = lrd_sys(c, tr.base + off, 2, &bits)
    if st:
        return st
    if (bits >> (port & 7)) & ((1 << size) - 1):
        return gp0(c)
    return 0
