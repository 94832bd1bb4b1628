# The `native` strategy: translated blocks compiled to x86-64 machine code.
#
# A cached block whose leading instructions are all in a supported subset gets
# native code for that prefix, written into an executable buffer owned by the
# CtxC.  The code is a C function  u32 f(CtxC* c)  that returns k, the number
# of guest instructions it completed:
#
#   k == b.ninsns  the whole block ran, including its final JMP/Jcc or the
#                  fall-through, and c.cpu.eip is the next EIP;
#   k <  b.ninsns  instructions 0..k-1 ran and the guest state (registers,
#                  EFLAGS, memory) is exactly the state after them; the loop
#                  runs the block's micro-ops from k on.  This is how an
#                  unsupported instruction ends the native prefix, and how a
#                  run-time check that fails (an address outside RAM, a store to
#                  a page holding translated code, a segment that is not flat)
#                  hands the instruction to the micro-ops, which do everything
#                  right (MMIO, self-modifying code, faults).
#
# Machine model of the generated code: rdi = c (CtxC*: c.cpu.regs at offset 0,
# so guest register r is the dword at [rdi + 4r] and AH..BH the byte above),
# rsi = the RAM base, r8 = c.code_map, rax/rcx/rdx scratch.  The guest's
# memory operand's effective address is computed into edx with flag-neutral
# MOV/LEA, so a guest operand is either [rdi + 4r] or [rsi + rdx].
#
# Guest ALU instructions are copied as host instructions on these operands, so
# the host computes the guest's arithmetic flags.  The compiler tracks where the
# guest's flags live (NatEmit.hv: the flag bits the host RFLAGS holds for the
# guest; NatEmit.dirty: the bits c.cpu.eflags does not hold yet) and syncs them
# into c.cpu.eflags (PUSHFQ + merge) before anything that clobbers the host
# flags or can leave the block; bits the guest defines as 0 but the host leaves
# undefined (AF after logic ops, OF after multi-bit shifts) are in dirty but not
# in hv: a sync writes them as 0.  A reader (Jcc, SETcc, CMOVcc, ADC/SBB) whose
# flags the host does not hold reloads them from c.cpu.eflags (SAHF, and OF
# through an ADD that overflows or not).
#
# Paging on (mode bit 4 at compile time): a memory operand probes the software
# TLB inline instead (e_probe: r9 = the TLB table of the block's privilege, the
# CPL being part of the block's mode; rsi = the hit entry's addend, so the
# operand is still [rsi + rdx]); r10/r11 count read/write hits, added to
# c.tlb_hits on every return.  A miss, a marked (slow) tag or a page-crossing
# access returns k: the micro-op walks, faults or does the slow access.
#
# Native links: a block's static exit (JMP, Jcc either way, fall-through, CALL)
# reads the block's link[idx] (set by run_loop under its chain rules) and a RET
# probes run_loop's jump cache for the new EIP; when the successor has native
# code and nothing asks run_loop to look (e_link_tail: stop request, interrupt
# the guest can take, graveyard, CS limit, the budget c.nat_budget), the code
# jumps straight into the successor's: c.beip is its EIP, c.nat_blk the block,
# c.nat_chained the instructions retired before it, and the returned k counts in
# c.nat_blk.  Only native code runs in between, and it never drops blocks,
# changes the mode, IF or the TLB, so what run_loop checks between blocks holds.
#
# Scope today: 32-bit code (CS.D=1), no alignment checking (the mode bits say
# so at compile time); data segments must be flat (checked at entry); no
# prefixes.  See native_ok() for the instruction forms.

cdef extern from "<sys/mman.h>" nogil:
    void* mmap(void* addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void* addr, size_t length)
    int PROT_READ
    int PROT_WRITE
    int PROT_EXEC
    int MAP_PRIVATE
    int MAP_ANONYMOUS
    void* MAP_FAILED

ctypedef u32 (*natfn_t)(CtxC* c) noexcept nogil

cdef enum:
    NAT_BUF_DEFAULT = 16 << 20   # bytes of code before a full flush
    NAT_BLOCK_ROOM = 8192        # a block's code never needs more (64 insns)
    NAT_MAX_FIX = 512
    NL_REG = 0                   # operand location kinds: [rdi + disp8]
    NL_MEM = 1                   #                         [rsi + rdx]
    NAT_SZP = F_SF | F_ZF | F_PF


ctypedef struct NatEmit:
    u8* p
    u8* start
    u8* end
    int err
    u32 hv              # flag bits the host RFLAGS holds for the guest
    u32 dirty           # flag bits c.cpu.eflags does not hold yet
    int nfix
    u32 fix_pos[NAT_MAX_FIX]    # offsets (from start) of rel32 fields to a bail stub
    u8 fix_k[NAT_MAX_FIX]       # ... returning k
    u32 o_ef
    u32 o_eip
    u32 o_beip
    u32 o_ram
    u32 o_cmap
    u32 o_cslim
    u32 o_seg
    u32 o_exitk
    u32 ram_size
    int paging          # compiled for CR0.PG=1: memory operands probe the TLB
    int counts          # r10/r11 count TLB read/write hits (added to c.tlb_hits on return)
    u32 tlb_imask       # (c.tlb_mask << shift): the entry's byte offset from lin >> (12 - shift)
    u32 tlb_shift       # log2(sizeof(TlbEntryC))
    u32 o_tlbtab        # &c.tlb_tab[user] (user: the block's CPL is 3)
    u32 o_hits
    u32 o_addend        # offsets in TlbEntryC
    size_t blk          # the BlockC* being compiled (its link[] is read at run time)
    int links           # emit native links at the static exits
    u32 o_budget
    u32 o_chained
    u32 o_natblk
    u32 o_linkhits
    u32 o_retlinkhits
    u32 o_grave
    u32 o_stop
    u32 o_irq
    u32 o_csbase
    u32 o_jc
    u32 o_jcepoch
    u32 jc_mask
    u32 jc_size
    u32 oj_lin          # offsets in JcEntryC
    u32 oj_mode
    u32 oj_epoch
    u32 oj_b
    u32 mode            # the block's mode
    u32 ob_link         # offsets in BlockC
    u32 ob_native
    u32 ob_ninsns


cdef int native_init(CtxC* c, size_t size) noexcept nogil:
    """Map the code buffer (read, write, execute).  0, or -1 when the host refuses
    executable memory: native stays off and every block runs its micro-ops."""
    cdef void* p
    if c.nat_buf != NULL:
        return 0
    p = mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if p == MAP_FAILED:
        return -1
    c.nat_buf = <u8*>p
    c.nat_size = size
    c.nat_used = 0
    c.nat_full = 0
    return 0


