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
# Lazy operations.  8- and 16-bit operations keep their values shifted to the
# top of the 32-bit fields (cc_op >> 8 is the shift: 24, 16, or 0 for 32-bit),
# so that CF OF SF ZF and every Jcc condition come out of the same 32-bit
# formulas; only PF and AF look at the low bits (shifted back).
#   CC_ADD    a + b = r
#   CC_SUB    a - b = r (SUB, CMP, NEG: 0 - b)
#   CC_LOGIC  r with AF = 0 and SF ZF PF from r; b holds CF | OF (0 for the
#             logic instructions; SHL/SHR/SAR by an immediate and IMUL give both)
#   CC_INC    r = a + 1, b = the CF before the instruction (INC keeps it)
#   CC_DEC    r = a - 1, b = the CF before

cdef enum:
    CC_EAGER = 0
    CC_ADD = 1
    CC_SUB = 2
    CC_LOGIC = 3
    CC_INC = 4
    CC_DEC = 5
    CC_KIND = 0xFF        # cc_op & CC_KIND: the operation; cc_op >> 8: the shift

# how exec_uop treats the lazy state, per operation (OPF_*): by default it
# materializes before running the generic definition
cdef enum:
    OPF_EXACT = 0         # may read or write EFLAGS' arithmetic bits: materialize first
    OPF_FREE = 1          # never touches them
    OPF_LAZY = 2          # reads or sets them through the lazy state itself

cdef u8 op_flag_class[<int>OP_COUNT]

cdef void _init_op_flag_class():
    cdef int i
    for i in range(<int>OP_COUNT):
        op_flag_class[i] = OPF_EXACT
    for i in (OP_MOV, OP_MOVZX, OP_MOVSX, OP_LEA, OP_PUSH, OP_POP, OP_NOP, OP_XCHG, OP_NOT,
              OP_JMP, OP_JMP_IND, OP_CALL, OP_CALL_IND, OP_RET, OP_LEAVE, OP_CBW, OP_CWD,
              OP_BSWAP, OP_XLAT):
        op_flag_class[i] = OPF_FREE
    for i in (OP_ADD, OP_OR, OP_AND, OP_SUB, OP_XOR, OP_CMP, OP_TEST, OP_INC, OP_DEC, OP_NEG,
              OP_JCC, OP_SETCC, OP_CMOVCC):
        op_flag_class[i] = OPF_LAZY

_init_op_flag_class()


cdef u32 lazy_flags(CtxC* c) noexcept nogil:
    """The six arithmetic flags the lazy state stands for (no state change)."""
    cdef int op = c.cc_op
    cdef int kind = op & CC_KIND, sh = op >> 8
    cdef u32 a = c.cc_a, b = c.cc_b, r = c.cc_r, f
    if kind == CC_EAGER:
        return c.cpu.eflags & F_ARITH
    f = parity_tab[(r >> sh) & 0xFF] | (F_ZF if r == 0 else 0) | ((r >> 24) & F_SF)
    if kind == CC_LOGIC:
        return f | b
    if kind == CC_INC or kind == CC_DEC:
        f |= b                          # the CF from before
        b = (<u32>1) << sh              # the other operand
        f |= ((a ^ b ^ r) >> sh) & F_AF
        if kind == CC_INC:
            return f | ((((a ^ r) & (b ^ r)) >> 20) & F_OF)
        return f | ((((a ^ b) & (a ^ r)) >> 20) & F_OF)
    f |= (((a ^ b ^ r) >> sh) & F_AF)
    if kind == CC_ADD:
        return f | (r < a) | ((((a ^ r) & (b ^ r)) >> 20) & F_OF)
    return f | (a < b) | ((((a ^ b) & (a ^ r)) >> 20) & F_OF)


cdef void materialize_slow(CtxC* c) noexcept nogil:
    c.cpu.eflags = (c.cpu.eflags & ~(<u32>F_ARITH)) | lazy_flags(c)
    c.cc_op = CC_EAGER


cdef inline void materialize(CtxC* c) noexcept nogil:
    """Make the arithmetic bits of c.cpu.eflags exact (CC_EAGER from here on)."""
    if c.cc_op != CC_EAGER:
        materialize_slow(c)


cdef inline u32 lazy_cf(CtxC* c) noexcept nogil:
    """CF (0 or 1) without materializing."""
    cdef int op = c.cc_op & CC_KIND
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


cdef inline void set_lazy_sized(CtxC* c, int op, u32 a, u32 b, u32 r, int size) noexcept nogil:
    # 8/16-bit values (zero-extended) go to the top of the fields
    cdef int sh = 32 - 8 * size
    c.cc_op = op | (sh << 8)
    c.cc_a = a << sh
    c.cc_b = b << sh if op != CC_LOGIC and op != CC_INC and op != CC_DEC else b
    c.cc_r = r << sh


# cond_mask[cc] bit i: condition cc holds for CF = i & 1, ZF = i >> 1 & 1,
# SF = i >> 2 & 1, OF = i >> 3 (the parity conditions are not in it)
cdef u16 cond_mask[16]

cdef void _init_cond_mask():
    cdef int cc, i
    cdef u32 ef
    for cc in range(16):
        cond_mask[cc] = 0
        for i in range(16):
            ef = (F_CF if i & 1 else 0) | (F_ZF if i & 2 else 0) | (F_SF if i & 4 else 0) | \
                 (F_OF if i & 8 else 0)
            if cond(ef, cc):
                cond_mask[cc] |= 1 << i

_init_cond_mask()


cdef inline bint cond_sub(int cc, u32 a, u32 b, u32 r) noexcept nogil:
    """Condition cc (not PF) after a - b = r: the usual CMP + Jcc, small enough
    for GCC to inline into the Jcc handler."""
    return (cond_mask[cc] >> ((a < b) | ((((a ^ b) & (a ^ r)) >> 31) << 3) |
                              ((r == 0) << 1) | ((r >> 31) << 2))) & 1


cdef inline bint lazy_cond(CtxC* c, int cc) noexcept nogil:
    """Condition cc (the Jcc/SETcc/CMOVcc encoding) from the lazy state: CF ZF
    SF OF straight from the operands, then a table (no branch on cc)."""
    cdef int op = c.cc_op & CC_KIND
    cdef u32 a = c.cc_a, b = c.cc_b, r = c.cc_r, i
    if (cc >> 1) == 5:
        return ((lazy_flags(c) >> 2) & 1) != <u32>(cc & 1)     # PF
    if op == CC_SUB:
        return cond_sub(cc, a, b, r)
    else:
        if op == CC_ADD:
            i = (r < a) | ((((a ^ r) & (b ^ r)) >> 31) << 3)
        elif op == CC_LOGIC:
            i = (b & 1) | ((b >> 8) & 8)
        elif op == CC_DEC:
            i = (b & 1) | ((((a ^ r) & a) >> 31) << 3)
        elif op == CC_INC:
            i = (b & 1) | ((((a ^ r) & r) >> 31) << 3)
        else:
            a = c.cpu.eflags
            return (cond_mask[cc] >> ((a & 1) | ((a >> 5) & 6) | ((a >> 8) & 8))) & 1
    i |= ((r == 0) << 1) | ((r >> 31) << 2)
    return (cond_mask[cc] >> i) & 1
