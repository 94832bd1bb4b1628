# Paging: the two-level page walker and the software TLB (issue 5).
#
# The TLB is direct-mapped on the linear page number, two tables of c.tlb_n
# entries: supervisor accesses (CPL 0-2 and the implicit accesses of lrd_sys /
# lwr_sys) use the first, CPL 3 accesses the second, so an entry's permission
# is the one its table stands for.  An entry has three tags, read / write /
# fetch: a tag equal to the linear page address lets that kind of access use
# the host pointer (addend + lin) straight away.  A tag that carries TLB_SLOW
# names the page but sends the access to the slow path: a page outside RAM
# (MMIO), or, for the write tag, a physical page that holds translated code
# (the store must see code_map and drop those blocks).  TLB_INVALID never
# matches.  The write tag is filled only when the translation allows the write
# at this privilege AND the page's Dirty bit is already set, so the first
# write through a translation always walks and sets D as the hardware does.
#
# Invariant kept with cache.pxi: a fast (unmarked) write tag never points at a
# physical page whose code_map is set.  Fills mark the tag when code_map is set;
# block_install() calls tlb_code_page() when code_map becomes set, which marks
# every write tag pointing there (tlb_wmap says whether any might).  When the
# page's code is dropped the marked tag is turned back to fast on its next use.
#
# The fast paths (memory.pxi) index the entry by the access's first byte and
# compare the tag with its last byte's page: a page-crossing access misses there.
# Accesses that cross a page are split in the slow path: both pages are
# translated (faulting with CR2 = the first byte on the faulting page) before
# any byte is written.  4 MiB pages are cached as 4 KiB pieces (TE_LARGE).

# C API for the rest of the engine:
#   lrd / lwr / lprobe_w (memory.pxi)   accesses at the CPL (user iff CPL 3)
#   lrd_sys / lwr_sys                   implicit supervisor accesses (descriptor
#                                       tables, TSS, IDT): U/S checked as CPL 0
#   lrd_u / lwr_u (c, lin, size, v, user), tlb_probe_w(c, lin, size, user)
#                                       an explicit privilege (e.g. pushes on the
#                                       new stack while delivering an interrupt)
#   tlb_flush_all(c)                    CR0.PG/WP, CR4.PSE/PGE/PAE changes
#   tlb_flush_nonglobal(c)              CR3 writes (task switches too)
#   tlb_flush_page(c, lin)              INVLPG
#   page_fault(c, lin, err)             #PF: CR2 = lin, error code err (PFE_*)
#   tlb_peek(c, lin, &pa)               translation without side effects
# A #PF is returned as ST_FAULT with c.exc_vec 14, c.exc_err and CR2 already set.

cdef enum:
    CR0_WP = 0x10000
    CR4_PSE = 0x10
    CR4_PAE = 0x20
    CR4_PGE = 0x80
    PTE_P = 1
    PTE_RW = 2
    PTE_US = 4
    PTE_A = 0x20
    PTE_D = 0x40
    PTE_PS = 0x80
    PTE_G = 0x100
    PFE_P = 1
    PFE_W = 2
    PFE_U = 4
    PFE_RSVD = 8
    TLB_INVALID = 1
    TLB_SLOW = 2
    TK_R = 0
    TK_W = 1
    TK_X = 2
    TE_GLOBAL = 1
    TE_LARGE = 2
    TLB_DEFAULT_ENTRIES = 4096     # machine.py has the same; see bench/results/tlb_sweep.txt


cdef inline bint paging_on(CtxC* c) noexcept nogil:
    return (c.cpu.cr[0] & 0x80000000U) != 0


cdef inline int cur_user(CtxC* c) noexcept nogil:
    # 1 at CPL 3 (a user access), 0 at CPL 0-2
    return (c.cpu.cpl + 1) >> 2