cdef void native_free(CtxC* c) noexcept nogil:
    if c.nat_buf != NULL:
        munmap(c.nat_buf, c.nat_size)
        c.nat_buf = NULL


cdef inline void native_reset(CtxC* c) noexcept nogil:
    # every block is gone (flush_all): the buffer starts over
    if c.nat_used:
        c.nat_resets += 1
    c.nat_used = 0
    c.nat_full = 0


# ---------------------------------------------------------------- emitter

cdef inline void eb(NatEmit* e, u32 v) noexcept nogil:
    if e.p < e.end:
        e.p[0] = <u8>v
        e.p += 1
    else:
        e.err = 1


cdef inline void ed(NatEmit* e, u32 v) noexcept nogil:
    eb(e, v)
    eb(e, v >> 8)
    eb(e, v >> 16)
    eb(e, v >> 24)


cdef inline void m_ctx(NatEmit* e, int regf, u32 off) noexcept nogil:
    # ModRM for [rdi + disp32]
    eb(e, 0x80 | (regf << 3) | 7)
    ed(e, off)


cdef inline void m_loc(NatEmit* e, int regf, int kind, u32 disp) noexcept nogil:
    if kind == NL_REG:
        eb(e, 0x40 | (regf << 3) | 7)     # [rdi + disp8]
        eb(e, disp)
    else:
        eb(e, 0x04 | (regf << 3))         # [rsi + rdx]
        eb(e, 0x16)


cdef inline u32 greg_disp(int r, int size) noexcept nogil:
    # where guest register r of this size lives in CpuStateC.regs
    if size == 1 and r >= 4:
        return 4 * (r - 4) + 1
    return 4 * r


cdef inline void e_ret_k(NatEmit* e, u32 k) noexcept nogil:
    if e.counts:
        eb(e, 0x4C); eb(e, 0x01); m_ctx(e, 2, e.o_hits)       # add [rdi+tlb_hits[0]], r10
        eb(e, 0x4C); eb(e, 0x01); m_ctx(e, 3, e.o_hits + 8)   # add [rdi+tlb_hits[1]], r11
    eb(e, 0xB8)          # mov eax, k
    ed(e, k)
    eb(e, 0xC3)          # ret


cdef inline void e_bail(NatEmit* e, int jcc, u32 k) noexcept nogil:
    # jcc rel32 (jcc = 0x0F8x) or jmp rel32 (jcc = 0xE9) to the stub returning k
    if jcc == 0xE9:
        eb(e, 0xE9)
    else:
        eb(e, 0x0F)
        eb(e, jcc & 0xFF)
    if e.nfix < NAT_MAX_FIX:
        e.fix_pos[e.nfix] = <u32>(e.p - e.start)
        e.fix_k[e.nfix] = <u8>k
        e.nfix += 1
    else:
        e.err = 1
    ed(e, 0)


cdef void e_sync(NatEmit* e) noexcept nogil:
    """Merge the dirty flag bits into c.cpu.eflags (clobbers rax and the host flags)."""
    cdef u32 keep = e.dirty & e.hv
    if e.dirty:
        if keep:
            eb(e, 0x9C)                  # pushfq
            eb(e, 0x58)                  # pop rax
            eb(e, 0x25)                  # and eax, keep
            ed(e, keep)
        eb(e, 0x81)                      # and dword [rdi+ef], ~dirty
        m_ctx(e, 4, e.o_ef)
        ed(e, ~e.dirty)
        if keep:
            eb(e, 0x09)                  # or [rdi+ef], eax
            m_ctx(e, 0, e.o_ef)
    e.dirty = 0
    e.hv = 0


cdef void e_load_flags(NatEmit* e) noexcept nogil:
    """Host RFLAGS <- the guest's six arithmetic flags (after a sync)."""
    eb(e, 0x8B)                          # mov eax, [rdi+ef]
    m_ctx(e, 0, e.o_ef)
    eb(e, 0x89); eb(e, 0xC1)             # mov ecx, eax
    eb(e, 0xC1); eb(e, 0xE9); eb(e, 11)  # shr ecx, 11
    eb(e, 0x83); eb(e, 0xE1); eb(e, 1)   # and ecx, 1
    eb(e, 0x80); eb(e, 0xC1); eb(e, 0x7F)  # add cl, 0x7f: OF = guest OF
    eb(e, 0x88); eb(e, 0xC4)             # mov ah, al
    eb(e, 0x9E)                          # sahf: SF ZF AF PF CF
    e.hv = F_ARITH
    e.dirty = 0


cdef inline u32 cc_reads(int cc) noexcept nogil:
    cdef int k = cc >> 1
    if k == 0:
        return F_OF
    if k == 1:
        return F_CF
    if k == 2:
        return F_ZF
    if k == 3:
        return F_CF | F_ZF
    if k == 4:
        return F_SF
    if k == 5:
        return F_PF
    if k == 6:
        return F_SF | F_OF
    return F_ZF | F_SF | F_OF


cdef inline void e_need(NatEmit* e, u32 bits) noexcept nogil:
    # the next host instruction reads these guest flags from the host RFLAGS
    if bits & ~e.hv:
        e_sync(e)
        e_load_flags(e)


cdef inline void e_exit_k(NatEmit* e, u32 idx) noexcept nogil:
    # c.exit_k = idx: the static exit taken (0 target, 1 fall-through), for chaining
    eb(e, 0xC7)                          # mov dword [rdi+exit_k], idx
    m_ctx(e, 0, e.o_exitk)
    ed(e, idx)


cdef inline void e_jfix(NatEmit* e, u32* fx, int* nfx, int jcc) noexcept nogil:
    # a forward jcc/jmp rel32 to a local label patched by e_jlabel
    if jcc == 0xE9:
        eb(e, 0xE9)
    else:
        eb(e, 0x0F)
        eb(e, jcc & 0xFF)
    fx[nfx[0]] = <u32>(e.p - e.start)
    nfx[0] += 1
    ed(e, 0)


cdef inline void e_jlabel(NatEmit* e, u32* fx, int nfx) noexcept nogil:
    cdef int j
    cdef i32 rel
    if e.err:
        return
    for j in range(nfx):
        rel = <i32>((e.p - e.start) - (fx[j] + 4))
        memcpy(e.start + fx[j], &rel, 4)


