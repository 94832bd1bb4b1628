# Guest memory access: segmentation, linear -> physical, RAM bounds, and the
# write check that keeps translated code coherent.  Included into _jit.pyx so
# that every access inlines into the semantics.
#
# With CR0.PG=0 linear == physical; with CR0.PG=1 lrd_u / lwr_u go through
# the software TLB of tlb.pxi (one predictable branch on the paging-off path).

cdef inline int raise_exc(CtxC* c, int vec, u32 err, int has_err) noexcept nogil:
    c.exc_vec = vec
    c.exc_err = err
    c.exc_has_err = has_err
    return ST_FAULT


cdef inline int seg_fault(CtxC* c, int s) noexcept nogil:
    # an access outside a segment's limit or rights: #SS for the stack, #GP otherwise
    return raise_exc(c, 12 if s == S_SS else 13, 0, 1)


cdef int seg_check_slow(CtxC* c, int s, u32 off, u32 size, int write, u32* lin) noexcept nogil:
    cdef SegC* sg = &c.cpu.seg[s]
    cdef u32 last = off + size - 1
    cdef u32 hi
    if not (sg.flags & SF_VALID):
        return seg_fault(c, s)
    if write:
        if not (sg.flags & SF_WRITE):
            return seg_fault(c, s)
    elif not (sg.flags & SF_READ):
        return seg_fault(c, s)
    if last < off:
        return seg_fault(c, s)
    if sg.flags & SF_EXPDOWN:
        hi = 0xFFFFFFFFU if (sg.flags & SF_BIG) else 0xFFFF
        if off <= sg.limit or last > hi:
            return seg_fault(c, s)
    elif last > sg.limit:
        return seg_fault(c, s)
    lin[0] = sg.base + off
    return 0


cdef inline int seg_lin(CtxC* c, int s, u32 off, u32 size, int write, u32* lin) noexcept nogil:
    if c.cpu.seg[s].flags & SF_FLAT:
        lin[0] = off
        return 0
    return seg_check_slow(c, s, off, size, write, lin)


cdef int bad_mem(CtxC* c, u32 lin, u32 size) noexcept nogil:
    c.exit_kind = EXIT_BAD_MEM
    c.exit_addr = lin
    c.exit_size = size
    return ST_STOP_BEFORE


cdef inline int lin_ok(CtxC* c, u32 lin, u32 size) noexcept nogil:
    # the whole access lies in RAM (no wrap past 4 GiB)
    return lin <= c.ram_size - size and c.ram_size >= size


cdef inline void code_write_check(CtxC* c, u32 lin, u32 size) noexcept nogil:
    # A store into a page that holds translated code: drop that page's blocks
    # before the next instruction runs (the loop sees c.smc and leaves the block).
    cdef u32 p0 = lin >> 12
    cdef u32 p1 = (lin + size - 1) >> 12
    if c.code_map[p0]:
        code_written(c, p0, lin & 0xFFF, (lin & 0xFFF) + size if p1 == p0 else 0x1000)
    if p1 != p0 and c.code_map[p1]:
        code_written(c, p1, 0, ((lin + size - 1) & 0xFFF) + 1)


cdef inline u32 load_n(const u8* p, int size) noexcept nogil:
    cdef u32 v32
    cdef u16 v16
    if size == 4:
        memcpy(&v32, p, 4)
        return v32
    if size == 2:
        memcpy(&v16, p, 2)
        return v16
    return p[0]


cdef inline void store_n(u8* p, int size, u32 v) noexcept nogil:
    cdef u16 v16
    if size == 4:
        memcpy(p, &v, 4)
    elif size == 2:
        v16 = <u16>v
        memcpy(p, &v16, 2)
    else:
        p[0] = <u8>v


cdef int mmio_py(CtxC* c, u32 addr, int size, int write, u32* v) noexcept with gil:
    # the one place the engine calls into Python in the middle of an instruction
    fpu_spill(c)            # Python may use the host x87: the guest's state leaves it
    core = <object>c.owner
    try:
        r = core._mmio(addr, size, write, v[0] if write else 0)
    except BaseException as e:
        core._pending_error = e
        c.exit_kind = EXIT_ERROR
        return ST_STOP_BEFORE
    if r is None:
        return bad_mem(c, addr, size)
    if not write:
        v[0] = <u32>(r & 0xFFFFFFFF)
    c.mmio_accesses += 1
    return 0