cdef inline TlbEntryC* tlb_ent(CtxC* c, u32 lin, int user) noexcept nogil:
    return &c.tlb_tab[user][(lin >> 12) & c.tlb_mask]


cdef inline u32 tlb_last_page(u32 lin, int size) noexcept nogil:
    # The fast paths compare a tag with the page of an access's LAST byte, in the
    # entry chosen by its first byte: equal only if the access stays on one page,
    # since two consecutive pages never share an entry (at least 2 entries).
    return (lin + <u32>size - 1) & 0xFFFFF000U


# ld32 (an unaligned little-endian load from a host pointer) is fpu.pxi's
cdef inline void pt_store(CtxC* c, u32 addr, u32 v) noexcept nogil:
    # an Accessed/Dirty update of a paging-structure entry (addr is in RAM)
    memcpy(c.ram + addr, &v, 4)
    if c.code_map[addr >> 12]:
        code_write_check(c, addr, 4)


cdef inline int page_fault(CtxC* c, u32 lin, u32 err) noexcept nogil:
    c.cpu.cr[2] = lin
    c.tlb_faults += 1
    return raise_exc(c, 14, err, 1)


cdef inline void tlb_inval(TlbEntryC* e) noexcept nogil:
    e.tag[0] = 0xFFFFFFFFU
    e.tag[1] = 0xFFFFFFFFU
    e.tag[2] = 0xFFFFFFFFU


cdef int tlb_walk(CtxC* c, u32 lin, int kind, int user, u32* pa) noexcept nogil:
    """Translate lin for an access of kind (TK_*) by user (CPL 3) or supervisor,
    walking the guest's page tables: Accessed and Dirty set as the hardware
    sets them, #PF (CR2, error code) on failure, the TLB entry filled."""
    cdef u32 pde_addr = (c.cpu.cr[3] & 0xFFFFF000U) | ((lin >> 20) & 0xFFC)
    cdef u32 pde, pte, pte_addr, perm, ppage, nv, page = lin & 0xFFFFF000U
    cdef u32 err, flags = 0
    cdef int write = kind == TK_W
    cdef bint wok
    cdef TlbEntryC* e
    c.tlb_walks += 1
    err = (<u32>write << 1) | (<u32>user << 2)
    if pde_addr > c.ram_size - 4:
        return bad_mem(c, pde_addr, 4)
    pde = ld32(c.ram + pde_addr)
    if not (pde & PTE_P):
        return page_fault(c, lin, err)
    if (pde & PTE_PS) and (c.cpu.cr[4] & CR4_PSE):
        # 4 MiB page; bits 21:13 are reserved (no PSE-36: 32-bit physical addresses)
        if pde & 0x3FE000:
            return page_fault(c, lin, err | PFE_P | PFE_RSVD)
        pte = pde
        pte_addr = pde_addr
        perm = pde
        ppage = (pde & 0xFFC00000U) | (lin & 0x3FF000)
        flags = TE_LARGE
    else:
        if not (pde & PTE_A):
            # the directory entry was used: Accessed, whatever the table entry says
            pde |= PTE_A
            pt_store(c, pde_addr, pde)
        pte_addr = (pde & 0xFFFFF000U) | ((lin >> 10) & 0xFFC)
        if pte_addr > c.ram_size - 4:
            return bad_mem(c, pte_addr, 4)
        pte = ld32(c.ram + pte_addr)
        if not (pte & PTE_P):
            return page_fault(c, lin, err)
        perm = pde & pte            # U/S and R/W combine across the two levels
        ppage = pte & 0xFFFFF000U
    if user:
        wok = (perm & PTE_RW) != 0
        if not (perm & PTE_US) or (write and not wok):
            return page_fault(c, lin, err | PFE_P)
    else:
        # supervisor: writes to read-only pages are allowed unless CR0.WP
        wok = (perm & PTE_RW) != 0 or not (c.cpu.cr[0] & CR0_WP)
        if write and not wok:
            return page_fault(c, lin, err | PFE_P)
    nv = pte | PTE_A | (PTE_D if write else 0)
    if nv != pte:
        pt_store(c, pte_addr, nv)
        pte = nv
    if (pte & PTE_G) and (c.cpu.cr[4] & CR4_PGE):
        flags |= TE_GLOBAL
        c.tlb_any_global = 1
    if flags & TE_LARGE:
        c.tlb_any_large = 1
    # fill (an empty entry is logged, so that a flush touches only what was filled)
    e = tlb_ent(c, lin, user)
    if e.tag[0] & TLB_INVALID:
        if c.tlb_log_n < 2 * c.tlb_n:
            c.tlb_log[c.tlb_log_n] = <u32>(e - c.tlb)
            c.tlb_log_n += 1
        else:
            c.tlb_log_full = 1
    e.lin = page
    e.pa = ppage
    e.flags = flags
    e.addend = <size_t>c.ram + ppage - page
    if ppage >= c.ram_size:
        e.tag[0] = page | TLB_SLOW
        e.tag[2] = page | TLB_SLOW
        e.tag[1] = (page | TLB_SLOW) if wok else 0xFFFFFFFFU
    else:
        e.tag[0] = page
        e.tag[2] = page
        if wok and (pte & PTE_D):
            if c.code_map[ppage >> 12]:
                e.tag[1] = page | TLB_SLOW
            else:
                e.tag[1] = page
                c.tlb_wmap[ppage >> 12] = 1
        else:
            e.tag[1] = 0xFFFFFFFFU
    pa[0] = ppage | (lin & 0xFFF)
    return 0


