# Lazy arithmetic flags.
#
# The fast handlers (fastpath.pxi) do not compute OF SF ZF AF PF CF: they
# record the last flag-setting operation and its operands in CtxC (cc_op,
# cc_a, cc_b, cc_r), and the flags are computed only when something reads them.
# While cc_op != CC_EAGER the F_ARITH bits of c.cpu.eflags are stale; every
# other bit of EFLAGS is always exact (no lazy operation touches them).
#
# Readers that know the lazy state evaluate straight from it (lazy_cond for
# Jcc, lazy_cf for INC/DEC); every other reader runs after materialize(c),
# which folds the lazy state into c.cpu.eflags and returns to CC_EAGER:
#   - exec_uop (the generic definitions: PUSHF, LAHF, SETcc, ADC, callouts,
#     the x87, a block cut short...) materializes before anything that may
#     look at or change EFLAGS,
#   - take_event (exceptions, interrupts, single-step traps: the pushed EFLAGS),
#   - Core.run when the loop returns to Python, and the Core.eflags property
#     (hooks and MMIO handlers called in the middle of a run read it),
#   - the fast handlers that read or partly keep flags (ADC/SBB, ROL/ROR,
#     the slow path of a read-modify-write to memory).
#
# Lazy operations (32-bit results unless said otherwise):
#   CC_ADD    a + b = r
#   CC_SUB    a - b = r (SUB, CMP)
#   CC_LOGIC  r with AF = 0 and SF ZF PF from r; b holds CF | OF (0 for the
#             logic instructions; SHL/SHR/SAR by an immediate and IMUL give both)
#   CC_INC    r = old + 1, b = the CF before the instruction (INC keeps it)
#   CC_DEC    r = old - 1, b = the CF before

cdef enum:
    CC_EAGER = 0
    CC_ADD = 1
    CC_SUB = 2
    CC_LOGIC = 3
    CC_INC = 4
    CC_DEC = 5


cdef inline u32 flags_add32(u32 a, u32 b, u32 r) noexcept nogil:
    return ((r < a) | parity_tab[r & 0xFF] | ((a ^ b ^ r) & F_AF) | (F_ZF if r == 0 else 0) |
            ((r >> 24) & F_SF) | ((((a ^ r) & (b ^ r)) >> 20) & F_OF))


cdef inline u32 flags_sub32(u32 a, u32 b, u32 r) noexcept nogil:
    return ((a < b) | parity_tab[r & 0xFF] | ((a ^ b ^ r) & F_AF) | (F_ZF if r == 0 else 0) |
            ((r >> 24) & F_SF) | ((((a ^ b) & (a ^ r)) >> 20) & F_OF))


cdef inline u32 flags_logic32(u32 r) noexcept nogil:
    return parity_tab[r & 0xFF] | (F_ZF if r == 0 else 0) | ((r >> 24) & F_SF)


cdef u32 lazy_flags(CtxC* c) noexcept nogil:
    """The six arithmetic flags the lazy state stands for (no state change)."""
    cdef int op = c.cc_op
    cdef u32 a = c.cc_a, b = c.cc_b, r = c.cc_r
    if op == CC_ADD:
        return flags_add32(a, b, r)
    if op == CC_SUB:
        return flags_sub32(a, b, r)
    if op == CC_LOGIC:
        return flags_logic32(r) | b
    if op == CC_INC:
        return (flags_add32(r - 1, 1, r) & ~(<u32>F_CF)) | b
    if op == CC_DEC:
        return (flags_sub32(r + 1, 1, r) & ~(<u32>F_CF)) | b
    return c.cpu.eflags & F_ARITH


cdef void materialize_slow(CtxC* c) noexcept nogil:
    c.cpu.eflags = (c.cpu.eflags & ~(<u32>F_ARITH)) | lazy_flags(c)
    c.cc_op = CC_EAGER


cdef inline void materialize(CtxC* c) noexcept nogil:
    """Make the arithmetic bits of c.cpu.eflags exact (CC_EAGER from here on)."""
    if c.cc_op != CC_EAGER:
        materialize_slow(c)


cdef inline u32 lazy_cf(CtxC* c) noexcept nogil:
    """CF (0 or 1) without materializing."""
    cdef int op = c.cc_op
    if op == CC_SUB:
        return c.cc_a < c.cc_b
    if op == CC_ADD:
        return c.cc_r < c.cc_a
    if op == CC_EAGER:
        return c.cpu.eflags & F_CF
    return c.cc_b & F_CF


cdef inline void set_lazy(CtxC* c, int op, u32 a, u32 b, u32 r) noexcept nogil:
    c.cc_op = op
    c.cc_a = a
    c.cc_b = b
    c.cc_r = r


cdef inline bint lazy_cond(CtxC* c, int cc) noexcept nogil:
    """Condition cc (the Jcc/SETcc/CMOVcc encoding) from the lazy state."""
    cdef int op = c.cc_op
    cdef int k = cc >> 1
    cdef u32 a = c.cc_a, b = c.cc_b, r = c.cc_r
    cdef bint v
    if op == CC_SUB:
        # CMP/SUB a, b: the conditions compare the operands directly
        if k == 2:
            v = a == b
        elif k == 1:
            v = a < b
        elif k == 6:
            v = <i32>a < <i32>b
        elif k == 7:
            v = <i32>a <= <i32>b
        elif k == 3:
            v = a <= b
        elif k == 4:
            v = (r >> 31) != 0
        elif k == 0:
            v = (((a ^ b) & (a ^ r)) >> 31) != 0
        else:
            v = parity_tab[r & 0xFF] != 0
        return v != (cc & 1)
    if op == CC_EAGER:
        return cond(c.cpu.eflags, cc)
    if k == 2:
        return (r == 0) != (cc & 1)     # ZF of every lazy operation
    if k == 4:
        return (r >> 31) != (cc & 1)    # SF likewise
    return cond(lazy_flags(c), cc)
