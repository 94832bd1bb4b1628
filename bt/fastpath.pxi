# Specialised handlers for the hottest instruction forms.
#
# The translator picks a handler per micro-op (select_handler); run_uops() (end of
# this file) runs a block's micro-ops through them, threaded.  Each handler here is the same semantics as the
# generic path in dispatch.pxi, written for one operand shape (32-bit registers,
# immediates, flat segments) so that the C compiler can drop the size and kind
# tests.  Anything unusual goes to exec_uop(), the generic definition; the
# differential tests run both.

cdef enum Handler:
    H_GENERIC = 0
    H_MOV_RR
    H_MOV_RI
    H_LOAD
    H_STORE
    H_STORE_I
    H_ADD_RR
    H_ADD_RI
    H_SUB_RR
    H_SUB_RI
    H_CMP_RR
    H_CMP_RI
    H_AND_RR
    H_AND_RI
    H_OR_RR
    H_OR_RI
    H_XOR_RR
    H_XOR_RI
    H_TEST_RR
    H_TEST_RI
    H_ALU_RM         # any ALU op, reg <- reg op [mem], 32-bit
    H_INC_R
    H_DEC_R
    H_LEA
    H_JCC
    H_JMP
    H_PUSH_R
    H_POP_R
    H_CALL
    H_RET
    H_SHIFT_RI       # ROL ROR SHL SHR SAR r32, imm8 (count != 0 after masking)
    H_ADC_RX         # ADC/SBB r32, r32/imm
    H_IMUL_RX        # IMUL r32, r/m32 [, imm]
    H_ALU_MX         # ADD OR ADC SBB AND SUB XOR CMP [m32], r32/imm
    H_STORE_N        # MOV m8/m16, r8/r16 (size in ops[0].size; AH..BH included)
    H_STORE_NI       # MOV m8/m16, imm
    H_LOADX          # MOVZX/MOVSX r32, m8/m16
    H_MOVX_RR        # MOVZX/MOVSX r32, r8/r16
    H_SHIFT_NF       # SHL SHR SAR r32, imm8 whose flags are dead (kill_dead_flags)
    H_NEG_R          # NEG r32
    H_CMP8           # CMP/TEST r8, r8/imm8 (AH..BH included)
    H_SETCC_R        # SETcc r8
    # dead-flag forms (translator.pxi, kill_dead_flags): the result without the
    # flags, which a later instruction of the block overwrites before any reads them
    H_NOP_NF         # CMP/TEST r32, r32/imm whose flags are dead: nothing left to do
    H_ADD_NF
    H_SUB_NF
    H_AND_NF
    H_OR_NF
    H_XOR_NF
    H_INC_NF
    H_DEC_NF
    H_COUNT          # (the size of the table of handler addresses)


cdef inline void shift32_imm(CtxC* c, int op, u32* p, u32 n) noexcept nogil:
    # n in 1..31; flags exactly as do_shift (semantics.pxi) computes them
    cdef u32 a = p[0], r, cf, f, of
    if op == OP_SHL:
        r = a << n
        cf = (a >> (32 - n)) & 1
        of = (r >> 31) ^ cf
        set_lazy(c, CC_LOGIC, a, cf | (of << 11), r)
    elif op == OP_SHR:
        r = a >> n
        cf = (a >> (n - 1)) & 1
        # OF as do_shift: MSB(a >> (n-1)) XOR MSB(result) (MSB(a) when n == 1)
        set_lazy(c, CC_LOGIC, a, cf | ((((a >> (n - 1)) ^ r) >> 31) << 11), r)
    elif op == OP_SAR:
        r = <u32>(<i32>a >> n)
        cf = (<u32>(<i32>a >> (n - 1))) & 1
        set_lazy(c, CC_LOGIC, a, cf, r)
    else:
        # ROL/ROR keep SF ZF AF PF
        materialize(c)
        f = c.cpu.eflags
        if op == OP_ROL:
            r = (a << n) | (a >> (32 - n))
            cf = r & 1
            f = (f & ~(<u32>(F_CF | F_OF))) | cf | (((r >> 31) ^ cf) << 11)
        else:
            r = (a >> n) | (a << (32 - n))
            f = (f & ~(<u32>(F_CF | F_OF))) | (r >> 31) | ((((r >> 31) ^ (r >> 30)) & 1) << 11)
        c.cpu.eflags = f
    p[0] = r