cdef int tlb_xlate(CtxC* c, u32 lin, int kind, int user, u32* pa) noexcept nogil:
    """lin -> physical through the TLB, walking on a miss: 0 or a fault status.
    A marked tag counts as a hit here (the caller does the slow access)."""
    cdef TlbEntryC* e = tlb_ent(c, lin, user)
    cdef u32 t = e.tag[kind]
    if not (t & TLB_INVALID) and (t & 0xFFFFF000U) == (lin & 0xFFFFF000U):
        if (t & TLB_SLOW) and kind == TK_W and e.pa < c.ram_size and not c.code_map[e.pa >> 12]:
            # the page's translated code is gone: writes may take the fast path again
            e.tag[1] = t & ~(<u32>TLB_SLOW)
            c.tlb_wmap[e.pa >> 12] = 1
        c.tlb_slow[kind] += 1
        pa[0] = e.pa | (lin & 0xFFF)
        return 0
    c.tlb_misses[kind] += 1
    return tlb_walk(c, lin, kind, user, pa)


cdef inline int tlb_fetch(CtxC* c, u32 lin, u32* pa) noexcept nogil:
    """Physical address of an instruction byte at lin (paging on): fetch tags."""
    cdef int user = cur_user(c)
    cdef TlbEntryC* e = tlb_ent(c, lin, user)
    if e.tag[2] == (lin & 0xFFFFF000U):
        c.tlb_hits[2] += 1
        pa[0] = e.pa | (lin & 0xFFF)
        return 0
    return tlb_xlate(c, lin, TK_X, user, pa)


cdef int phys_rd(CtxC* c, u32 pa, int size, u32* v) noexcept nogil:
    if pa <= c.ram_size - <u32>size:
        v[0] = load_n(c.ram + pa, size)
        return 0
    return mmio_access(c, pa, size, 0, v)


cdef int phys_wr(CtxC* c, u32 pa, int size, u32 v) noexcept nogil:
    if pa <= c.ram_size - <u32>size:
        store_n(c.ram + pa, size, v)
        if c.code_map[pa >> 12] | c.code_map[(pa + <u32>size - 1) >> 12]:
            code_write_check(c, pa, size)
        return 0
    return mmio_access(c, pa, size, 1, &v)


