# Specialised handlers for the hottest instruction forms.
#
# The translator picks a handler per micro-op (select_handler); the loop calls
# exec_fast(), a single switch.  Each handler here is the same semantics as the
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


cdef inline int exec_fast(CtxC* c, UopC* u) noexcept nogil:
    cdef u32* R = c.cpu.regs
    cdef u32 a, b, r, t, f
    cdef i64 p
    cdef int st
    cdef u8* hp
    cdef int h = u.h
    if h == H_GENERIC:
        return exec_uop(c, u)
    elif h == H_MOV_RR:
        R[u.d.ops[0].reg] = R[u.d.ops[1].reg]
    elif h == H_MOV_RI:
        R[u.d.ops[0].reg] = u.d.ops[1].imm
    elif h == H_LOAD:
        t = calc_ea(c, &u.d)
        hp = rptr(c, u.d.seg, t, 4)
        if hp != NULL:
            R[u.d.ops[0].reg] = load_n(hp, 4)
            return ST_OK
        st = rd(c, u.d.seg, t, 4, &a)
        if st:
            return st
        R[u.d.ops[0].reg] = a
    elif h == H_STORE or h == H_STORE_I:
        t = calc_ea(c, &u.d)
        a = R[u.d.ops[1].reg] if h == H_STORE else u.d.ops[1].imm
        hp = wptr(c, u.d.seg, t, 4)
        if hp != NULL:
            store_n(hp, 4, a)
            return ST_OK
        return wr(c, u.d.seg, t, 4, a)
    elif h == H_ADD_RR or h == H_ADD_RI:
        a = R[u.d.ops[0].reg]
        b = R[u.d.ops[1].reg] if h == H_ADD_RR else u.d.ops[1].imm
        r = a + b
        R[u.d.ops[0].reg] = r
        set_lazy(c, CC_ADD, a, b, r)
    elif h == H_SUB_RR or h == H_SUB_RI or h == H_CMP_RR or h == H_CMP_RI:
        a = R[u.d.ops[0].reg]
        b = R[u.d.ops[1].reg] if (h == H_SUB_RR or h == H_CMP_RR) else u.d.ops[1].imm
        r = a - b
        if h == H_SUB_RR or h == H_SUB_RI:
            R[u.d.ops[0].reg] = r
        set_lazy(c, CC_SUB, a, b, r)
    elif h == H_AND_RR or h == H_AND_RI or h == H_TEST_RR or h == H_TEST_RI:
        b = R[u.d.ops[1].reg] if (h == H_AND_RR or h == H_TEST_RR) else u.d.ops[1].imm
        r = R[u.d.ops[0].reg] & b
        if h == H_AND_RR or h == H_AND_RI:
            R[u.d.ops[0].reg] = r
        set_lazy(c, CC_LOGIC, b, 0, r)
    elif h == H_OR_RR or h == H_OR_RI:
        r = R[u.d.ops[0].reg] | (R[u.d.ops[1].reg] if h == H_OR_RR else u.d.ops[1].imm)
        R[u.d.ops[0].reg] = r
        set_lazy(c, CC_LOGIC, r, 0, r)
    elif h == H_XOR_RR or h == H_XOR_RI:
        r = R[u.d.ops[0].reg] ^ (R[u.d.ops[1].reg] if h == H_XOR_RR else u.d.ops[1].imm)
        R[u.d.ops[0].reg] = r
        set_lazy(c, CC_LOGIC, r, 0, r)
    elif h == H_ALU_RM:
        t = calc_ea(c, &u.d)
        hp = rptr(c, u.d.seg, t, 4)
        if hp != NULL:
            b = load_n(hp, 4)
        else:
            st = rd(c, u.d.seg, t, 4, &b)
            if st:
                return st
        r = alu32_lazy(c, u.d.op, R[u.d.ops[0].reg], b)
        if u.d.op != OP_CMP:
            R[u.d.ops[0].reg] = r
    elif h == H_ADC_RX:
        b = R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
        materialize(c)
        R[u.d.ops[0].reg] = alu(c, u.d.op, R[u.d.ops[0].reg], b, 4)
    elif h == H_SHIFT_RI:
        shift32_imm(c, u.d.op, &R[u.d.ops[0].reg], u.d.ops[1].imm & 31)
    elif h == H_SHIFT_NF:
        a = u.d.ops[1].imm & 31
        if u.d.op == OP_SHL:
            R[u.d.ops[0].reg] <<= a
        elif u.d.op == OP_SHR:
            R[u.d.ops[0].reg] >>= a
        else:
            R[u.d.ops[0].reg] = <u32>(<i32>R[u.d.ops[0].reg] >> a)
    elif h == H_STORE_N or h == H_STORE_NI:
        t = calc_ea(c, &u.d)
        b = u.d.ops[0].size
        a = getreg(c, u.d.ops[1].reg, b) if h == H_STORE_N else u.d.ops[1].imm
        hp = wptr(c, u.d.seg, t, b)
        if hp != NULL:
            if b == 1:
                hp[0] = <u8>a
            else:
                store_n(hp, 2, a)
            return ST_OK
        return wr(c, u.d.seg, t, b, a)
    elif h == H_LOADX:
        t = calc_ea(c, &u.d)
        b = u.d.ops[1].size
        hp = rptr(c, u.d.seg, t, b)
        if hp != NULL:
            a = hp[0] if b == 1 else load_n(hp, 2)
        else:
            st = rd(c, u.d.seg, t, b, &a)
            if st:
                return st
        R[u.d.ops[0].reg] = sext(a, b) if u.d.op == OP_MOVSX else a
    elif h == H_MOVX_RR:
        a = getreg(c, u.d.ops[1].reg, u.d.ops[1].size)
        R[u.d.ops[0].reg] = sext(a, u.d.ops[1].size) if u.d.op == OP_MOVSX else a
    elif h == H_IMUL_RX:
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
                    return st
        b = u.d.ops[2].imm if u.d.nops == 3 else R[u.d.ops[0].reg]
        p = <i64><i32>a * <i64><i32>b
        r = <u32>p
        set_lazy(c, CC_LOGIC, a, (F_CF | F_OF) if p != <i64><i32>r else 0, r)
        R[u.d.ops[0].reg] = r
    elif h == H_ALU_MX:
        t = calc_ea(c, &u.d)
        b = R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
        hp = wptr(c, u.d.seg, t, 4) if u.d.op != OP_CMP else rptr(c, u.d.seg, t, 4)
        if hp != NULL:
            # one translation for the read and the write
            r = alu32_lazy(c, u.d.op, load_n(hp, 4), b)
            if u.d.op != OP_CMP:
                store_n(hp, 4, r)
            return ST_OK
        st = rd(c, u.d.seg, t, 4, &a)
        if st:
            return st
        b = R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
        materialize(c)       # the flags go back to these if the write faults
        f = c.cpu.eflags
        r = alu(c, u.d.op, a, b, 4)
        if u.d.op != OP_CMP:
            st = wr(c, u.d.seg, t, 4, r)
            if st:
                c.cpu.eflags = f
                return st
    elif h == H_INC_R or h == H_DEC_R:
        # CF stays as it was: kept in cc_b
        a = R[u.d.ops[0].reg]
        t = lazy_cf(c)
        if h == H_INC_R:
            r = a + 1
            set_lazy(c, CC_INC, a, t, r)
        else:
            r = a - 1
            set_lazy(c, CC_DEC, a, t, r)
        R[u.d.ops[0].reg] = r
    elif h == H_LEA:
        R[u.d.ops[0].reg] = calc_ea(c, &u.d)
    elif h == H_NOP_NF:
        pass
    elif h == H_ADD_NF:
        R[u.d.ops[0].reg] += R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    elif h == H_SUB_NF:
        R[u.d.ops[0].reg] -= R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    elif h == H_AND_NF:
        R[u.d.ops[0].reg] &= R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    elif h == H_OR_NF:
        R[u.d.ops[0].reg] |= R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    elif h == H_XOR_NF:
        R[u.d.ops[0].reg] ^= R[u.d.ops[1].reg] if u.d.ops[1].kind == OK_REG else u.d.ops[1].imm
    elif h == H_INC_NF:
        R[u.d.ops[0].reg] += 1
    elif h == H_DEC_NF:
        R[u.d.ops[0].reg] -= 1
    elif h == H_JCC:
        if lazy_cond(c, u.d.cc):
            c.exit_k = 0
            return jump_to(c, (next_ip(c, u) + u.d.ops[0].imm) &
                           (<u32>0xFFFF if u.d.osz == 2 else <u32>0xFFFFFFFFU))
        c.exit_k = 1
        c.cpu.eip = next_ip(c, u)
        return ST_JUMP
    elif h == H_JMP:
        c.exit_k = 0
        return jump_to(c, (next_ip(c, u) + u.d.ops[0].imm) &
                       (<u32>0xFFFF if u.d.osz == 2 else <u32>0xFFFFFFFFU))
    elif h == H_PUSH_R:
        if not flat_stack(c):
            return exec_uop(c, u)
        t = R[4] - 4
        hp = wptr(c, S_SS, t, 4)
        if hp != NULL:
            store_n(hp, 4, R[u.d.ops[0].reg])
        else:
            st = lwr(c, t, 4, R[u.d.ops[0].reg])
            if st:
                return st
        R[4] = t
    elif h == H_POP_R:
        if not flat_stack(c):
            return exec_uop(c, u)
        hp = rptr(c, S_SS, R[4], 4)
        if hp != NULL:
            a = load_n(hp, 4)
        else:
            st = lrd(c, R[4], 4, &a)
            if st:
                return st
        R[4] += 4
        R[u.d.ops[0].reg] = a
    elif h == H_CALL:
        if not flat_stack(c):
            return exec_uop(c, u)
        a = next_ip(c, u)
        b = a + u.d.ops[0].imm
        if b > c.cpu.seg[S_CS].limit:
            return raise_exc(c, 13, 0, 1)
        t = R[4] - 4
        hp = wptr(c, S_SS, t, 4)
        if hp != NULL:
            store_n(hp, 4, a)
        else:
            st = lwr(c, t, 4, a)
            if st:
                return st
        R[4] = t
        c.cpu.eip = b
        c.exit_k = 0
        return ST_JUMP
    elif h == H_RET:
        if not flat_stack(c):
            return exec_uop(c, u)
        hp = rptr(c, S_SS, R[4], 4)
        if hp != NULL:
            a = load_n(hp, 4)
        else:
            st = lrd(c, R[4], 4, &a)
            if st:
                return st
        if a > c.cpu.seg[S_CS].limit:
            return raise_exc(c, 13, 0, 1)
        R[4] += 4
        c.cpu.eip = a
        return ST_JUMP
    return ST_OK