cdef void e_link_tail(NatEmit* e, u32* fx, int* nfx, u32 n, int dyn, u32 delta) noexcept nogil:
    # rax = the successor (BlockC*, or NULL): it needs native code, and nothing
    # may ask the loop to look (no stop request, no interrupt the guest can take,
    # no dropped blocks waiting, a 4 GiB CS); the budget (c.nat_budget) must cover
    # its instructions.  Then c.nat_chained += n, c.beip = its EIP (beip + delta,
    # or r9d when dyn), c.nat_blk = it, and jump into its code.
    eb(e, 0x48); eb(e, 0x85); eb(e, 0xC0)            # test rax, rax
    e_jfix(e, fx, nfx, 0x0F84)                       # jz out
    eb(e, 0x48); eb(e, 0x8B); eb(e, 0x88); ed(e, e.ob_native)   # mov rcx, [rax+native]
    eb(e, 0x48); eb(e, 0x85); eb(e, 0xC9)            # test rcx, rcx
    e_jfix(e, fx, nfx, 0x0F84)                       # jz out
    eb(e, 0x48); eb(e, 0x83); m_ctx(e, 7, e.o_grave); eb(e, 0)   # cmp qword [graveyard], 0
    e_jfix(e, fx, nfx, 0x0F85)
    eb(e, 0x83); m_ctx(e, 7, e.o_stop); eb(e, 0)     # cmp dword [stop_request], 0
    e_jfix(e, fx, nfx, 0x0F85)
    eb(e, 0x83); m_ctx(e, 7, e.o_irq); eb(e, 0)      # cmp dword [irq_line], 0
    eb(e, 0x74); eb(e, 13)                           # je over the IF test (7 + 6 bytes)
    eb(e, 0xF6); m_ctx(e, 0, e.o_ef + 1); eb(e, F_IF >> 8)   # test byte [eflags+1], IF
    e_jfix(e, fx, nfx, 0x0F85)                       # jnz out
    eb(e, 0x83); m_ctx(e, 7, e.o_cslim); eb(e, 0xFF) # cmp dword [cs.limit], -1
    e_jfix(e, fx, nfx, 0x0F85)
    eb(e, 0x8B); m_ctx(e, 2, e.o_budget)             # mov edx, [budget]
    eb(e, 0x2B); eb(e, 0x90); ed(e, e.ob_ninsns)     # sub edx, [rax+ninsns]
    e_jfix(e, fx, nfx, 0x0F82)                       # jb out
    eb(e, 0x89); m_ctx(e, 2, e.o_budget)             # mov [budget], edx
    eb(e, 0x81); m_ctx(e, 0, e.o_chained); ed(e, n)  # add dword [chained], n
    if dyn:
        eb(e, 0x44); eb(e, 0x89); m_ctx(e, 1, e.o_beip)       # mov [beip], r9d
        eb(e, 0x48); eb(e, 0x83); m_ctx(e, 0, e.o_retlinkhits); eb(e, 1)   # add qword [ret_link_hits], 1
    else:
        eb(e, 0x81); m_ctx(e, 0, e.o_beip); ed(e, delta)      # add dword [beip], delta
        eb(e, 0x48); eb(e, 0x83); m_ctx(e, 0, e.o_linkhits); eb(e, 1)       # add qword [link_hits], 1
    eb(e, 0x48); eb(e, 0x89); m_ctx(e, 0, e.o_natblk)        # mov [nat_blk], rax
    if e.counts:
        eb(e, 0x4C); eb(e, 0x01); m_ctx(e, 2, e.o_hits)       # add [tlb_hits[0]], r10
        eb(e, 0x4C); eb(e, 0x01); m_ctx(e, 3, e.o_hits + 8)   # add [tlb_hits[1]], r11
    eb(e, 0xFF); eb(e, 0xE1)                         # jmp rcx


cdef void e_link(NatEmit* e, u32 idx, u32 delta, u32 n) noexcept nogil:
    """A native link at static exit idx (the guest flags already synced): when
    the block's link[idx] (set by run_loop under its chain rules: same page, same
    mode; cleared when the successor is dropped) has native code, and nothing
    asks the loop to look (e_link_tail), jump into its code.  Else fall through
    to the exit to run_loop."""
    cdef u32 fx[12]
    cdef int nfx = 0
    cdef u64 a
    if not e.links:
        return
    a = <u64>e.blk + e.ob_link + 8 * idx
    eb(e, 0x48); eb(e, 0xB8)                         # mov rax, &b.link[idx]
    ed(e, <u32>a); ed(e, <u32>(a >> 32))
    eb(e, 0x48); eb(e, 0x8B); eb(e, 0x00)            # mov rax, [rax]
    e_link_tail(e, fx, &nfx, n, 0, delta)
    e_jlabel(e, fx, nfx)


cdef void e_link_ret(NatEmit* e, u32 n) noexcept nogil:
    """The same after a RET (eax = the new EIP, already in c.cpu.eip): the
    successor comes from run_loop's jump cache (valid while its epoch is
    c.jc_epoch, for this linear EIP and the block's mode), as run_loop finds it."""
    cdef u32 fx[16]
    cdef int nfx = 0
    if not e.links:
        return
    eb(e, 0x41); eb(e, 0x89); eb(e, 0xC1)            # mov r9d, eax (the EIP)
    eb(e, 0x3D); ed(e, 0xFFFFF000U)                  # cmp eax, 0xfffff000 (run_loop's overrun rule)
    e_jfix(e, fx, &nfx, 0x0F87)                      # ja out
    eb(e, 0x89); eb(e, 0xC1)                         # mov ecx, eax
    eb(e, 0x03); m_ctx(e, 1, e.o_csbase)             # add ecx, [cs.base]: linear EIP
    eb(e, 0x89); eb(e, 0xCA)                         # mov edx, ecx
    eb(e, 0x81); eb(e, 0xE2); ed(e, e.jc_mask)       # and edx, jc mask
    eb(e, 0x69); eb(e, 0xD2); ed(e, e.jc_size)       # imul edx, edx, sizeof(JcEntryC)
    eb(e, 0x48); eb(e, 0x03); m_ctx(e, 2, e.o_jc)    # add rdx, [c.jc]
    eb(e, 0x3B); eb(e, 0x4A); eb(e, e.oj_lin)        # cmp ecx, [rdx+lin]
    e_jfix(e, fx, &nfx, 0x0F85)
    eb(e, 0x81); eb(e, 0x7A); eb(e, e.oj_mode); ed(e, e.mode)   # cmp dword [rdx+mode], mode
    e_jfix(e, fx, &nfx, 0x0F85)
    eb(e, 0x48); eb(e, 0x8B); eb(e, 0x4A); eb(e, e.oj_epoch)    # mov rcx, [rdx+epoch]
    eb(e, 0x48); eb(e, 0x3B); m_ctx(e, 1, e.o_jcepoch)          # cmp rcx, [c.jc_epoch]
    e_jfix(e, fx, &nfx, 0x0F85)
    eb(e, 0x48); eb(e, 0x8B); eb(e, 0x42); eb(e, e.oj_b)        # mov rax, [rdx+b]
    e_link_tail(e, fx, &nfx, n, 1, 0)
    e_jlabel(e, fx, nfx)


