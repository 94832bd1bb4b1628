# Exception and interrupt delivery (SDM vol. 3 ch. 6): the real-mode IVT,
# protected-mode interrupt and trap gates (16 and 32 bit) with the stack switch
# from the TSS, nested faults turning into #DF, and the triple fault.
#
# deliver() either completes (CS:EIP at the handler, the frame pushed) or
# leaves CS, SS, ESP, EIP, EFLAGS and the CPL as they were and returns ST_FAULT
# with the exception the delivery itself raised; take_event() then applies the
# SDM's double-fault rules (table 6-5) and delivers that one instead.
#
# The common protected-mode case (a present 32-bit interrupt/trap gate to an
# accessed code segment, at the same level or, from a 32-bit TSS, to a more
# privileged one; flat 32-bit stacks) goes through deliver_fast(), which writes
# the whole frame through one host pointer; it reads the gate, the descriptors
# and the TSS from guest memory at every delivery like the CPU (only their
# decoded form is cached, keyed by the raw bytes: cs_from_desc), and leaves
# every other case, and every fault, to deliver_full().
# (With lazy arithmetic flags, EFLAGS must be materialized before deliver()
# and before the IRET fast paths in protect.pxi, which read and write it.)

cdef enum:
    EV_EXT = 0       # a trap-class exception or an external interrupt: EXT=1 in error codes
    EV_SOFT = 1      # INT n, INT3, INTO: the gate's DPL is checked, EXT=0
    EV_FAULT = 2     # a fault: like EV_EXT, and the saved EFLAGS has RF=1 (SDM vol. 3 17.3.1.1)


cdef inline int exc_class(int v) noexcept nogil:
    # 0 benign, 1 contributory, 2 page fault, 3 double fault
    if v == 0 or (v >= 10 and v <= 13):
        return 1
    if v == 14:
        return 2
    if v == 8:
        return 3
    return 0


cdef inline bint seg_range_ok(SegC* sg, u32 off, u32 size) noexcept nogil:
    cdef u32 last = off + size - 1
    cdef u32 hi
    if last < off:
        return False
    if sg.flags & SF_EXPDOWN:
        hi = 0xFFFFFFFFU if (sg.flags & SF_BIG) else 0xFFFF
        return off > sg.limit and last <= hi
    return last <= sg.limit


cdef inline int intercepted(CtxC* c, int vec, int soft) noexcept nogil:
    if vec < 32:
        return (c.intercept >> vec) & 1
    return soft and c.intercept_int


cdef int tss_stack(CtxC* c, int dpl, u32* ss, u32* esp, u32 ext) noexcept nogil:
    """SS:ESP for privilege level dpl from the current TSS (32- or 16-bit)."""
    cdef SegC* tr = &c.cpu.tr
    cdef u32 typ = tr.attr & 0xF, off, v
    cdef int st
    if not (tr.flags & SF_VALID) and tr.sel == 0:
        return raise_exc(c, 10, ext, 1)
    if typ == 9 or typ == 0xB:
        off = 4 + 8 * dpl
        if off + 5 > tr.limit:
            return raise_exc(c, 10, (tr.sel & 0xFFFC) | ext, 1)
        st = lrd_sys(c, tr.base + off, 4, esp)
        if st:
            return st
        st = lrd_sys(c, tr.base + off + 4, 2, ss)
    else:
        off = 2 + 4 * dpl
        if off + 3 > tr.limit:
            return raise_exc(c, 10, (tr.sel & 0xFFFC) | ext, 1)
        st = lrd_sys(c, tr.base + off, 2, &v)
        if st:
            return st
        esp[0] = v
        st = lrd_sys(c, tr.base + off + 2, 2, ss)
    return st