cdef int mmio_access(CtxC* c, u32 addr, int size, int write, u32* v) noexcept nogil:
    """An access outside RAM: a device's MMIO window (through Python), or BAD_MEM."""
    if c.owner == NULL or not c.mmio_enabled:
        return bad_mem(c, addr, size)
    return mmio_py(c, addr, size, write, v)


cdef inline int lrd_u(CtxC* c, u32 lin, int size, u32* v, int user) noexcept nogil:
    """Read size bytes at a linear address, as a user (1) or supervisor access."""
    cdef TlbEntryC* e
    if c.cpu.cr[0] & 0x80000000U:
        # paging: the TLB's read tag, on its page only; anything else is tlb_rd_slow
        e = tlb_ent(c, lin, user)
        if e.tag[0] == tlb_last_page(lin, size):
            c.tlb_hits[0] += 1
            v[0] = load_n(<u8*>(<size_t>lin + e.addend), size)
            return 0
        return tlb_rd_slow(c, lin, size, v, user)
    if not lin_ok(c, lin, size):
        return mmio_access(c, lin, size, 0, v)
    v[0] = load_n(c.ram + lin, size)
    return 0


cdef inline int lwr_u(CtxC* c, u32 lin, int size, u32 v, int user) noexcept nogil:
    """Write size bytes at a linear address, as a user (1) or supervisor access."""
    cdef TlbEntryC* e
    if c.cpu.cr[0] & 0x80000000U:
        # a fast write tag never points at a page with translated code (tlb.pxi)
        e = tlb_ent(c, lin, user)
        if e.tag[1] == tlb_last_page(lin, size):
            c.tlb_hits[1] += 1
            store_n(<u8*>(<size_t>lin + e.addend), size, v)
            return 0
        return tlb_wr_slow(c, lin, size, v, user)
    if not lin_ok(c, lin, size):
        return mmio_access(c, lin, size, 1, &v)
    store_n(c.ram + lin, size, v)
    if c.code_map[lin >> 12] | c.code_map[(lin + size - 1) >> 12]:
        code_write_check(c, lin, size)
    return 0


cdef inline int lrd(CtxC* c, u32 lin, int size, u32* v) noexcept nogil:
    """Read size bytes at a linear address (an access at the CPL)."""
    return lrd_u(c, lin, size, v, cur_user(c))


cdef inline int lwr(CtxC* c, u32 lin, int size, u32 v) noexcept nogil:
    """Write size bytes at a linear address (an access at the CPL)."""
    return lwr_u(c, lin, size, v, cur_user(c))


cdef inline int lrd_sys(CtxC* c, u32 lin, int size, u32* v) noexcept nogil:
    """An implicit supervisor read (GDT/LDT/IDT/TSS): with paging on it is
    checked as a CPL 0 access whatever the CPL (SDM vol. 3 4.6.1)."""
    return lrd_u(c, lin, size, v, 0)


cdef inline int lwr_sys(CtxC* c, u32 lin, int size, u32 v) noexcept nogil:
    """An implicit supervisor write (descriptor accessed bits, TSS busy bit,
    task state): checked as CPL 0 like lrd_sys."""
    return lwr_u(c, lin, size, v, 0)


cdef inline int lprobe_w(CtxC* c, u32 lin, u32 size) noexcept nogil:
    """Check that a write of size bytes would succeed, without writing
    (with paging: faults as the write would, at the CPL)."""
    if c.cpu.cr[0] & 0x80000000U:
        return tlb_probe_w(c, lin, size, cur_user(c))
    if not lin_ok(c, lin, size) and not c.mmio_enabled:
        return bad_mem(c, lin, size)
    return 0


cdef inline u8* rptr(CtxC* c, int s, u32 off, int size) noexcept nogil:
    """The host address for a read of size bytes at s:off when nothing can intervene
    (a flat segment; with paging, a TLB read hit on one page; without, RAM), else
    NULL: the caller then takes rd(), which does every check."""
    cdef TlbEntryC* e
    if not (c.cpu.seg[s].flags & SF_FLAT):
        return NULL
    if c.cpu.cr[0] & 0x80000000U:
        e = tlb_ent(c, off, cur_user(c))
        if e.tag[0] == tlb_last_page(off, size):
            c.tlb_hits[0] += 1
            return <u8*>(<size_t>off + e.addend)
        return NULL
    if lin_ok(c, off, size):
        return c.ram + off
    return NULL