cdef void e_exit(NatEmit* e, u32 delta, u32 n, u32 idx) noexcept nogil:
    # leave the block through static exit idx: EIP = block EIP + delta, n instructions done
    e_sync(e)
    e_link(e, idx, delta, n)
    e_exit_k(e, idx)
    eb(e, 0x8B)                          # mov eax, [rdi+beip]
    m_ctx(e, 0, e.o_beip)
    eb(e, 0x05)                          # add eax, delta
    ed(e, delta)
    eb(e, 0x89)                          # mov [rdi+eip], eax
    m_ctx(e, 0, e.o_eip)
    e_ret_k(e, n)


cdef void e_ea(NatEmit* e, InsnC* d) noexcept nogil:
    # edx = the effective address (32-bit wrap), without touching the flags
    cdef int s = d.scale
    if d.base != REG_NONE:
        eb(e, 0x8B); eb(e, 0x57); eb(e, 4 * d.base)      # mov edx, [rdi+4b]
    if d.index != REG_NONE:
        eb(e, 0x8B); eb(e, 0x4F); eb(e, 4 * d.index)     # mov ecx, [rdi+4i]
    if d.base != REG_NONE and d.index != REG_NONE:
        eb(e, 0x8D); eb(e, 0x94); eb(e, (s << 6) | 0x0A)  # lea edx, [rdx+rcx*s+disp32]
        ed(e, d.disp)
    elif d.base != REG_NONE:
        if d.disp:
            eb(e, 0x8D); eb(e, 0x92)                       # lea edx, [rdx+disp32]
            ed(e, d.disp)
    elif d.index != REG_NONE:
        eb(e, 0x8D); eb(e, 0x14); eb(e, (s << 6) | 0x0D)  # lea edx, [rcx*s+disp32]
        ed(e, d.disp)
    else:
        eb(e, 0xBA)                                        # mov edx, disp32
        ed(e, d.disp)


cdef void e_probe(NatEmit* e, int size, int write, u32 k) noexcept nogil:
    # Paging on: the software TLB's fast path inline, as rptr()/wptr() take it.
    # The entry of the access's first byte (r9 = the table of the block's
    # privilege) must have its read (write) tag equal to the page of the access's
    # last byte: a hit, on one page (a fast write tag never names a page holding
    # translated code, nor a page outside RAM: tlb.pxi).  Then rsi = the entry's
    # addend, so that [rsi + rdx] is the host address.  Else return k: the
    # micro-op walks, faults (#PF with CR2) or fills the TLB.
    eb(e, 0x89); eb(e, 0xD0)                         # mov eax, edx
    eb(e, 0xC1); eb(e, 0xE8); eb(e, 12 - e.tlb_shift)  # shr eax, 12 - shift
    eb(e, 0x25); ed(e, e.tlb_imask)                  # and eax, mask << shift
    if size > 1:
        eb(e, 0x8D); eb(e, 0x4A); eb(e, size - 1)    # lea ecx, [rdx+size-1]
    else:
        eb(e, 0x89); eb(e, 0xD1)                     # mov ecx, edx
    eb(e, 0x81); eb(e, 0xE1); ed(e, 0xFFFFF000U)     # and ecx, ~0xfff
    eb(e, 0x41); eb(e, 0x3B); eb(e, 0x4C); eb(e, 0x01); eb(e, 4 * write)  # cmp ecx, [r9+rax+tag]
    e_bail(e, 0x0F85, k)                             # jne bail
    eb(e, 0x49); eb(e, 0x8B); eb(e, 0x74); eb(e, 0x01); eb(e, e.o_addend)  # mov rsi, [r9+rax+addend]
    if write:
        eb(e, 0x4D); eb(e, 0x8D); eb(e, 0x5B); eb(e, 1)   # lea r11, [r11+1]: a write hit
    else:
        eb(e, 0x4D); eb(e, 0x8D); eb(e, 0x52); eb(e, 1)   # lea r10, [r10+1]: a read hit


cdef void e_check(NatEmit* e, int size, int write, u32 k) noexcept nogil:
    # the access of size bytes at edx must lie in RAM (and, for a write, on pages
    # without translated code): else return k, the micro-op does it
    if e.paging:
        e_probe(e, size, write, k)
        return
    eb(e, 0x81); eb(e, 0xFA)             # cmp edx, ram_size - size
    ed(e, e.ram_size - <u32>size)
    e_bail(e, 0x0F87, k)                 # ja bail
    if write:
        eb(e, 0x89); eb(e, 0xD0)         # mov eax, edx
        eb(e, 0xC1); eb(e, 0xE8); eb(e, 12)  # shr eax, 12
        eb(e, 0x41); eb(e, 0x80); eb(e, 0x3C); eb(e, 0x00); eb(e, 0x00)  # cmp byte [r8+rax], 0
        e_bail(e, 0x0F85, k)             # jne bail
        if size > 1:
            eb(e, 0x8D); eb(e, 0x42); eb(e, size - 1)      # lea eax, [rdx+size-1]
            eb(e, 0xC1); eb(e, 0xE8); eb(e, 12)
            eb(e, 0x41); eb(e, 0x80); eb(e, 0x3C); eb(e, 0x00); eb(e, 0x00)
            e_bail(e, 0x0F85, k)


cdef inline void e_op_loc(NatEmit* e, u32 opc, int size, int regf, int kind, u32 disp) noexcept nogil:
    # one host instruction: opc is the dword form's opcode; size 1 uses opc - 1
    # (true for the ALU, TEST, MOV, INC/DEC/NEG/NOT groups)
    eb(e, opc - 1 if size == 1 else opc)
    m_loc(e, regf, kind, disp)