cdef int load_inner_ss(CtxC* c, u32 sel, int dpl, SegC* out, u32 ext) noexcept nogil:
    """Check and read the stack segment of an inner-level stack switch (#TS/#SS)."""
    cdef u32 lo, hi, addr, typ, err = (sel & 0xFFFC) | ext
    cdef int st
    if (sel & 0xFFFC) == 0:
        return raise_exc(c, 10, ext, 1)
    st = read_desc(c, sel, &lo, &hi, &addr)
    if st:
        if st == ST_FAULT:
            return raise_exc(c, 10, err, 1)
        return st
    typ = (hi >> 8) & 0xF
    if (sel & 3) != <u32>dpl or ((hi >> 13) & 3) != <u32>dpl or not (hi & 0x1000) \
            or (typ & 8) or not (typ & 2):
        return raise_exc(c, 10, err, 1)
    if not (hi & 0x8000):
        return raise_exc(c, 12, err, 1)
    if not (typ & 1):
        hi |= 0x100
        st = lwr_sys(c, addr + 4, 4, hi)
        if st:
            return st
    seg_from_desc(out, sel, lo, hi)
    return 0


cdef int deliver_real(CtxC* c, int vec) noexcept nogil:
    cdef u32 v
    cdef int st
    if <u32>vec * 4 + 3 > c.cpu.idtr.limit:
        return raise_exc(c, 13, <u32>vec * 8 + 2, 1)
    st = lrd_sys(c, c.cpu.idtr.base + <u32>vec * 4, 4, &v)
    if st:
        return st
    st = push(c, 2, c.cpu.eflags & 0xFFFF)
    if st == 0:
        st = push(c, 2, c.cpu.seg[S_CS].sel)
    if st == 0:
        st = push(c, 2, c.cpu.eip & 0xFFFF)
    if st:
        return st
    c.cpu.eflags &= ~(<u32>(F_IF | F_TF | F_AC | F_RF))
    c.cpu.seg[S_CS].sel = <u16>(v >> 16)
    c.cpu.seg[S_CS].base = (v >> 16) << 4
    seg_update_flat(&c.cpu.seg[S_CS])
    c.cpu.eip = v & 0xFFFF
    return 0


cdef int deliver_prot(CtxC* c, int vec, u32 err, int has_err, int kind) noexcept nogil:
    cdef u32 ext = 0 if kind == EV_SOFT else 1
    cdef u32 gerr = <u32>vec * 8 + 2 + ext
    cdef u32 lo, hi, clo, chi, caddr, typ, sel, off, cdpl, nss = 0, nesp = 0
    cdef u32 old_ss, old_esp, old_cs, old_eip, old_fl
    cdef int st, size, inner
    cdef SegC newss
    if <u32>vec * 8 + 7 > c.cpu.idtr.limit:
        return raise_exc(c, 13, gerr, 1)
    st = lrd_sys(c, c.cpu.idtr.base + <u32>vec * 8, 4, &lo)
    if st == 0:
        st = lrd_sys(c, c.cpu.idtr.base + <u32>vec * 8 + 4, 4, &hi)
    if st:
        return st
    typ = (hi >> 8) & 0x1F
    if typ == 5:
        return ST_UNSUPPORTED_FAR        # a task gate: hardware task switch
    if typ != 6 and typ != 7 and typ != 0xE and typ != 0xF:
        return raise_exc(c, 13, gerr, 1)
    if kind == EV_SOFT and ((hi >> 13) & 3) < c.cpu.cpl:
        return raise_exc(c, 13, <u32>vec * 8 + 2, 1)
    if not (hi & 0x8000):
        return raise_exc(c, 11, gerr, 1)
    size = 4 if typ & 8 else 2
    sel = lo >> 16
    off = (lo & 0xFFFF) | (hi & 0xFFFF0000U) if size == 4 else lo & 0xFFFF
    if (sel & 0xFFFC) == 0:
        return raise_exc(c, 13, ext, 1)
    st = read_desc(c, sel, &clo, &chi, &caddr)
    if st:
        if st == ST_FAULT:
            c.exc_err |= ext
        return st
    cdpl = (chi >> 13) & 3
    if not (chi & 0x1000) or not (chi & 0x800) or cdpl > c.cpu.cpl:
        return raise_exc(c, 13, (sel & 0xFFFC) | ext, 1)
    if not (chi & 0x8000):
        return raise_exc(c, 11, (sel & 0xFFFC) | ext, 1)
    if c.cpu.eflags & F_VM:
        return ST_UNSUPPORTED_FAR        # virtual-8086 mode
    inner = not (chi & 0x400) and cdpl < c.cpu.cpl
    if inner:
        st = tss_stack(c, cdpl, &nss, &nesp, ext)
        if st:
            return st
        st = load_inner_ss(c, nss, cdpl, &newss, ext)
        if st:
            return st
    seg_from_desc(&c.tmpseg, (sel & 0xFFFC) | (cdpl if inner else c.cpu.cpl), clo, chi)
    if off > c.tmpseg.limit:
        return raise_exc(c, 13, ext, 1)
    old_ss = c.cpu.seg[S_SS].sel
    old_esp = c.cpu.regs[4]
    old_cs = c.cpu.seg[S_CS].sel
    old_eip = c.cpu.eip
    old_fl = c.cpu.eflags
    if kind == EV_FAULT:
        old_fl |= F_RF        # the handler's IRET will not re-trigger an instruction breakpoint
    if inner:
        # the new stack's pushes are ring-cdpl accesses (paging checks them so)
        c.cpu.cpl = <u8>cdpl
        c.cpu.seg[S_SS] = newss
        c.cpu.regs[4] = nesp
        st = push(c, size, old_ss)
        if st == 0:
            st = push(c, size, old_esp)
    else:
        st = 0
    if st == 0:
        st = push(c, size, old_fl)
    if st == 0:
        st = push(c, size, old_cs)
    if st == 0:
        st = push(c, size, old_eip)
    if st == 0 and has_err:
        st = push(c, size, err)
    if st:
        if st == ST_FAULT and c.exc_vec == 12:
            c.exc_err = ((nss & 0xFFFC) if inner else 0) | ext
        return st
    if not (chi & 0x100):
        st = lwr_sys(c, caddr + 4, 4, chi | 0x100)
        if st:
            return st
        c.tmpseg.attr |= 1
    c.cpu.seg[S_CS] = c.tmpseg
    c.cpu.eip = off
    c.cpu.eflags &= ~(<u32>(F_TF | F_NT | F_RF | F_VM))
    if not (typ & 1):
        c.cpu.eflags &= ~(<u32>F_IF)
    return 0


