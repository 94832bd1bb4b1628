# The micro-op dispatcher: one switch over operations (an if/elif chain of
# equality tests, which Cython compiles to a C switch), the semantics of the
# common instructions inline, the rest in semantics.pxi and hv.pxi.

# ---------------------------------------------------------------- dispatch

cdef int exec_uop(CtxC* c, UopC* u) noexcept nogil:
    cdef int op = u.d.op
    cdef int size = u.d.ops[0].size
    cdef int st, osz = u.d.osz
    cdef u32 a, b, r, t, nsp, f
    cdef u32 lo, hi
    if c.cc_op != CC_EAGER and op_flag_class[op] == OPF_EXACT:
        materialize_slow(c)     # the generic definitions see exact flags (flags.pxi)
    c.ea = calc_ea(c, &u.d)

    if op == OP_ADD or op == OP_OR or op == OP_ADC or op == OP_SBB or op == OP_AND or op == OP_SUB or op == OP_XOR or op == OP_CMP:
        if u.d.ops[0].kind == OK_REG:
            a = getreg(c, u.d.ops[0].reg, size)
        else:
            st = get_op(c, u, 0, size, &a)
            if st:
                return st
        st = get_op(c, u, 1, size, &b)
        if st:
            return st
        if op == OP_ADC or op == OP_SBB:
            materialize(c)
            f = c.cpu.eflags
            r = alu(c, op, a, b, size)
            if u.d.ops[0].kind == OK_REG:
                setreg(c, u.d.ops[0].reg, size, r)
            else:
                st = put_op(c, u, 0, size, r)
                if st:
                    c.cpu.eflags = f
                    return st
            return 0
        # the flags stay lazy (flags.pxi), set once the result is written
        if op == OP_ADD:
            r = a + b
            t = CC_ADD
        elif op == OP_SUB or op == OP_CMP:
            r = a - b
            t = CC_SUB
        else:
            if op == OP_AND:
                r = a & b
            elif op == OP_OR:
                r = a | b
            else:
                r = a ^ b
            b = 0
            t = CC_LOGIC
        r &= szmask(size)
        if op != OP_CMP:
            if u.d.ops[0].kind == OK_REG:
                setreg(c, u.d.ops[0].reg, size, r)
            else:
                st = put_op(c, u, 0, size, r)
                if st:
                    return st
        set_lazy_sized(c, t, a, b, r, size)
        return 0
    elif op == OP_MOV:
        st = get_op(c, u, 1, size, &a)
        if st:
            return st
        return put_op(c, u, 0, size, a)
    elif op == OP_JCC:
        if lazy_cond(c, u.d.cc):
            c.exit_k = 0
            return jump_to(c, (next_ip(c, u) + u.d.ops[0].imm) & (0xFFFF if osz == 2 else 0xFFFFFFFFU))
        c.exit_k = 1
        c.cpu.eip = next_ip(c, u)
        return ST_JUMP
    elif op == OP_TEST:
        st = get_op(c, u, 0, size, &a)
        if st:
            return st
        st = get_op(c, u, 1, size, &b)
        if st:
            return st
        set_lazy_sized(c, CC_LOGIC, a, 0, a & b & szmask(size), size)
        return 0
    elif op == OP_INC or op == OP_DEC:
        st = get_op(c, u, 0, size, &a)
        if st:
            return st
        r = (a + 1 if op == OP_INC else a - 1) & szmask(size)
        st = put_op(c, u, 0, size, r)
        if st:
            return st
        # INC/DEC leave CF alone: the lazy state keeps it
        set_lazy_sized(c, CC_INC if op == OP_INC else CC_DEC, a, lazy_cf(c), r, size)
        return 0
    elif op == OP_LEA:
        setreg(c, u.d.ops[0].reg, size, c.ea)
        return 0
    elif op == OP_PUSH:
        if u.d.ops[0].kind == OK_REG and u.d.ops[0].reg == 4:
            a = getreg(c, 4, osz)      # PUSH ESP pushes the value before the push
        else:
            st = get_op(c, u, 0, osz, &a)
            if st:
                return st
        return push(c, osz, a)
    elif op == OP_POP:
        st = pop_peek(c, osz, 0, &a)
        if st:
            return st
        t = c.cpu.regs[4]
        c.cpu.regs[4] = sp_add(c, t, osz)
        if u.d.ops[0].kind == OK_MEM:
            # the address uses ESP after the pop (SDM: POP [ESP+n])
            c.ea = calc_ea(c, &u.d)
            st = wr(c, u.d.seg, c.ea, osz, a)
            if st:
                c.cpu.regs[4] = t
                return st
        else:
            setreg(c, u.d.ops[0].reg, osz, a)
        return 0
    elif op == OP_JMP:
        c.exit_k = 0
        return jump_to(c, (next_ip(c, u) + u.d.ops[0].imm) & (0xFFFF if osz == 2 else 0xFFFFFFFFU))
    elif op == OP_CALL or op == OP_CALL_IND:
        if op == OP_CALL:
            t = (next_ip(c, u) + u.d.ops[0].imm) & (0xFFFF if osz == 2 else 0xFFFFFFFFU)
        else:
            st = get_op(c, u, 0, osz, &t)
            if st:
                return st
        if t > c.cpu.seg[S_CS].limit:
            return raise_exc(c, 13, 0, 1)
        st = push(c, osz, next_ip(c, u))
        if st:
            return st
        c.cpu.eip = t
        if op == OP_CALL:
            c.exit_k = 0
        return ST_JUMP
    elif op == OP_RET:
        st = pop_peek(c, osz, 0, &t)
        if st:
            return st
        if osz == 2:
            t &= 0xFFFF
        if t > c.cpu.seg[S_CS].limit:
            return raise_exc(c, 13, 0, 1)
        c.cpu.regs[4] = sp_add(c, c.cpu.regs[4], osz + (u.d.ops[0].imm & 0xFFFF if u.d.nops else 0))
        c.cpu.eip = t
        return ST_JUMP
    elif op == OP_JMP_IND:
        st = get_op(c, u, 0, osz, &t)
        if st:
            return st
        return jump_to(c, t)
    elif op == OP_MOVZX or op == OP_MOVSX:
        st = get_op(c, u, 1, u.d.ops[1].size, &a)
        if st:
            return st
        if op == OP_MOVSX:
            a = sext(a, u.d.ops[1].size)
        setreg(c, u.d.ops[0].reg, size, a)
        return 0
    elif op == OP_NOP:
        return 0
    elif op == OP_XCHG:
        st = get_op(c, u, 0, size, &a)
        if st:
            return st
        st = get_op(c, u, 1, size, &b)
        if st:
            return st
        if u.d.ops[0].kind == OK_MEM:
            st = put_op(c, u, 0, size, b)
            if st:
                return st
            setreg(c, u.d.ops[1].reg, size, a)
        else:
            st = put_op(c, u, 1, size, a)
            if st:
                return st
            setreg(c, u.d.ops[0].reg, size, b)
        return 0
    elif op == OP_NOT or op == OP_NEG:
        st = get_op(c, u, 0, size, &a)
        if st:
            return st
        if op == OP_NOT:
            return put_op(c, u, 0, size, ~a & szmask(size))
        r = (0 - a) & szmask(size)
        st = put_op(c, u, 0, size, r)
        if st:
            return st
        set_lazy_sized(c, CC_SUB, 0, a, r, size)
        return 0
    elif op == OP_ROL or op == OP_ROR or op == OP_RCL or op == OP_RCR or op == OP_SHL or op == OP_SHR or op == OP_SAL or op == OP_SAR:
        return do_shift(c, u)
    elif op == OP_SHLD or op == OP_SHRD:
        return do_shxd(c, u)
    elif op == OP_MUL or op == OP_IMUL1 or op == OP_DIV or op == OP_IDIV:
        return do_muldiv(c, u)
    elif op == OP_IMUL:
        if u.d.nops == 3:
            st = get_op(c, u, 1, size, &a)
            if st:
                return st
            b = u.d.ops[2].imm
        else:
            a = getreg(c, u.d.ops[0].reg, size)
            st = get_op(c, u, 1, size, &b)
            if st:
                return st
        lo = <u32>(<i64><i32>sext(a, size) * <i64><i32>sext(b, size))
        f = F_CF | F_OF if (<i64><i32>sext(a, size) * <i64><i32>sext(b, size)) != <i64><i32>sext(lo & szmask(size), size) else 0
        set_arith(c, f | fl_szp(lo & szmask(size), size))
        setreg(c, u.d.ops[0].reg, size, lo)
        return 0
    elif op == OP_SETCC:
        return put_op(c, u, 0, 1, 1 if lazy_cond(c, u.d.cc) else 0)
    elif op == OP_CMOVCC:
        st = get_op(c, u, 1, size, &a)
        if st:
            return st
        if lazy_cond(c, u.d.cc):
            setreg(c, u.d.ops[0].reg, size, a)
        return 0
    elif op == OP_BT or op == OP_BTS or op == OP_BTR or op == OP_BTC:
        return do_bt(c, u)
    elif op == OP_BSF or op == OP_BSR:
        return do_bsx(c, u)
    elif op == OP_MOVS or op == OP_CMPS or op == OP_SCAS or op == OP_LODS or op == OP_STOS:
        return do_string(c, u)
    elif op == OP_LOOP or op == OP_LOOPE or op == OP_LOOPNE or op == OP_JCXZ:
        a = areg(c, 1, u.d.asz)
        if op == OP_JCXZ:
            t = a == 0
        else:
            a = (a - 1) & (0xFFFF if u.d.asz == 2 else 0xFFFFFFFFU)
            t = a != 0
            if op == OP_LOOPE:
                t = t and (c.cpu.eflags & F_ZF) != 0
            elif op == OP_LOOPNE:
                t = t and (c.cpu.eflags & F_ZF) == 0
        if t:
            r = (next_ip(c, u) + u.d.ops[0].imm) & (0xFFFF if osz == 2 else 0xFFFFFFFFU)
            if r > c.cpu.seg[S_CS].limit:
                return raise_exc(c, 13, 0, 1)
        else:
            r = next_ip(c, u)
        if op != OP_JCXZ:
            setreg(c, 1, u.d.asz, a)
        c.cpu.eip = r
        return ST_JUMP
    elif op == OP_XADD:
        st = get_op(c, u, 0, size, &a)
        if st:
            return st
        b = getreg(c, u.d.ops[1].reg, size)
        t = c.cpu.eflags
        r = alu(c, OP_ADD, a, b, size)
        if u.d.ops[0].kind == OK_MEM:
            st = put_op(c, u, 0, size, r)
            if st:
                c.cpu.eflags = t
                return st
            setreg(c, u.d.ops[1].reg, size, a)
        else:
            setreg(c, u.d.ops[1].reg, size, a)
            setreg(c, u.d.ops[0].reg, size, r)
        return 0
    elif op == OP_CMPXCHG:
        st = get_op(c, u, 0, size, &a)
        if st:
            return st
        t = c.cpu.eflags
        alu(c, OP_CMP, getreg(c, 0, size), a, size)
        if c.cpu.eflags & F_ZF:
            st = put_op(c, u, 0, size, getreg(c, u.d.ops[1].reg, size))
        else:
            # the destination is written back even when the compare fails
            st = put_op(c, u, 0, size, a)
            if not st:
                setreg(c, 0, size, a)
        if st:
            c.cpu.eflags = t
        return st
    elif op == OP_CMPXCHG8B:
        if u.d.ops[0].kind != OK_MEM:
            return raise_exc(c, 6, 0, 0)
        st = rd(c, u.d.seg, c.ea, 4, &lo)
        if st:
            return st
        st = rd(c, u.d.seg, c.ea + 4, 4, &hi)
        if st:
            return st
        st = probe_w(c, u.d.seg, c.ea, 8)
        if st:
            return st
        if lo == c.cpu.regs[0] and hi == c.cpu.regs[2]:
            wr(c, u.d.seg, c.ea, 4, c.cpu.regs[3])
            wr(c, u.d.seg, c.ea + 4, 4, c.cpu.regs[1])
            c.cpu.eflags |= F_ZF
        else:
            wr(c, u.d.seg, c.ea, 4, lo)
            wr(c, u.d.seg, c.ea + 4, 4, hi)
            c.cpu.regs[0] = lo
            c.cpu.regs[2] = hi
            c.cpu.eflags &= ~(<u32>F_ZF)
        return 0
    elif op == OP_BSWAP:
        a = c.cpu.regs[u.d.ops[0].reg]
        if size == 4:
            c.cpu.regs[u.d.ops[0].reg] = ((a >> 24) | ((a >> 8) & 0xFF00) |
                                          ((a << 8) & 0xFF0000) | (a << 24))
        else:
            # BSWAP of a 16-bit register is undefined; P6 and QEMU give zero
            setreg(c, u.d.ops[0].reg, 2, 0)
        return 0
    elif op == OP_PUSHA:
        t = c.cpu.regs[4]
        # the first and the last slot (SDM: "starting or ending stack address");
        # a 16-bit SP may wrap from 0 to 0xFFFE between them
        st = probe_w(c, S_SS, sp_add(c, t, <u32>(-osz)) & sp_mask(c), osz)
        if st:
            return st
        st = probe_w(c, S_SS, sp_add(c, t, <u32>(-8 * osz)) & sp_mask(c), osz)
        if st:
            return st
        for a in range(8):
            push(c, osz, getreg(c, a, osz) if a != 4 else (t & szmask(osz)))
        return 0
    elif op == OP_POPA:
        # read all eight slots first so that a fault changes nothing
        st = pop_peek(c, osz, 7 * osz, &a)
        if st:
            return st
        t = c.cpu.regs[4]
        for b in range(8):
            pop_peek(c, osz, (7 - b) * osz, &a)
            if b != 4:
                setreg(c, b, osz, a)
        c.cpu.regs[4] = sp_add(c, t, 8 * osz)
        return 0
    elif op == OP_LEAVE:
        t = c.cpu.regs[4]
        nsp = c.cpu.regs[5] if (c.cpu.seg[S_SS].flags & SF_BIG) else \
            ((t & 0xFFFF0000U) | (c.cpu.regs[5] & 0xFFFF))
        st = rd(c, S_SS, nsp & sp_mask(c), osz, &a)
        if st:
            return st
        c.cpu.regs[4] = sp_add(c, nsp, osz)
        setreg(c, 5, osz, a)
        return 0
    elif op == OP_ENTER:
        return do_enter(c, u)
    elif op == OP_CBW:
        if osz == 2:
            setreg(c, 0, 2, sext(c.cpu.regs[0] & 0xFF, 1))
        else:
            c.cpu.regs[0] = sext(c.cpu.regs[0] & 0xFFFF, 2)
        return 0
    elif op == OP_CWD:
        if osz == 2:
            setreg(c, 2, 2, 0xFFFF if c.cpu.regs[0] & 0x8000 else 0)
        else:
            c.cpu.regs[2] = 0xFFFFFFFFU if c.cpu.regs[0] & 0x80000000U else 0
        return 0
    elif op == OP_LAHF:
        setreg(c, 4, 1, (c.cpu.eflags & 0xD5) | 2)
        return 0
    elif op == OP_SAHF:
        c.cpu.eflags = (c.cpu.eflags & ~(<u32>0xD5)) | (getreg(c, 4, 1) & 0xD5) | 2
        return 0
    elif op == OP_DAA or op == OP_DAS or op == OP_AAA or op == OP_AAS or op == OP_AAM or op == OP_AAD:
        return do_bcd(c, u)
    elif op == OP_XLAT:
        t = (c.cpu.regs[3] + (c.cpu.regs[0] & 0xFF)) & (0xFFFF if u.d.asz == 2 else 0xFFFFFFFFU)
        st = rd(c, u.d.seg, t, 1, &a)
        if st:
            return st
        setreg(c, 0, 1, a)
        return 0
    elif op == OP_CLC:
        c.cpu.eflags &= ~(<u32>F_CF)
        return 0
    elif op == OP_STC:
        c.cpu.eflags |= F_CF
        return 0
    elif op == OP_CMC:
        c.cpu.eflags ^= F_CF
        return 0
    elif op == OP_CLD:
        c.cpu.eflags &= ~(<u32>F_DF)
        return 0
    elif op == OP_STD:
        c.cpu.eflags |= F_DF
        return 0
    elif op == OP_SALC:
        setreg(c, 0, 1, 0xFF if c.cpu.eflags & F_CF else 0)
        return 0
    elif op == OP_INVALID or op == OP_UD2:
        return raise_exc(c, 6, 0, 0)
    elif op == OP_FPU or op == OP_FXSAVE or op == OP_FXRSTOR:
        return fpu_exec(c, u)          # fpu.pxi
    elif op == OP_WAIT:
        return fpu_wait(c)
    # everything else is a system instruction: the hypervisor's callout path
    return hv_callout(c, u)