# ---------------------------------------------------------------- the subset

cdef inline bint nat_simple_op(OperandC* q) noexcept nogil:
    # a register (8 or 32 bit) or the memory operand
    if q.kind == OK_REG:
        return q.size == 4 or q.size == 1
    return q.kind == OK_MEM and (q.size == 4 or q.size == 1)


cdef bint native_ok(InsnC* d, bint last) noexcept nogil:
    """Is this instruction in the native subset (operand forms, no prefixes)?"""
    cdef int op = d.op
    cdef int k0 = d.ops[0].kind, k1 = d.ops[1].kind
    cdef int s0 = d.ops[0].size
    if op == OP_NOP:
        return True
    if d.prefix & ~(<int>PF_SEGOVR):
        return False
    if d.asz != 4 or d.osz != 4:
        return False
    if op == OP_JCC or op == OP_JMP or op == OP_CALL:
        return last
    if op == OP_RET:
        return last and d.nops == 0
    if op == OP_PUSH:
        return d.nops == 1 and ((k0 == OK_REG and s0 == 4 and d.ops[0].reg != 4) or k0 == OK_IMM)
    if op == OP_POP:
        return d.nops == 1 and k0 == OK_REG and s0 == 4 and d.ops[0].reg != 4
    if op >= OP_ADD and op <= OP_TEST or op == OP_MOV:
        if d.nops != 2 or not nat_simple_op(&d.ops[0]):
            return False
        if k1 == OK_IMM:
            return True
        if not nat_simple_op(&d.ops[1]) or d.ops[1].size != s0:
            return False
        return not (k0 == OK_MEM and k1 == OK_MEM)
    if op == OP_INC or op == OP_DEC or op == OP_NEG or op == OP_NOT:
        return d.nops == 1 and nat_simple_op(&d.ops[0])
    if op == OP_SHL or op == OP_SHR or op == OP_SAR:
        return d.nops == 2 and k0 == OK_REG and s0 == 4 and k1 == OK_IMM and (d.ops[1].imm & 31) != 0
    if op == OP_IMUL:
        return k0 == OK_REG and s0 == 4 and (k1 == OK_REG or k1 == OK_MEM) and d.ops[1].size == 4 and \
            (d.nops == 2 or (d.nops == 3 and d.ops[2].kind == OK_IMM))
    if op == OP_MOVZX or op == OP_MOVSX:
        return k0 == OK_REG and s0 == 4 and (k1 == OK_REG or k1 == OK_MEM) and \
            (d.ops[1].size == 1 or d.ops[1].size == 2)
    if op == OP_LEA:
        return k0 == OK_REG and s0 == 4 and k1 == OK_MEM
    if op == OP_SETCC:
        return d.nops == 1 and nat_simple_op(&d.ops[0]) and s0 == 1
    if op == OP_CMOVCC:
        return k0 == OK_REG and k1 == OK_REG and s0 == 4 and d.ops[1].size == 4
    return False


cdef inline bint nat_stack(InsnC* d) noexcept nogil:
    return d.op == OP_PUSH or d.op == OP_POP or d.op == OP_CALL or d.op == OP_RET


cdef inline bint nat_mem(InsnC* d) noexcept nogil:
    # does it access guest memory (and so may hand over to the micro-ops)?
    cdef int i
    if d.op == OP_LEA or d.op == OP_NOP:
        return False
    if nat_stack(d):
        return True
    for i in range(d.nops):
        if d.ops[i].kind == OK_MEM:
            return True
    return False


cdef inline bint nat_writes_mem(InsnC* d) noexcept nogil:
    return d.ops[0].kind == OK_MEM and d.op != OP_CMP and d.op != OP_TEST


cdef void nat_flags(InsnC* d, u32* w, u32* v, u32* r) noexcept nogil:
    """Flag bits written (w), written with the host's value (v ⊆ w; the rest of w
    is 0 for the guest), read (r)."""
    cdef int op = d.op
    cdef u32 n
    w[0] = 0
    v[0] = 0
    r[0] = 0
    if op == OP_ADD or op == OP_SUB or op == OP_CMP or op == OP_NEG:
        w[0] = F_ARITH
        v[0] = F_ARITH
    elif op == OP_ADC or op == OP_SBB:
        w[0] = F_ARITH
        v[0] = F_ARITH
        r[0] = F_CF
    elif op == OP_AND or op == OP_OR or op == OP_XOR or op == OP_TEST:
        w[0] = F_ARITH
        v[0] = F_ARITH & ~(<u32>F_AF)
    elif op == OP_INC or op == OP_DEC:
        w[0] = F_ARITH & ~(<u32>F_CF)
        v[0] = w[0]
    elif op == OP_SHL or op == OP_SHR or op == OP_SAR:
        n = d.ops[1].imm & 31
        w[0] = F_ARITH
        v[0] = F_CF | NAT_SZP
        if n == 1 and op != OP_SAR:
            v[0] |= F_OF
    elif op == OP_IMUL:
        w[0] = F_ARITH
        v[0] = F_CF | F_OF
    elif op == OP_JCC or op == OP_SETCC or op == OP_CMOVCC:
        r[0] = cc_reads(d.cc)


# ---------------------------------------------------------------- code for one instruction

cdef void e_src_eax(NatEmit* e, OperandC* q, int kind) noexcept nogil:
    # eax (al) = a register or memory source operand
    e_op_loc(e, 0x8B, q.size, 0, kind, greg_disp(q.reg, q.size) if kind == NL_REG else 0)