cdef inline u8* sys_rptr(CtxC* c, u32 lin, int size) noexcept nogil:
    """The host address of size bytes at lin for an implicit supervisor read
    (as lrd_sys) when they lie in RAM on one page (with paging: a supervisor TLB
    read hit), else NULL: the caller then takes lrd_sys."""
    cdef TlbEntryC* e
    if c.cpu.cr[0] & 0x80000000U:
        e = tlb_ent(c, lin, 0)
        if e.tag[0] == tlb_last_page(lin, size):
            c.tlb_hits[0] += 1
            return <u8*>(<size_t>lin + e.addend)
        return NULL
    if lin_ok(c, lin, size):
        return c.ram + lin
    return NULL


cdef inline u8* desc_ptr(CtxC* c, u32 sel) noexcept nogil:
    """The host address of sel's descriptor for the fast paths (a non-null
    selector inside its table, the 8 bytes readable in one go), else NULL."""
    cdef u32 base, limit
    if (sel & 0xFFFC) == 0:
        return NULL
    if sel & 4:
        if not (c.cpu.ldtr.flags & SF_VALID):
            return NULL
        base = c.cpu.ldtr.base
        limit = c.cpu.ldtr.limit
    else:
        base = c.cpu.gdtr.base
        limit = c.cpu.gdtr.limit
    if (sel | 7) > limit:
        return NULL
    return sys_rptr(c, base + (sel & 0xFFF8), 8)


cdef inline u32 desc_limit(u32 lo, u32 hi) noexcept nogil:
    # a segment descriptor's byte limit (as seg_from_desc computes it)
    cdef u32 lim = (lo & 0xFFFF) | (hi & 0xF0000)
    if hi & 0x800000:
        lim = (lim << 12) | 0xFFF
    return lim