cdef inline u8* wptr(CtxC* c, int s, u32 off, int size) noexcept nogil:
    """As rptr() for a write, or a read-modify-write (write permission implies read):
    with paging a TLB write hit (never a page with translated code); without,
    RAM with no translated code on the pages.  NULL: take wr()."""
    cdef TlbEntryC* e
    if not (c.cpu.seg[s].flags & SF_FLAT):
        return NULL
    if c.cpu.cr[0] & 0x80000000U:
        e = tlb_ent(c, off, cur_user(c))
        if e.tag[1] == tlb_last_page(off, size):
            c.tlb_hits[1] += 1
            return <u8*>(<size_t>off + e.addend)
        return NULL
    if lin_ok(c, off, size) and not (c.code_map[off >> 12] | c.code_map[(off + <u32>size - 1) >> 12]):
        return c.ram + off
    return NULL


cdef inline int rd(CtxC* c, int s, u32 off, int size, u32* v) noexcept nogil:
    cdef u32 lin
    cdef int st = seg_lin(c, s, off, size, 0, &lin)
    if st:
        return st
    if c.ac_on and (lin & (size - 1)):
        return raise_exc(c, 17, 0, 1)
    return lrd(c, lin, size, v)


cdef inline int wr(CtxC* c, int s, u32 off, int size, u32 v) noexcept nogil:
    cdef u32 lin
    cdef int st = seg_lin(c, s, off, size, 1, &lin)
    if st:
        return st
    if c.ac_on and (lin & (size - 1)):
        return raise_exc(c, 17, 0, 1)
    return lwr(c, lin, size, v)


cdef inline int probe_w(CtxC* c, int s, u32 off, int size) noexcept nogil:
    cdef u32 lin
    cdef int st = seg_lin(c, s, off, size, 1, &lin)
    if st:
        return st
    return lprobe_w(c, lin, size)


# ---------------------------------------------------------------- stack

cdef inline u32 sp_mask(CtxC* c) noexcept nogil:
    return 0xFFFFFFFFU if (c.cpu.seg[S_SS].flags & SF_BIG) else 0xFFFF


cdef inline u32 sp_add(CtxC* c, u32 sp, u32 delta) noexcept nogil:
    # new ESP after adding delta, keeping the upper half when the stack is 16-bit
    if c.cpu.seg[S_SS].flags & SF_BIG:
        return sp + delta
    return (sp & 0xFFFF0000U) | ((sp + delta) & 0xFFFF)


cdef inline int push(CtxC* c, int size, u32 v) noexcept nogil:
    cdef u32 nsp = sp_add(c, c.cpu.regs[4], <u32>(-size))
    cdef int st = wr(c, S_SS, nsp & sp_mask(c), size, v)
    if st:
        return st
    c.cpu.regs[4] = nsp
    return 0


cdef inline int pop_peek(CtxC* c, int size, u32 depth, u32* v) noexcept nogil:
    """Read the stack slot depth bytes above ESP, without popping."""
    return rd(c, S_SS, sp_add(c, c.cpu.regs[4], depth) & sp_mask(c), size, v)


# ---------------------------------------------------------------- registers

cdef inline u32 getreg(CtxC* c, int r, int size) noexcept nogil:
    if size == 4:
        return c.cpu.regs[r]
    if size == 2:
        return c.cpu.regs[r] & 0xFFFF
    if r < 4:
        return c.cpu.regs[r] & 0xFF
    return (c.cpu.regs[r - 4] >> 8) & 0xFF


cdef inline void setreg(CtxC* c, int r, int size, u32 v) noexcept nogil:
    if size == 4:
        c.cpu.regs[r] = v
    elif size == 2:
        c.cpu.regs[r] = (c.cpu.regs[r] & 0xFFFF0000U) | (v & 0xFFFF)
    elif r < 4:
        c.cpu.regs[r] = (c.cpu.regs[r] & 0xFFFFFF00U) | (v & 0xFF)
    else:
        c.cpu.regs[r - 4] = (c.cpu.regs[r - 4] & 0xFFFF00FFU) | ((v & 0xFF) << 8)


cdef inline u32 calc_ea(CtxC* c, InsnC* d) noexcept nogil:
    cdef u32 a = d.disp
    if d.base != REG_NONE:
        a += c.cpu.regs[d.base]
    if d.index != REG_NONE:
        a += c.cpu.regs[d.index] << d.scale
    if d.asz == 2:
        a &= 0xFFFF
    return a