cdef void e_insn(NatEmit* e, UopC* u, u32 k, u32 live_after) noexcept nogil:
    cdef InsnC* d = &u.d
    cdef int op = d.op, size = d.ops[0].size, i
    cdef int k0, kind0, kind1 = NL_REG
    cdef u32 disp0 = 0, w, v, r, imm
    k0 = d.ops[0].kind
    if op == OP_NOP:
        return
    if op == OP_PUSH or op == OP_POP:
        e_sync(e)
        eb(e, 0x8B); eb(e, 0x57); eb(e, 16)              # mov edx, [rdi+esp]
        if op == OP_PUSH:
            eb(e, 0x8D); eb(e, 0x52); eb(e, 0xFC)        # lea edx, [rdx-4]
            e_check(e, 4, 1, k)
            if k0 == OK_IMM:
                eb(e, 0xC7); m_loc(e, 0, NL_MEM, 0)      # mov dword [rsi+rdx], imm
                ed(e, d.ops[0].imm)
            else:
                eb(e, 0x8B); m_loc(e, 0, NL_REG, 4 * d.ops[0].reg)   # mov eax, reg
                eb(e, 0x89); m_loc(e, 0, NL_MEM, 0)                  # mov [rsi+rdx], eax
            eb(e, 0x89); eb(e, 0x57); eb(e, 16)          # mov [rdi+esp], edx
        else:
            e_check(e, 4, 0, k)
            eb(e, 0x8B); m_loc(e, 0, NL_MEM, 0)          # mov eax, [rsi+rdx]
            eb(e, 0x8D); eb(e, 0x52); eb(e, 4)           # lea edx, [rdx+4]
            eb(e, 0x89); eb(e, 0x57); eb(e, 16)          # mov [rdi+esp], edx
            eb(e, 0x89); m_loc(e, 0, NL_REG, 4 * d.ops[0].reg)       # mov reg, eax
        return
    nat_flags(d, &w, &v, &r)
    k0 = d.ops[0].kind
    kind0 = NL_MEM if k0 == OK_MEM else NL_REG
    if k0 == OK_REG:
        disp0 = greg_disp(d.ops[0].reg, size)
    if nat_mem(d):
        # the checks clobber the host flags and may return k: the guest's flags
        # must be in c.cpu.eflags first
        e_sync(e)
        e_ea(e, d)
        for i in range(d.nops):
            if d.ops[i].kind == OK_MEM:
                e_check(e, d.ops[i].size, i == 0 and nat_writes_mem(d), k)
        if e.paging and k0 == OK_MEM and (op == OP_INC or op == OP_DEC or op == OP_NEG or op == OP_NOT or
                                          (size == 1 and op >= OP_ADD and op < OP_CMP)):
            # the micro-ops do these read-modify-writes as a read then a write (a
            # read hit and a write hit; the 32-bit ALU forms' fast handlers take
            # one write hit): the TLB counters stay the same whichever runs them
            eb(e, 0x4D); eb(e, 0x8D); eb(e, 0x52); eb(e, 1)   # lea r10, [r10+1]
        e.hv = 0
    if r:
        e_need(e, r)
    if d.nops > 1 and d.ops[1].kind == OK_MEM:
        kind1 = NL_MEM
    if op == OP_MOV or (op >= OP_ADD and op <= OP_CMP) or op == OP_TEST:
        if d.ops[1].kind == OK_IMM:
            imm = d.ops[1].imm
            if op == OP_MOV:
                e_op_loc(e, 0xC7, size, 0, kind0, disp0)
            elif op == OP_TEST:
                e_op_loc(e, 0xF7, size, 0, kind0, disp0)
            elif size == 4 and <i32>imm == <i32><i8>(imm & 0xFF):
                eb(e, 0x83)
                m_loc(e, op - OP_ADD, kind0, disp0)
                size = 1        # an 8-bit immediate follows
            else:
                e_op_loc(e, 0x81, size, op - OP_ADD, kind0, disp0)
            if size == 1:
                eb(e, imm)
            else:
                ed(e, imm)
        else:
            e_src_eax(e, &d.ops[1], kind1)
            if op == OP_MOV:
                e_op_loc(e, 0x89, size, 0, kind0, disp0)
            elif op == OP_TEST:
                e_op_loc(e, 0x85, size, 0, kind0, disp0)
            else:
                e_op_loc(e, ((op - OP_ADD) << 3) | 1, size, 0, kind0, disp0)
    elif op == OP_INC or op == OP_DEC or op == OP_NEG or op == OP_NOT:
        if op == OP_INC or op == OP_DEC:
            e_op_loc(e, 0xFF, size, 0 if op == OP_INC else 1, kind0, disp0)
        else:
            e_op_loc(e, 0xF7, size, 2 if op == OP_NOT else 3, kind0, disp0)
    elif op == OP_SHL or op == OP_SHR or op == OP_SAR:
        eb(e, 0xC1)
        m_loc(e, 4 if op == OP_SHL else (5 if op == OP_SHR else 7), NL_REG, disp0)
        eb(e, d.ops[1].imm & 31)
    elif op == OP_IMUL:
        if d.nops == 3:
            imm = d.ops[2].imm
            eb(e, 0x69)                  # imul eax, src, imm32
            m_loc(e, 0, kind1, greg_disp(d.ops[1].reg, 4) if kind1 == NL_REG else 0)
            ed(e, imm)
        else:
            eb(e, 0x8B)                  # mov eax, dst
            m_loc(e, 0, NL_REG, disp0)
            eb(e, 0x0F); eb(e, 0xAF)     # imul eax, src
            m_loc(e, 0, kind1, greg_disp(d.ops[1].reg, 4) if kind1 == NL_REG else 0)
        eb(e, 0x89)                      # mov dst, eax
        m_loc(e, 0, NL_REG, disp0)
    elif op == OP_MOVZX or op == OP_MOVSX:
        eb(e, 0x0F)
        eb(e, (0xB6 if op == OP_MOVZX else 0xBE) + (d.ops[1].size == 2))
        m_loc(e, 0, kind1, greg_disp(d.ops[1].reg, d.ops[1].size) if kind1 == NL_REG else 0)
        eb(e, 0x89)
        m_loc(e, 0, NL_REG, disp0)
    elif op == OP_LEA:
        e_ea(e, d)
        eb(e, 0x89)                      # mov dst, edx
        m_loc(e, 2, NL_REG, disp0)
    elif op == OP_SETCC:
        eb(e, 0x0F); eb(e, 0x90 + d.cc)
        m_loc(e, 0, kind0, disp0)
    elif op == OP_CMOVCC:
        eb(e, 0x8B)                      # mov eax, dst
        m_loc(e, 0, NL_REG, disp0)
        eb(e, 0x0F); eb(e, 0x40 + d.cc)  # cmovcc eax, src
        m_loc(e, 0, NL_REG, greg_disp(d.ops[1].reg, 4))
        eb(e, 0x89)
        m_loc(e, 0, NL_REG, disp0)
    if w:
        e.dirty |= w
        e.hv = (e.hv & ~w) | v
        if op == OP_SHL and (d.ops[1].imm & 31) != 1 and (live_after & F_OF):
            # OF = MSB(result) XOR CF, as bt defines it for every count
            e_sync(e)
            eb(e, 0x8B); m_ctx(e, 0, e.o_ef)       # mov eax, [ef]
            eb(e, 0x89); eb(e, 0xC1)               # mov ecx, eax
            eb(e, 0xC1); eb(e, 0xE9); eb(e, 7)     # shr ecx, 7
            eb(e, 0x31); eb(e, 0xC1)               # xor ecx, eax
            eb(e, 0x83); eb(e, 0xE1); eb(e, 1)     # and ecx, 1
            eb(e, 0xC1); eb(e, 0xE1); eb(e, 11)    # shl ecx, 11
            eb(e, 0x09); m_ctx(e, 1, e.o_ef)       # or [ef], ecx
        elif op == OP_IMUL and (live_after & NAT_SZP):
            # SF ZF PF of the result (the host leaves them undefined)
            e_sync(e)
            eb(e, 0xF7)                            # test dword dst, -1
            m_loc(e, 0, NL_REG, disp0)
            ed(e, 0xFFFFFFFFU)
            e.dirty = NAT_SZP
            e.hv = NAT_SZP