cdef inline void cs_from_desc(CtxC* c, u32 sel, u32 lo, u32 hi) noexcept nogil:
    """CS <- the segment of descriptor (lo, hi) for selector sel.  A SegC is a
    function of (sel, lo, hi) alone, so a small table keyed by the raw bytes (read
    from the GDT/LDT at every transfer) is exact without watching the tables."""
    cdef int k = (sel >> 3) & 3
    if c.dc_sel[k] == sel and c.dc_lo[k] == lo and c.dc_hi[k] == hi:
        c.cpu.seg[S_CS] = c.dc_seg[k]
        return
    # built in place: copying a SegC just written field by field would stall
    # the store forwarding
    seg_from_desc(&c.cpu.seg[S_CS], sel, lo, hi)
    seg_from_desc(&c.dc_seg[k], sel, lo, hi)
    c.dc_sel[k] = sel
    c.dc_lo[k] = lo
    c.dc_hi[k] = hi


cdef inline bint flat32_stack_desc(u32 lo, u32 hi, u32 dpl) noexcept nogil:
    """A present, accessed, writable expand-up data segment with DPL dpl,
    base 0, limit 4 GiB and B=1: a stack the fast paths write through one
    pointer (what seg_from_desc turns into SF_FLAT | SF_BIG)."""
    # P S code W A in byte 5; base 31:16, limit 19:16, G, B, expand-down
    return (hi & 0x9B00) == 0x9300 and ((hi >> 13) & 3) == dpl and lo == 0x0000FFFF \
        and (hi & 0xFFCF04FFU) == 0x00CF0000U


cdef inline u8* stack_wptr(CtxC* c, u32 lin, int size, int user) noexcept nogil:
    """wptr() for a flat stack written at an explicit privilege (the new stack
    of a privilege change), else NULL."""
    cdef TlbEntryC* e
    if c.cpu.cr[0] & 0x80000000U:
        e = tlb_ent(c, lin, user)
        if e.tag[1] == tlb_last_page(lin, size):
            c.tlb_hits[1] += 1
            return <u8*>(<size_t>lin + e.addend)
        return NULL
    if lin_ok(c, lin, size) and not (c.code_map[lin >> 12] | c.code_map[(lin + <u32>size - 1) >> 12]):
        return c.ram + lin
    return NULL


cdef inline bint same_level_code(u32 chi, u32 cpl) noexcept nogil:
    """A present, accessed code segment that a transfer at CPL cpl enters
    without a privilege change: conforming with DPL <= CPL, or DPL == CPL."""
    cdef u32 dpl = (chi >> 13) & 3
    if (chi & 0x9900) != 0x9900:        # P, S, code, accessed
        return False
    if chi & 0x400:
        return dpl <= cpl
    return dpl == cpl