cdef inline u32 alu32_lazy(CtxC* c, int op, u32 a, u32 b) noexcept nogil:
    """ADD OR ADC SBB AND SUB XOR CMP on 32-bit values, the flags left lazy
    (ADC and SBB read CF: those run the generic definition)."""
    cdef u32 r
    if op == OP_ADD:
        r = a + b
        set_lazy(c, CC_ADD, a, b, r)
    elif op == OP_SUB or op == OP_CMP:
        r = a - b
        set_lazy(c, CC_SUB, a, b, r)
    elif op == OP_AND:
        r = a & b
        set_lazy(c, CC_LOGIC, a, 0, r)
    elif op == OP_OR:
        r = a | b
        set_lazy(c, CC_LOGIC, a, 0, r)
    elif op == OP_XOR:
        r = a ^ b
        set_lazy(c, CC_LOGIC, a, 0, r)
    else:
        materialize(c)
        r = alu(c, op, a, b, 4)
    return r


cdef inline bint flat_stack(CtxC* c) noexcept nogil:
    return (c.cpu.seg[S_SS].flags & (SF_FLAT | SF_BIG)) == (SF_FLAT | SF_BIG)


cdef void select_handler(CtxC* c, UopC* u) noexcept nogil:
    """Pick the specialised handler for a freshly decoded micro-op, or H_GENERIC."""
    cdef InsnC* d = &u.d
    cdef int op = d.op
    cdef int k0 = d.ops[0].kind, k1 = d.ops[1].kind
    cdef int s0 = d.ops[0].size
    u.h = H_GENERIC
    if d.prefix & (PF_LOCK | PF_REP | PF_REPNE):
        return
    if op == OP_JCC:
        u.h = H_JCC
        return
    if op == OP_JMP:
        u.h = H_JMP
        return
    if op == OP_NOP:
        u.h = H_NOP_NF          # (the multi-byte forms' memory operand is never accessed)
        return
    if op == OP_SETCC and k0 == OK_REG:
        u.h = H_SETCC_R
        return
    if (op == OP_CMP or op == OP_TEST) and k0 == OK_REG and s0 == 1 and \
            (k1 == OK_REG or k1 == OK_IMM):
        u.h = H_CMP8
        return
    if op == OP_MOV and k0 == OK_MEM and s0 != 4 and (k1 == OK_REG or k1 == OK_IMM):
        u.h = H_STORE_N if k1 == OK_REG else H_STORE_NI
        return
    if d.osz != 4:
        return
    if (op == OP_MOVZX or op == OP_MOVSX) and k0 == OK_REG and s0 == 4:
        u.h = H_LOADX if k1 == OK_MEM else (H_MOVX_RR if k1 == OK_REG else H_GENERIC)
        return
    if op == OP_CALL:
        u.h = H_CALL
    elif op == OP_RET and d.nops == 0:
        u.h = H_RET
    elif op == OP_PUSH and k0 == OK_REG and d.ops[0].reg != 4:
        u.h = H_PUSH_R
    elif op == OP_POP and k0 == OK_REG and d.ops[0].reg != 4:
        u.h = H_POP_R
    if u.h != H_GENERIC or s0 != 4:
        return
    if d.nops > 2:
        if op == OP_IMUL and k0 == OK_REG and (k1 == OK_REG or k1 == OK_MEM):
            u.h = H_IMUL_RX
        return
    if op == OP_MOV:
        if k0 == OK_REG and k1 == OK_REG:
            u.h = H_MOV_RR
        elif k0 == OK_REG and k1 == OK_IMM:
            u.h = H_MOV_RI
        elif k0 == OK_REG and k1 == OK_MEM:
            u.h = H_LOAD
        elif k0 == OK_MEM and k1 == OK_REG:
            u.h = H_STORE
        elif k0 == OK_MEM and k1 == OK_IMM:
            u.h = H_STORE_I
    elif op == OP_LEA and k0 == OK_REG:
        u.h = H_LEA
    elif op == OP_INC and k0 == OK_REG:
        u.h = H_INC_R
    elif op == OP_NEG and k0 == OK_REG:
        u.h = H_NEG_R
    elif op == OP_DEC and k0 == OK_REG:
        u.h = H_DEC_R
    elif k0 == OK_REG and (k1 == OK_REG or k1 == OK_IMM):
        if op == OP_ADD:
            u.h = H_ADD_RR if k1 == OK_REG else H_ADD_RI
        elif op == OP_SUB:
            u.h = H_SUB_RR if k1 == OK_REG else H_SUB_RI
        elif op == OP_CMP:
            u.h = H_CMP_RR if k1 == OK_REG else H_CMP_RI
        elif op == OP_AND:
            u.h = H_AND_RR if k1 == OK_REG else H_AND_RI
        elif op == OP_OR:
            u.h = H_OR_RR if k1 == OK_REG else H_OR_RI
        elif op == OP_XOR:
            u.h = H_XOR_RR if k1 == OK_REG else H_XOR_RI
        elif op == OP_TEST:
            u.h = H_TEST_RR if k1 == OK_REG else H_TEST_RI
        elif op == OP_IMUL and k1 == OK_REG:
            u.h = H_IMUL_RX
        elif op == OP_ADC or op == OP_SBB:
            u.h = H_ADC_RX
        elif (op == OP_ROL or op == OP_ROR or op == OP_SHL or op == OP_SHR or op == OP_SAR) and \
                k1 == OK_IMM and (d.ops[1].imm & 31) != 0:
            u.h = H_SHIFT_RI
    elif k0 == OK_REG and k1 == OK_MEM and op >= OP_ADD and op <= OP_CMP:
        u.h = H_ALU_RM
    elif op == OP_IMUL and k0 == OK_REG and (k1 == OK_REG or k1 == OK_MEM):
        u.h = H_IMUL_RX
    elif k0 == OK_MEM and (k1 == OK_REG or k1 == OK_IMM) and op >= OP_ADD and op <= OP_CMP:
        u.h = H_ALU_MX