cdef int tlb_rd_slow(CtxC* c, u32 lin, int size, u32* v, int user) noexcept nogil:
    """A read the TLB's fast path did not take: a miss, a marked page, or an
    access that crosses into the next page (both pages translated first)."""
    cdef u32 pa, pa2, n1, i, b, r = 0
    cdef int st
    st = tlb_xlate(c, lin, TK_R, user, &pa)
    if st:
        return st
    if (lin & 0xFFF) + <u32>size <= 0x1000:
        return phys_rd(c, pa, size, v)
    n1 = 0x1000 - (lin & 0xFFF)
    st = tlb_xlate(c, lin + n1, TK_R, user, &pa2)
    if st:
        return st
    for i in range(<u32>size):
        st = phys_rd(c, (pa + i) if i < n1 else (pa2 + i - n1), 1, &b)
        if st:
            return st
        r |= (b & 0xFF) << (8 * i)
    v[0] = r
    return 0


cdef int tlb_wr_slow(CtxC* c, u32 lin, int size, u32 v, int user) noexcept nogil:
    """A write the fast path did not take.  A page-crossing write translates
    both pages before it writes a byte: a fault on the second leaves memory as it was."""
    cdef u32 pa, pa2, n1, i
    cdef int st
    st = tlb_xlate(c, lin, TK_W, user, &pa)
    if st:
        return st
    if (lin & 0xFFF) + <u32>size <= 0x1000:
        return phys_wr(c, pa, size, v)
    n1 = 0x1000 - (lin & 0xFFF)
    st = tlb_xlate(c, lin + n1, TK_W, user, &pa2)
    if st:
        return st
    for i in range(<u32>size):
        st = phys_wr(c, (pa + i) if i < n1 else (pa2 + i - n1), 1, (v >> (8 * i)) & 0xFF)
        if st:
            return st
    return 0


cdef int tlb_probe_w(CtxC* c, u32 lin, u32 size, int user) noexcept nogil:
    """Would a write of size bytes (at most two pages) at lin succeed?  Faults
    as the write would; sets A/D as the write will."""
    cdef u32 pa, pa2
    cdef int st = tlb_xlate(c, lin, TK_W, user, &pa)
    if st:
        return st
    if ((lin ^ (lin + size - 1)) & 0xFFFFF000U) != 0:
        st = tlb_xlate(c, lin + size - 1, TK_W, user, &pa2)
        if st:
            return st
        if pa2 >= c.ram_size and not c.mmio_enabled:
            return bad_mem(c, pa2, 1)
    if pa >= c.ram_size and not c.mmio_enabled:
        return bad_mem(c, pa, size)
    return 0


# ---------------------------------------------------------------- flushes
# Every flush drops the jump cache (it maps linear EIP to blocks) and ends the
# running block (c.smc), so that no chain is followed across it.

cdef void tlb_flush_all(CtxC* c) noexcept nogil:
    """CR0.PG/WP, CR4.PSE/PGE/PAE changes: every entry, global ones too."""
    cdef u32 i
    if c.tlb_log_full:
        memset(c.tlb, 0xFF, 2 * <size_t>c.tlb_n * sizeof(TlbEntryC))
    else:
        for i in range(c.tlb_log_n):
            tlb_inval(&c.tlb[c.tlb_log[i]])
    c.tlb_log_n = 0
    c.tlb_log_full = 0
    c.tlb_any_global = 0
    c.tlb_any_large = 0
    c.tlb_flushes += 1
    c.jc_epoch += 1
    c.smc = 1