cdef int deliver_fast(CtxC* c, int vec, u32 err, int has_err, int kind) noexcept nogil:
    """The common protected-mode delivery in one go: a present 32-bit interrupt
    or trap gate to a present, accessed code segment entered at the current
    privilege level (or at a more privileged one: deliver_fast_inner), the
    frame written on a flat 32-bit stack through one host pointer.  Everything is read from guest memory at each delivery, as the CPU
    does (a guest may rewrite its IDT or GDT in place).  Returns 0 when
    delivered; anything else (nothing changed) sends the event down the full
    path, which also raises every fault (#GP, #NP, #SS, #TS, #PF).
    (Reads and writes EFLAGS: lazy flags must be materialized before.)"""
    cdef u8* p
    cdef u32 lo, hi, clo, chi, sel, off, esp, nesp, n, fl
    cdef u32 cpl = c.cpu.cpl
    if <u32>vec * 8 + 7 > c.cpu.idtr.limit or (c.cpu.eflags & F_VM) or c.ac_on:
        return 1
    p = sys_rptr(c, c.cpu.idtr.base + <u32>vec * 8, 8)
    if p == NULL:
        return 1
    lo = load_n(p, 4)
    hi = load_n(p + 4, 4)
    if (hi & 0x9E00) != 0x8E00:         # P, S=0, type 0xE/0xF: a 32-bit interrupt/trap gate
        return 1
    if kind == EV_SOFT and ((hi >> 13) & 3) < cpl:
        return 1
    sel = lo >> 16
    p = desc_ptr(c, sel)
    if p == NULL:
        return 1
    clo = load_n(p, 4)
    chi = load_n(p + 4, 4)
    off = (lo & 0xFFFF) | (hi & 0xFFFF0000U)
    if off > desc_limit(clo, chi):
        return 1
    if not same_level_code(chi, cpl):
        if (chi & 0x9D00) == 0x9900 and ((chi >> 13) & 3) < cpl:
            # non-conforming, more privileged: the inner stack from the TSS
            return deliver_fast_inner(c, sel, off, clo, chi, hi, err, has_err, kind)
        return 1
    if (c.cpu.seg[S_SS].flags & (SF_FLAT | SF_BIG)) != (SF_FLAT | SF_BIG):
        return 1
    n = 16 if has_err else 12
    esp = c.cpu.regs[4]
    if esp < n:
        return 1
    nesp = esp - n
    p = wptr(c, S_SS, nesp, <int>n)
    if p == NULL:
        return 1
    fl = c.cpu.eflags
    if kind == EV_FAULT:
        fl |= F_RF
    if has_err:
        store_n(p, 4, err)
        p += 4
    store_n(p, 4, c.cpu.eip)
    store_n(p + 4, 4, c.cpu.seg[S_CS].sel)
    store_n(p + 8, 4, fl)
    c.cpu.regs[4] = nesp
    cs_from_desc(c, (sel & 0xFFFC) | cpl, clo, chi)
    c.cpu.eip = off
    c.cpu.eflags &= ~(<u32>(F_TF | F_NT | F_RF | F_VM))
    if not (hi & 0x100):
        c.cpu.eflags &= ~(<u32>F_IF)
    return 0


cdef int deliver_fast_inner(CtxC* c, u32 sel, u32 off, u32 clo, u32 chi, u32 ghi,
                            u32 err, int has_err, int kind) noexcept nogil:
    """deliver_fast() through a gate to a more privileged non-conforming code
    segment (the caller checked the gate and the code descriptor): SS:ESP for
    the new level from a 32-bit TSS in memory, a flat 32-bit stack segment,
    SS, ESP, EFLAGS, CS, EIP [, error code] pushed on it in one go.  0 when
    delivered; anything else (nothing changed) for the full path."""
    cdef u32 cdpl = (chi >> 13) & 3, typ = c.cpu.tr.attr & 0xF
    cdef u32 toff = 4 + 8 * cdpl, nesp, nss, slo, shi, n, fl
    cdef u8* p
    if not (c.cpu.tr.flags & SF_VALID) or (typ != 9 and typ != 0xB) or toff + 5 > c.cpu.tr.limit:
        return 1
    p = sys_rptr(c, c.cpu.tr.base + toff, 6)
    if p == NULL:
        return 1
    nesp = load_n(p, 4)
    nss = load_n(p + 4, 2)
    if (nss & 3) != cdpl:
        return 1
    p = desc_ptr(c, nss)
    if p == NULL:
        return 1
    slo = load_n(p, 4)
    shi = load_n(p + 4, 4)
    if not flat32_stack_desc(slo, shi, cdpl):
        return 1
    n = 24 if has_err else 20
    if nesp < n:
        return 1
    nesp -= n
    p = stack_wptr(c, nesp, <int>n, 0)       # cdpl < CPL <= 3: a supervisor write
    if p == NULL:
        return 1
    fl = c.cpu.eflags
    if kind == EV_FAULT:
        fl |= F_RF
    if has_err:
        store_n(p, 4, err)
        p += 4
    store_n(p, 4, c.cpu.eip)
    store_n(p + 4, 4, c.cpu.seg[S_CS].sel)
    store_n(p + 8, 4, fl)
    store_n(p + 12, 4, c.cpu.regs[4])
    store_n(p + 16, 4, c.cpu.seg[S_SS].sel)
    c.cpu.cpl = <u8>cdpl
    seg_from_desc(&c.cpu.seg[S_SS], nss, slo, shi)
    c.cpu.regs[4] = nesp
    cs_from_desc(c, (sel & 0xFFFC) | cdpl, clo, chi)
    c.cpu.eip = off
    c.cpu.eflags &= ~(<u32>(F_TF | F_NT | F_RF | F_VM))
    if not (ghi & 0x100):
        c.cpu.eflags &= ~(<u32>F_IF)
    return 0