# ---------------------------------------------------------------- threaded dispatch
# run_uops() runs the micro-ops of a block with one indirect jump at the end of
# every handler (GCC's labels as values: each handler's jump gets its own branch
# history, where a single switch jump mispredicts whenever the next handler
# differs from the last one seen there).  Under `chain` it also follows a block's
# static exit straight into its linked successor, and a near RET or JMP/CALL r/m
# into the block the jump cache has for its target, without going back to
# run_loop, as long as nothing asks for the loop's attention (exit_request).
# Cython has no goto: the labels and jumps are the C macros below.

cdef extern from *:
    """
    #define BT_LABEL(h) bt_h_##h: (void)0
    #define BT_SETLABEL(tab, h) ((tab)[h] = &&bt_h_##h)
    #define BT_DISPATCH(tab, u) goto *(tab)[(u)->h]
    /* a handler done, nothing could have touched code: the next micro-op */
    #define BT_NEXT(tab, u, end) do { if (++(u) != (end)) goto *(tab)[(u)->h]; \\
                                      goto bt_done; } while (0)
    /* after a slow path (memory access by address, the generic definition):
       a write to translated code (c->smc) ends the block after this micro-op */
    #define BT_NEXT_SLOW(tab, c, u, end) do { ++(u); if ((c)->smc || (u) == (end)) \\
                                      goto bt_done; goto *(tab)[(u)->h]; } while (0)
    #define BT_GENERIC() goto bt_generic
    #define BT_EXIT() goto bt_exit
    #define BT_LABEL_GENERIC() bt_generic: (void)0
    #define BT_LABEL_DONE() bt_done: (void)0
    #define BT_LABEL_EXIT() bt_exit: (void)0
    """
    void BT_LABEL(Handler h) noexcept nogil
    void BT_SETLABEL(void** tab, Handler h) noexcept nogil
    void BT_DISPATCH(void** tab, UopC* u) noexcept nogil
    void BT_NEXT(void** tab, UopC* u, UopC* end) noexcept nogil
    void BT_NEXT_SLOW(void** tab, CtxC* c, UopC* u, UopC* end) noexcept nogil
    void BT_GENERIC() noexcept nogil
    void BT_EXIT() noexcept nogil
    void BT_LABEL_GENERIC() noexcept nogil
    void BT_LABEL_DONE() noexcept nogil
    void BT_LABEL_EXIT() noexcept nogil

cdef void* handler_tab[H_COUNT]