cdef void tlb_flush_nonglobal(CtxC* c) noexcept nogil:
    """A CR3 write: every entry but the global ones (CR4.PGE and G)."""
    cdef u32 i, k = 0, n = 2 * c.tlb_n
    cdef TlbEntryC* e
    cdef int large = 0
    if not c.tlb_any_global:
        tlb_flush_all(c)
        c.tlb_flushes -= 1
    elif c.tlb_log_full:
        c.tlb_log_n = 0
        c.tlb_log_full = 0
        for i in range(n):
            e = &c.tlb[i]
            if not (e.flags & TE_GLOBAL):
                tlb_inval(e)
            elif not (e.tag[0] & TLB_INVALID):
                large |= e.flags & TE_LARGE
                c.tlb_log[c.tlb_log_n] = i
                c.tlb_log_n += 1
        c.tlb_any_large = large != 0
    else:
        # the filled entries only; the global ones stay (and stay logged)
        for i in range(c.tlb_log_n):
            e = &c.tlb[c.tlb_log[i]]
            if e.tag[0] & TLB_INVALID:
                continue
            if not (e.flags & TE_GLOBAL):
                tlb_inval(e)
            else:
                large |= e.flags & TE_LARGE
                c.tlb_log[k] = c.tlb_log[i]
                k += 1
        c.tlb_log_n = k
        c.tlb_any_large = large != 0
    c.tlb_flushes_cr3 += 1
    c.jc_epoch += 1
    c.smc = 1


cdef void tlb_flush_page(CtxC* c, u32 lin) noexcept nogil:
    """INVLPG lin: the page's entries (global or not) in both tables; when lin
    lies in a 4 MiB page, all the pieces cached of that page."""
    cdef u32 i, n = 2 * c.tlb_n
    cdef TlbEntryC* e
    tlb_inval(tlb_ent(c, lin, 0))
    tlb_inval(tlb_ent(c, lin, 1))
    if c.tlb_any_large:
        for i in range(n):
            e = &c.tlb[i]
            if (e.flags & TE_LARGE) and ((e.lin ^ lin) >> 22) == 0:
                tlb_inval(e)
    c.tlb_invlpg += 1
    c.jc_epoch += 1
    c.smc = 1


cdef void tlb_code_page(CtxC* c, u32 page) noexcept nogil:
    """Physical page became a code page (code_map set): every fast write tag
    that points at it must go to the slow path from now on."""
    cdef u32 i, n = 2 * c.tlb_n, pa = page << 12
    cdef TlbEntryC* e
    if not c.tlb_wmap[page]:
        return
    c.tlb_wmap[page] = 0
    c.tlb_code_scans += 1
    if not c.tlb_log_full:
        n = c.tlb_log_n          # only filled entries can point there
    for i in range(n):
        e = &c.tlb[c.tlb_log[i]] if not c.tlb_log_full else &c.tlb[i]
        if e.pa == pa and not (e.tag[1] & TLB_INVALID):
            e.tag[1] |= TLB_SLOW


cdef int tlb_peek(CtxC* c, u32 lin, u32* pa) noexcept nogil:
    """The guest's translation of lin, without side effects (no A/D, no TLB fill,
    no fault): 0 and pa, or 1 when not mapped (or the tables lie outside RAM)."""
    cdef u32 pde_addr = (c.cpu.cr[3] & 0xFFFFF000U) | ((lin >> 20) & 0xFFC)
    cdef u32 pde, pte, pte_addr
    if not paging_on(c):
        pa[0] = lin
        return 0
    if pde_addr > c.ram_size - 4:
        return 1
    pde = ld32(c.ram + pde_addr)
    if not (pde & PTE_P):
        return 1
    if (pde & PTE_PS) and (c.cpu.cr[4] & CR4_PSE):
        if pde & 0x3FE000:
            return 1
        pa[0] = (pde & 0xFFC00000U) | (lin & 0x3FFFFF)
        return 0
    pte_addr = (pde & 0xFFFFF000U) | ((lin >> 10) & 0xFFC)
    if pte_addr > c.ram_size - 4:
        return 1
    pte = ld32(c.ram + pte_addr)
    if not (pte & PTE_P):
        return 1
    pa[0] = (pte & 0xFFFFF000U) | (lin & 0xFFF)
    return 0