cdef int deliver(CtxC* c, int vec, u32 err, int has_err, int kind) noexcept nogil:
    """Deliver one event with the pushed EIP already in c.cpu.eip.  Returns 0,
    or a status with the CPU's control state unchanged (ST_FAULT: the fault the
    delivery raised, in c.exc_*)."""
    if (c.cpu.cr[0] & 1) and deliver_fast(c, vec, err, has_err, kind) == 0:
        c.cpu.halted = 0
        c.cpu.shadow = 0
        c.vec_count[vec & 0xFF] += 1
        return 0
    return deliver_full(c, vec, err, has_err, kind)


cdef int deliver_full(CtxC* c, int vec, u32 err, int has_err, int kind) noexcept nogil:
    # deliver() the long way, every check and fault
    cdef u32 esp = c.cpu.regs[4], eip = c.cpu.eip, fl = c.cpu.eflags
    cdef SegC cs = c.cpu.seg[S_CS]
    cdef SegC ss = c.cpu.seg[S_SS]
    cdef u8 cpl = c.cpu.cpl
    cdef int st
    if c.cpu.cr[0] & 1:
        st = deliver_prot(c, vec, err, has_err, kind)
    else:
        st = deliver_real(c, vec)
    if st:
        c.cpu.regs[4] = esp
        c.cpu.eip = eip
        c.cpu.eflags = fl
        c.cpu.seg[S_CS] = cs
        c.cpu.seg[S_SS] = ss
        c.cpu.cpl = cpl
        return st
    c.cpu.halted = 0
    c.cpu.shadow = 0
    c.vec_count[vec & 0xFF] += 1
    return 0


cdef int take_event(CtxC* c, int vec, u32 err, int has_err, int kind) noexcept nogil:
    """Deliver an exception or interrupt (the pushed EIP in c.cpu.eip), with the
    double-fault rules for faults raised on the way.  Returns 0 when the guest's
    handler is next, else an ExitCode (an intercepted exception, a triple fault,
    something bt cannot do)."""
    cdef int st, nv, first = vec, fhas = has_err
    cdef u32 ferr = err
    materialize(c)       # the handler sees (and the frame holds) exact flags
    while True:
        if c.hook_mask & HOOK_EXCEPTION and vec < 32 and kind != EV_SOFT:
            if hook_py(c, HOOK_EXCEPTION, vec, c.cpu.eip, err if has_err else 0xFFFFFFFFU, NULL):
                c.stop_request = 0
                c.exit_kind = EXIT_ERROR
                return EXIT_ERROR
        if intercepted(c, vec, kind == EV_SOFT):
            c.exc_vec = vec
            c.exc_err = err
            c.exc_has_err = has_err
            c.exit_kind = EXIT_EXCEPTION
            return EXIT_EXCEPTION
        st = deliver(c, vec, err, has_err, kind)
        if st == 0:
            return 0
        if st == ST_UNSUPPORTED_FAR:
            c.exit_kind = EXIT_UNSUPPORTED
            c.exit_addr = 0x10000 | vec      # reported as "delivery through a task gate / v86"
            return EXIT_UNSUPPORTED
        if st != ST_FAULT:
            return c.exit_kind
        nv = c.exc_vec
        c.exc_count[nv & 31] += 1
        if vec == 8:
            c.exit_kind = EXIT_TRIPLE_FAULT
            c.exc_vec = first
            c.exc_err = ferr
            c.exc_has_err = fhas
            c.exit_addr = nv
            return EXIT_TRIPLE_FAULT
        if kind != EV_SOFT and ((exc_class(vec) == 1 and exc_class(nv) == 1) or
                                (exc_class(vec) == 2 and exc_class(nv) >= 1)):
            c.exc_count[8] += 1
            vec = 8
            err = 0
            has_err = 1
        else:
            vec = nv
            err = c.exc_err
            has_err = c.exc_has_err
        kind = EV_FAULT       # a fault raised while delivering