cdef void native_compile(CtxC* c, BlockC* b) noexcept nogil:
    """Give a freshly installed block native code for its supported prefix."""
    cdef NatEmit* e
    cdef u32 n = 0, i, nb = b.ninsns, live, w, v, r, segs = 0, stores = 0, mems = 0, stack = 0
    cdef u32 la[MAX_BLOCK_INSNS]
    cdef UopC* u
    cdef UopC* lu
    cdef u8* stub
    cdef u32 save_hv, save_dirty, fall, pos, j
    cdef int s
    cdef i32 rel
    cdef bint ends_jump
    cdef TlbEntryC* te
    b.native = NULL
    if c.nat_buf == NULL or (b.mode & 0x21) != 1:
        return      # 16-bit code or alignment checks: micro-ops only
    if c.nat_size - c.nat_used < NAT_BLOCK_ROOM:
        c.nat_full = 1
        return
    while n < nb and native_ok(&b.uops[n].d, n == nb - 1):
        if nat_stack(&b.uops[n].d):
            mems += 1
            stack = 1
            stores += b.uops[n].d.op != OP_POP and b.uops[n].d.op != OP_RET
        elif nat_mem(&b.uops[n].d):
            mems += 1
            segs |= 1u << b.uops[n].d.seg
            if nat_writes_mem(&b.uops[n].d):
                stores += 1
        n += 1
    if n == 0:
        return
    # flags live after each instruction: everything at the end of the native
    # part and before an instruction that may hand over to the micro-ops
    live = F_ARITH
    i = n
    while i > 0:
        i -= 1
        la[i] = live
        nat_flags(&b.uops[i].d, &w, &v, &r)
        live = (live & ~w) | r
        if nat_mem(&b.uops[i].d):
            live = F_ARITH
    e = <NatEmit*>malloc(sizeof(NatEmit))
    if e == NULL:
        return
    e.start = c.nat_buf + c.nat_used
    e.p = e.start
    e.end = c.nat_buf + c.nat_size
    e.err = 0
    e.hv = 0
    e.dirty = 0
    e.nfix = 0
    e.o_ef = <u32>(<char*>&c.cpu.eflags - <char*>c)
    e.o_eip = <u32>(<char*>&c.cpu.eip - <char*>c)
    e.o_beip = <u32>(<char*>&c.beip - <char*>c)
    e.o_ram = <u32>(<char*>&c.ram - <char*>c)
    e.o_cmap = <u32>(<char*>&c.code_map - <char*>c)
    e.o_cslim = <u32>(<char*>&c.cpu.seg[S_CS].limit - <char*>c)
    e.o_seg = <u32>(<char*>&c.cpu.seg[0] - <char*>c)
    e.o_exitk = <u32>(<char*>&c.exit_k - <char*>c)
    e.ram_size = c.ram_size
    e.paging = (b.mode >> 4) & 1
    e.counts = 0
    e.tlb_shift = 0
    while (1u << e.tlb_shift) < sizeof(TlbEntryC):
        e.tlb_shift += 1
    te = c.tlb
    e.o_addend = <u32>(<char*>&te.addend - <char*>te)
    if e.paging and mems and ((1u << e.tlb_shift) != sizeof(TlbEntryC) or e.tlb_shift > 12 or
                              e.o_addend > 127 or c.tlb_mask > (0xFFFFFFFFU >> e.tlb_shift)):
        free(e)
        return
    e.tlb_imask = c.tlb_mask << e.tlb_shift
    # the block's privilege is part of its mode (bits 1-2: CPL): CPL 3 uses the user table
    e.o_tlbtab = <u32>(<char*>&c.tlb_tab[1 if ((b.mode >> 1) & 3) == 3 else 0] - <char*>c)
    e.o_hits = <u32>(<char*>&c.tlb_hits[0] - <char*>c)
    e.blk = <size_t>b
    e.links = 1
    e.o_budget = <u32>(<char*>&c.nat_budget - <char*>c)
    e.o_chained = <u32>(<char*>&c.nat_chained - <char*>c)
    e.o_natblk = <u32>(<char*>&c.nat_blk - <char*>c)
    e.o_linkhits = <u32>(<char*>&c.nat_link_hits - <char*>c)
    e.o_retlinkhits = <u32>(<char*>&c.nat_ret_link_hits - <char*>c)
    e.o_grave = <u32>(<char*>&c.graveyard - <char*>c)
    e.o_stop = <u32>(<char*>&c.stop_request - <char*>c)
    e.o_irq = <u32>(<char*>&c.irq_line - <char*>c)
    e.o_csbase = <u32>(<char*>&c.cpu.seg[S_CS].base - <char*>c)
    e.o_jc = <u32>(<char*>&c.jc - <char*>c)
    e.o_jcepoch = <u32>(<char*>&c.jc_epoch - <char*>c)
    e.jc_mask = (1 << JC_BITS) - 1
    e.jc_size = sizeof(JcEntryC)
    e.oj_lin = <u32>(<char*>&c.jc[0].lin - <char*>&c.jc[0])
    e.oj_mode = <u32>(<char*>&c.jc[0].mode - <char*>&c.jc[0])
    e.oj_epoch = <u32>(<char*>&c.jc[0].epoch - <char*>&c.jc[0])
    e.oj_b = <u32>(<char*>&c.jc[0].b - <char*>&c.jc[0])
    e.mode = b.mode
    e.ob_link = <u32>(<char*>&b.link[0] - <char*>b)
    e.ob_native = <u32>(<char*>&b.native - <char*>b)
    e.ob_ninsns = <u32>(<char*>&b.ninsns - <char*>b)
    lu = &b.uops[nb - 1]
    ends_jump = n == nb and (lu.d.op == OP_JCC or lu.d.op == OP_JMP or lu.d.op == OP_CALL or
                             lu.d.op == OP_RET)
    # entry: the run-time conditions of the whole native part, else all micro-ops
    if mems and e.paging:
        eb(e, 0x4C); eb(e, 0x8B); m_ctx(e, 1, e.o_tlbtab)       # mov r9, [rdi+tlb_tab[user]]
        eb(e, 0x45); eb(e, 0x31); eb(e, 0xD2)                   # xor r10d, r10d
        eb(e, 0x45); eb(e, 0x31); eb(e, 0xDB)                   # xor r11d, r11d
        e.counts = 1
    elif mems:
        eb(e, 0x48); eb(e, 0x8B); m_ctx(e, 6, e.o_ram)          # mov rsi, [rdi+ram]
        if stores:
            eb(e, 0x4C); eb(e, 0x8B); m_ctx(e, 0, e.o_cmap)     # mov r8, [rdi+code_map]
    if mems:
        for s in range(6):
            if segs & (1u << s):
                eb(e, 0xF6)                                     # test byte [seg.flags], SF_FLAT
                m_ctx(e, 0, e.o_seg + s * sizeof(SegC) + <u32>(<char*>&c.cpu.seg[0].flags - <char*>&c.cpu.seg[0]))
                eb(e, SF_FLAT)
                e_bail(e, 0x0F84, 0)
        if stack:
            # a flat 32-bit stack: mov al, [ss.flags]; and al, FLAT|BIG; cmp al, FLAT|BIG
            eb(e, 0x8A)
            m_ctx(e, 0, e.o_seg + S_SS * sizeof(SegC) + <u32>(<char*>&c.cpu.seg[0].flags - <char*>&c.cpu.seg[0]))
            eb(e, 0x24); eb(e, SF_FLAT | SF_BIG)
            eb(e, 0x3C); eb(e, SF_FLAT | SF_BIG)
            e_bail(e, 0x0F85, 0)
    if ends_jump:
        # a taken branch needs no CS.limit check when the limit is 4 GiB
        eb(e, 0x83); m_ctx(e, 7, e.o_cslim); eb(e, 0xFF)        # cmp dword [cs.limit], -1
        e_bail(e, 0x0F85, 0)
    for i in range(n):
        u = &b.uops[i]
        if i == nb - 1 and ends_jump:
            break
        e_insn(e, u, i, la[i])
    if n < nb:
        e_sync(e)
        e_ret_k(e, n)
    elif lu.d.op == OP_JMP:
        e_exit(e, lu.eoff + lu.d.len + lu.d.ops[0].imm, nb, 0)
    elif lu.d.op == OP_CALL:
        e_sync(e)
        eb(e, 0x8B); eb(e, 0x57); eb(e, 16)              # mov edx, [rdi+esp]
        eb(e, 0x8D); eb(e, 0x52); eb(e, 0xFC)            # lea edx, [rdx-4]
        e_check(e, 4, 1, nb - 1)
        eb(e, 0x8B); m_ctx(e, 0, e.o_beip)               # mov eax, [rdi+beip]
        eb(e, 0x8D); eb(e, 0x80); ed(e, lu.eoff + lu.d.len)   # lea eax, [rax+next]
        eb(e, 0x89); m_loc(e, 0, NL_MEM, 0)              # mov [rsi+rdx], eax
        eb(e, 0x89); eb(e, 0x57); eb(e, 16)              # mov [rdi+esp], edx
        eb(e, 0x8D); eb(e, 0x80); ed(e, lu.d.ops[0].imm) # lea eax, [rax+rel]
        eb(e, 0x89); m_ctx(e, 0, e.o_eip)                # mov [rdi+eip], eax
        e_link(e, 0, lu.eoff + lu.d.len + lu.d.ops[0].imm, nb)
        e_exit_k(e, 0)                                   # chained like a JMP
        e_ret_k(e, nb)
    elif lu.d.op == OP_RET:
        e_sync(e)
        eb(e, 0x8B); eb(e, 0x57); eb(e, 16)              # mov edx, [rdi+esp]
        e_check(e, 4, 0, nb - 1)
        eb(e, 0x8B); m_loc(e, 0, NL_MEM, 0)              # mov eax, [rsi+rdx]
        eb(e, 0x8D); eb(e, 0x52); eb(e, 4)               # lea edx, [rdx+4]
        eb(e, 0x89); eb(e, 0x57); eb(e, 16)              # mov [rdi+esp], edx
        eb(e, 0x89); m_ctx(e, 0, e.o_eip)                # mov [rdi+eip], eax
        e_link_ret(e, nb)
        e_ret_k(e, nb)
    elif lu.d.op == OP_JCC:
        e_need(e, cc_reads(lu.d.cc))
        eb(e, 0x0F); eb(e, 0x80 + lu.d.cc)                      # jcc taken
        pos = <u32>(e.p - e.start)
        ed(e, 0)
        save_hv = e.hv
        save_dirty = e.dirty
        e_exit(e, lu.eoff + lu.d.len, nb, 1)
        e.hv = save_hv
        e.dirty = save_dirty
        if not e.err:
            rel = <i32>((e.p - e.start) - (pos + 4))
            memcpy(e.start + pos, &rel, 4)
        e_exit(e, lu.eoff + lu.d.len + lu.d.ops[0].imm, nb, 0)
    else:
        e_exit(e, lu.eoff + lu.d.len, nb, 1)
    # the bail stubs: return k (the state is already exact)
    for j in range(e.nfix):
        if e.err:
            break
        stub = e.p
        e_ret_k(e, e.fix_k[j])
        rel = <i32>((stub - e.start) - (e.fix_pos[j] + 4))
        memcpy(e.start + e.fix_pos[j], &rel, 4)
    if e.err or e.p - e.start > NAT_BLOCK_ROOM:
        c.nat_full = 1
        free(e)
        return
    b.native = e.start
    c.nat_used += <size_t>(e.p - e.start)
    c.nat_used = (c.nat_used + 15) & ~(<size_t>15)
    c.nat_blocks += 1
    c.nat_paged_blocks += e.paging
    c.nat_insns_compiled += n
    free(e)