cdef inline bint exit_request(CtxC* c) noexcept nogil:
    """Something run_loop must see before the next block: a stop, blocks to free,
    an interrupt that can be taken, an interrupt shadow, single-stepping."""
    return (c.stop_request | (c.graveyard != NULL) | c.cpu.shadow | (c.cpu.eflags & F_TF)
            | (c.irq_line & ((c.cpu.eflags >> 9) & 1))) != 0


cdef int run_uops(CtxC* c, BlockC* blk, u32 i, u32 n, u64 left, int chain) noexcept nogil:
    """Run micro-ops i .. n-1 of block blk.  Returns the status of the micro-op
    that stopped the run, or ST_OK; c.ru_i is then as for a loop over the
    micro-ops: the index of that micro-op, or the number run.  With chain set
    (the whole block, CS flat 32-bit, `chain` strategy) a static exit with a link,
    or a near RET or JMP/CALL r/m whose target the jump cache holds, goes on into
    the next block, within `left` instructions: c.ru_blk is the block
    the run ended in (c.beip its EIP), and c.ru_chained (also added to c.insns)
    counts the instructions of the blocks completed before it.
    (Results go through c, not pointers: the caller's locals stay in registers.)
    Called once with c == NULL to fill the table of handler addresses."""
    cdef u32* R
    cdef u32 a, b, r, t, f, k
    cdef i64 p
    cdef int st = ST_OK
    cdef u8* hp
    cdef BlockC* nb
    cdef JcEntryC* e
    cdef UopC* u
    cdef UopC* end
    cdef void** tab = handler_tab
    cdef u64 done = 0
    if c == NULL:
        BT_SETLABEL(tab, H_GENERIC)
        BT_SETLABEL(tab, H_MOV_RR)
        BT_SETLABEL(tab, H_MOV_RI)
        BT_SETLABEL(tab, H_LOAD)
        BT_SETLABEL(tab, H_STORE)
        BT_SETLABEL(tab, H_STORE_I)
        BT_SETLABEL(tab, H_ADD_RR)
        BT_SETLABEL(tab, H_ADD_RI)
        BT_SETLABEL(tab, H_SUB_RR)
        BT_SETLABEL(tab, H_SUB_RI)
        BT_SETLABEL(tab, H_CMP_RR)
        BT_SETLABEL(tab, H_CMP_RI)
        BT_SETLABEL(tab, H_AND_RR)
        BT_SETLABEL(tab, H_AND_RI)
        BT_SETLABEL(tab, H_OR_RR)
        BT_SETLABEL(tab, H_OR_RI)
        BT_SETLABEL(tab, H_XOR_RR)
        BT_SETLABEL(tab, H_XOR_RI)
        BT_SETLABEL(tab, H_TEST_RR)
        BT_SETLABEL(tab, H_TEST_RI)
        BT_SETLABEL(tab, H_ALU_RM)
        BT_SETLABEL(tab, H_INC_R)
        BT_SETLABEL(tab, H_DEC_R)
        BT_SETLABEL(tab, H_LEA)
        BT_SETLABEL(tab, H_JCC)
        BT_SETLABEL(tab, H_JMP)
        BT_SETLABEL(tab, H_PUSH_R)
        BT_SETLABEL(tab, H_POP_R)
        BT_SETLABEL(tab, H_CALL)
        BT_SETLABEL(tab, H_RET)
        BT_SETLABEL(tab, H_SHIFT_RI)
        BT_SETLABEL(tab, H_ADC_RX)
        BT_SETLABEL(tab, H_IMUL_RX)
        BT_SETLABEL(tab, H_ALU_MX)
        BT_SETLABEL(tab, H_STORE_N)
        BT_SETLABEL(tab, H_STORE_NI)
        BT_SETLABEL(tab, H_LOADX)
        BT_SETLABEL(tab, H_MOVX_RR)
        BT_SETLABEL(tab, H_SHIFT_NF)
        BT_SETLABEL(tab, H_NEG_R)
        BT_SETLABEL(tab, H_CMP8)
        BT_SETLABEL(tab, H_SETCC_R)
        BT_SETLABEL(tab, H_NOP_NF)
        BT_SETLABEL(tab, H_ADD_NF)
        BT_SETLABEL(tab, H_SUB_NF)
        BT_SETLABEL(tab, H_AND_NF)
        BT_SETLABEL(tab, H_OR_NF)
        BT_SETLABEL(tab, H_XOR_NF)
        BT_SETLABEL(tab, H_INC_NF)
        BT_SETLABEL(tab, H_DEC_NF)
        return 0
    R = c.cpu.regs
    u = &blk.uops[i]
    end = &blk.uops[n]
    if u == end:
        BT_EXIT()
    BT_DISPATCH(tab, u)

    BT_LABEL(H_GENERIC)
    BT_LABEL_GENERIC()
    st = exec_uop(c, u)
    if st != ST_OK:
        BT_EXIT()
    BT_NEXT_SLOW(tab, c, u, end)

    BT_LABEL(H_MOV_RR)
    R[u.d.ops[0].reg] = R[u.d.ops[1].reg]
    BT_NEXT(tab, u, end)

    BT_LABEL(H_MOV_RI)
    R[u.d.ops[0].reg] = u.d.ops[1].imm
    BT_NEXT(tab, u, end)

    BT_LABEL(H_LOAD)
    t = calc_ea(c, &u.d)
    hp = rptr(c, u.d.seg, t, 4)
    if hp != NULL:
        R[u.d.ops[0].reg] = load_n(hp, 4)
        BT_NEXT(tab, u, end)
    st = rd(c, u.d.seg, t, 4, &a)
    if st:
        BT_EXIT()
    R[u.d.ops[0].reg] = a
    BT_NEXT_SLOW(tab, c, u, end)

    BT_LABEL(H_STORE)
    BT_LABEL(H_STORE_I)
    t = calc_ea(c, &u.d)
    a = R[u.d.ops[1].reg] if u.h == H_STORE else u.d.ops[1].imm
    hp = wptr(c, u.d.seg, t, 4)
    if hp != NULL:
        store_n(hp, 4, a)
        BT_NEXT(tab, u, end)
    st = wr(c, u.d.seg, t, 4, a)
    if st:
        BT_EXIT()
    BT_NEXT_SLOW(tab, c, u, end)

    BT_LABEL(H_ADD_RR)
    a = R[u.d.ops[0].reg]
    b = R[u.d.ops[1].reg]
    r = a + b
    R[u.d.ops[0].reg] = r
    set_lazy(c, CC_ADD, a, b, r)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_ADD_RI)
    a = R[u.d.ops[0].reg]
    b = u.d.ops[1].imm
    r = a + b
    R[u.d.ops[0].reg] = r
    set_lazy(c, CC_ADD, a, b, r)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_SUB_RR)
    a = R[u.d.ops[0].reg]
    b = R[u.d.ops[1].reg]
    r = a - b
    R[u.d.ops[0].reg] = r
    set_lazy(c, CC_SUB, a, b, r)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_SUB_RI)
    a = R[u.d.ops[0].reg]
    b = u.d.ops[1].imm
    r = a - b
    R[u.d.ops[0].reg] = r
    set_lazy(c, CC_SUB, a, b, r)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_CMP_RR)
    a = R[u.d.ops[0].reg]
    b = R[u.d.ops[1].reg]
    set_lazy(c, CC_SUB, a, b, a - b)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_CMP_RI)
    a = R[u.d.ops[0].reg]
    b = u.d.ops[1].imm
    set_lazy(c, CC_SUB, a, b, a - b)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_AND_RR)
    b = R[u.d.ops[1].reg]
    r = R[u.d.ops[0].reg] & b
    R[u.d.ops[0].reg] = r
    set_lazy(c, CC_LOGIC, b, 0, r)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_AND_RI)
    b = u.d.ops[1].imm
    r = R[u.d.ops[0].reg] & b
    R[u.d.ops[0].reg] = r
    set_lazy(c, CC_LOGIC, b, 0, r)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_TEST_RR)
    b = R[u.d.ops[1].reg]
    set_lazy(c, CC_LOGIC, b, 0, R[u.d.ops[0].reg] & b)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_TEST_RI)
    b = u.d.ops[1].imm
    set_lazy(c, CC_LOGIC, b, 0, R[u.d.ops[0].reg] & b)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_OR_RR)
    r = R[u.d.ops[0].reg] | R[u.d.ops[1].reg]
    R[u.d.ops[0].reg] = r
    set_lazy(c, CC_LOGIC, r, 0, r)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_OR_RI)
    r = R[u.d.ops[0].reg] | u.d.ops[1].imm
    R[u.d.ops[0].reg] = r
    set_lazy(c, CC_LOGIC, r, 0, r)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_XOR_RR)
    r = R[u.d.ops[0].reg] ^ R[u.d.ops[1].reg]
    R[u.d.ops[0].reg] = r
    set_lazy(c, CC_LOGIC, r, 0, r)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_XOR_RI)
    r = R[u.d.ops[0].reg] ^ u.d.ops[1].imm
    R[u.d.ops[0].reg] = r
    set_lazy(c, CC_LOGIC, r, 0, r)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_ALU_RM)
    t = calc_ea(c, &u.d)
    hp = rptr(c, u.d.seg, t, 4)
    if hp != NULL:
        r = alu32_lazy(c, u.d.op, R[u.d.ops[0].reg], load_n(hp, 4))
        if u.d.op != OP_CMP:
            R[u.d.ops[0].reg] = r
        BT_NEXT(tab, u, end)
    st = rd(c, u.d.seg, t, 4, &b)
    if st:
        BT_EXIT()
    r = alu32_lazy(c, u.d.op, R[u.d.ops[0].reg], b)
    if u.d.op != OP_CMP:
        R[u.d.ops[0].reg] = r
    BT_NEXT_SLOW(tab, c, u, end)

    BT_LABEL(H_ADC_RX)
    b = R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    materialize(c)
    R[u.d.ops[0].reg] = alu(c, u.d.op, R[u.d.ops[0].reg], b, 4)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_SHIFT_RI)
    shift32_imm(c, u.d.op, &R[u.d.ops[0].reg], u.d.ops[1].imm & 31)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_SHIFT_NF)
    a = u.d.ops[1].imm & 31
    if u.d.op == OP_SHL:
        R[u.d.ops[0].reg] <<= a
    elif u.d.op == OP_SHR:
        R[u.d.ops[0].reg] >>= a
    else:
        R[u.d.ops[0].reg] = <u32>(<i32>R[u.d.ops[0].reg] >> a)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_STORE_N)
    BT_LABEL(H_STORE_NI)
    t = calc_ea(c, &u.d)
    b = u.d.ops[0].size
    a = getreg(c, u.d.ops[1].reg, b) if u.h == H_STORE_N else u.d.ops[1].imm
    hp = wptr(c, u.d.seg, t, b)
    if hp != NULL:
        if b == 1:
            hp[0] = <u8>a
        else:
            store_n(hp, 2, a)
        BT_NEXT(tab, u, end)
    st = wr(c, u.d.seg, t, b, a)
    if st:
        BT_EXIT()
    BT_NEXT_SLOW(tab, c, u, end)

    BT_LABEL(H_LOADX)
    t = calc_ea(c, &u.d)
    b = u.d.ops[1].size
    hp = rptr(c, u.d.seg, t, b)
    if hp != NULL:
        a = hp[0] if b == 1 else load_n(hp, 2)
        R[u.d.ops[0].reg] = sext(a, b) if u.d.op == OP_MOVSX else a
        BT_NEXT(tab, u, end)
    st = rd(c, u.d.seg, t, b, &a)
    if st:
        BT_EXIT()
    R[u.d.ops[0].reg] = sext(a, b) if u.d.op == OP_MOVSX else a
    BT_NEXT_SLOW(tab, c, u, end)

    BT_LABEL(H_MOVX_RR)
    a = getreg(c, u.d.ops[1].reg, u.d.ops[1].size)
    R[u.d.ops[0].reg] = sext(a, u.d.ops[1].size) if u.d.op == OP_MOVSX else a
    BT_NEXT(tab, u, end)

    BT_LABEL(H_IMUL_RX)
    # as the generic IMUL: CF = OF = the product does not fit; SF ZF PF of the
    # low half; AF cleared
    if u.d.ops[1].kind == OK_REG:
        a = R[u.d.ops[1].reg]
    else:
        t = calc_ea(c, &u.d)
        hp = rptr(c, u.d.seg, t, 4)
        if hp != NULL:
            a = load_n(hp, 4)
        else:
            st = rd(c, u.d.seg, t, 4, &a)
            if st:
                BT_EXIT()
    b = u.d.ops[2].imm if u.d.nops == 3 else R[u.d.ops[0].reg]
    p = <i64><i32>a * <i64><i32>b
    r = <u32>p
    set_lazy(c, CC_LOGIC, a, (F_CF | F_OF) if p != <i64><i32>r else 0, r)
    R[u.d.ops[0].reg] = r
    BT_NEXT_SLOW(tab, c, u, end)      # (a page walk for the read may have touched code)

    BT_LABEL(H_ALU_MX)
    t = calc_ea(c, &u.d)
    b = R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    hp = wptr(c, u.d.seg, t, 4) if u.d.op != OP_CMP else rptr(c, u.d.seg, t, 4)
    if hp != NULL:
        # one translation for the read and the write
        r = alu32_lazy(c, u.d.op, load_n(hp, 4), b)
        if u.d.op != OP_CMP:
            store_n(hp, 4, r)
        BT_NEXT(tab, u, end)
    st = rd(c, u.d.seg, t, 4, &a)
    if st:
        BT_EXIT()
    b = R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    materialize(c)       # the flags go back to these if the write faults
    f = c.cpu.eflags
    r = alu(c, u.d.op, a, b, 4)
    if u.d.op != OP_CMP:
        st = wr(c, u.d.seg, t, 4, r)
        if st:
            c.cpu.eflags = f
            BT_EXIT()
    BT_NEXT_SLOW(tab, c, u, end)

    BT_LABEL(H_NEG_R)
    a = R[u.d.ops[0].reg]
    R[u.d.ops[0].reg] = 0 - a
    set_lazy(c, CC_SUB, 0, a, 0 - a)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_CMP8)
    a = getreg(c, u.d.ops[0].reg, 1)
    b = getreg(c, u.d.ops[1].reg, 1) if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm & 0xFF
    if u.d.op == OP_CMP:
        set_lazy_sized(c, CC_SUB, a, b, (a - b) & 0xFF, 1)
    else:
        set_lazy_sized(c, CC_LOGIC, a, 0, a & b, 1)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_SETCC_R)
    setreg(c, u.d.ops[0].reg, 1, lazy_cond(c, u.d.cc))
    BT_NEXT(tab, u, end)

    BT_LABEL(H_INC_R)
    # CF stays as it was: kept in cc_b
    a = R[u.d.ops[0].reg]
    r = a + 1
    set_lazy(c, CC_INC, a, lazy_cf(c), r)
    R[u.d.ops[0].reg] = r
    BT_NEXT(tab, u, end)

    BT_LABEL(H_DEC_R)
    a = R[u.d.ops[0].reg]
    r = a - 1
    set_lazy(c, CC_DEC, a, lazy_cf(c), r)
    R[u.d.ops[0].reg] = r
    BT_NEXT(tab, u, end)

    BT_LABEL(H_LEA)
    R[u.d.ops[0].reg] = calc_ea(c, &u.d)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_NOP_NF)
    BT_NEXT(tab, u, end)

    BT_LABEL(H_ADD_NF)
    R[u.d.ops[0].reg] += R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    BT_NEXT(tab, u, end)

    BT_LABEL(H_SUB_NF)
    R[u.d.ops[0].reg] -= R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    BT_NEXT(tab, u, end)

    BT_LABEL(H_AND_NF)
    R[u.d.ops[0].reg] &= R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    BT_NEXT(tab, u, end)

    BT_LABEL(H_OR_NF)
    R[u.d.ops[0].reg] |= R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    BT_NEXT(tab, u, end)

    BT_LABEL(H_XOR_NF)
    R[u.d.ops[0].reg] ^= R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    BT_NEXT(tab, u, end)

    BT_LABEL(H_INC_NF)
    R[u.d.ops[0].reg] += 1
    BT_NEXT(tab, u, end)

    BT_LABEL(H_DEC_NF)
    R[u.d.ops[0].reg] -= 1
    BT_NEXT(tab, u, end)

    BT_LABEL(H_JCC)
    if (cond_sub(u.d.cc, c.cc_a, c.cc_b, c.cc_r) if c.cc_op == CC_SUB and (u.d.cc >> 1) != 5
            else lazy_cond(c, u.d.cc)):
        c.exit_k = 0
        st = jump_to(c, (next_ip(c, u) + u.d.ops[0].imm) &
                     (<u32>0xFFFF if u.d.osz == 2 else <u32>0xFFFFFFFFU))
        BT_EXIT()
    c.exit_k = 1
    c.cpu.eip = next_ip(c, u)
    st = ST_JUMP
    BT_EXIT()

    BT_LABEL(H_JMP)
    c.exit_k = 0
    st = jump_to(c, (next_ip(c, u) + u.d.ops[0].imm) &
                 (<u32>0xFFFF if u.d.osz == 2 else <u32>0xFFFFFFFFU))
    BT_EXIT()

    BT_LABEL(H_PUSH_R)
    if not flat_stack(c):
        BT_GENERIC()
    t = R[4] - 4
    hp = wptr(c, S_SS, t, 4)
    if hp != NULL:
        store_n(hp, 4, R[u.d.ops[0].reg])
        R[4] = t
        BT_NEXT(tab, u, end)
    st = lwr(c, t, 4, R[u.d.ops[0].reg])
    if st:
        BT_EXIT()
    R[4] = t
    BT_NEXT_SLOW(tab, c, u, end)

    BT_LABEL(H_POP_R)
    if not flat_stack(c):
        BT_GENERIC()
    hp = rptr(c, S_SS, R[4], 4)
    if hp != NULL:
        a = load_n(hp, 4)
        R[4] += 4
        R[u.d.ops[0].reg] = a
        BT_NEXT(tab, u, end)
    st = lrd(c, R[4], 4, &a)
    if st:
        BT_EXIT()
    R[4] += 4
    R[u.d.ops[0].reg] = a
    BT_NEXT_SLOW(tab, c, u, end)

    BT_LABEL(H_CALL)
    if not flat_stack(c):
        BT_GENERIC()
    a = next_ip(c, u)
    b = a + u.d.ops[0].imm
    if b > c.cpu.seg[S_CS].limit:
        st = raise_exc(c, 13, 0, 1)
        BT_EXIT()
    t = R[4] - 4
    hp = wptr(c, S_SS, t, 4)
    if hp != NULL:
        store_n(hp, 4, a)
    else:
        st = lwr(c, t, 4, a)
        if st:
            BT_EXIT()
    R[4] = t
    c.cpu.eip = b
    c.exit_k = 0
    st = ST_JUMP
    BT_EXIT()

    BT_LABEL(H_RET)
    if not flat_stack(c):
        BT_GENERIC()
    hp = rptr(c, S_SS, R[4], 4)
    if hp != NULL:
        a = load_n(hp, 4)
    else:
        st = lrd(c, R[4], 4, &a)
        if st:
            BT_EXIT()
    if a > c.cpu.seg[S_CS].limit:
        st = raise_exc(c, 13, 0, 1)
        BT_EXIT()
    R[4] += 4
    c.cpu.eip = a
    st = ST_JUMP
    BT_EXIT()

    # every micro-op up to `end` ran (or c.smc ended the block after u[-1])
    BT_LABEL_DONE()
    st = ST_OK
    BT_LABEL_EXIT()
    if chain and not c.smc:
        k = 2
        if st == ST_JUMP:
            if u + 1 == end:
                k = c.exit_k
        elif st == ST_OK:
            if blk.exit_delta[1] != NO_EXIT:
                # (chain is only set for a whole block: u == end)
                c.cpu.eip = c.beip + u[-1].eoff + u[-1].d.len
                k = 1
        nb = NULL
        if k != 2:
            nb = blk.link[k]
        elif st == ST_JUMP and u + 1 == end and \
                (u.d.op == OP_RET or u.d.op == OP_JMP_IND or u.d.op == OP_CALL_IND):
            # an indirect near transfer (same mode): the jump cache, as in run_loop
            t = c.cpu.seg[S_CS].base + c.cpu.eip
            e = &c.jc[t & ((1 << JC_BITS) - 1)]
            if e.epoch == c.jc_epoch and e.lin == t and e.mode == blk.mode:
                nb = e.b
        if nb != NULL and done + blk.ninsns + nb.ninsns <= left and not exit_request(c) \
                and c.cpu.eip <= 0xFFFFF000U:
            # (a flat 32-bit CS: only a block at the top of 4 GiB could overrun it)
            done += blk.ninsns
            c.insns += blk.ninsns
            if k != 2:
                c.chain_hits += 1
            else:
                c.jc_hits += 1
            blk = nb
            c.beip = c.cpu.eip
            c.cur_uops = blk.uops
            c.exit_k = 2
            u = blk.uops
            end = u + blk.ninsns
            st = ST_OK
            BT_DISPATCH(tab, u)
    c.ru_blk = blk
    c.ru_i = <u32>(u - blk.uops)
    c.ru_chained = done
    return st
