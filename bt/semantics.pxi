# IA-32 integer semantics: one definition per instruction, shared by every
# strategy.  exec_uop() runs one micro-op and returns a status (ST_*):
#   ST_OK          retired, fall through to the next micro-op
#   ST_JUMP        retired, c.cpu.eip holds the next EIP, the block ends
#   ST_FAULT       not retired, c.exc_* hold the exception; EIP stays at the insn
#   ST_STOP_BEFORE not retired, c.exit_kind says why (I/O callout, bad memory...)
#   ST_STOP_AFTER  retired, c.cpu.eip set, c.exit_kind says why (HLT, trap...)
# Faults are precise: every handler reads and checks before it commits.

cdef u8 parity_tab[256]

cdef void _init_parity():
    cdef int i, b, n
    for i in range(256):
        n = 0
        for b in range(8):
            n += (i >> b) & 1
        parity_tab[i] = F_PF if (n & 1) == 0 else 0

_init_parity()


cdef inline u32 szmask(int size) noexcept nogil:
    if size == 4:
        return 0xFFFFFFFFU
    if size == 2:
        return 0xFFFF
    return 0xFF


cdef inline u32 szsign(int size) noexcept nogil:
    return (<u32>1) << (size * 8 - 1)


cdef inline u32 sext(u32 v, int size) noexcept nogil:
    if size == 1:
        return <u32><i32>(<i8>v)
    if size == 2:
        return <u32><i32>(<i16>v)
    return v


cdef inline u32 fl_szp(u32 r, int size) noexcept nogil:
    cdef u32 f = parity_tab[r & 0xFF]
    if (r & szmask(size)) == 0:
        f |= F_ZF
    if r & szsign(size):
        f |= F_SF
    return f


cdef inline void set_arith(CtxC* c, u32 f) noexcept nogil:
    c.cpu.eflags = (c.cpu.eflags & ~(<u32>F_ARITH)) | f


cdef inline u32 alu(CtxC* c, int op, u32 a, u32 b, int size) noexcept nogil:
    """ADD OR ADC SBB AND SUB XOR CMP TEST on size-byte values; sets the six flags."""
    cdef u32 m = szmask(size)
    cdef u32 sb = szsign(size)
    cdef u64 w
    cdef u32 r, f, cin
    if op == OP_ADD or op == OP_ADC:
        cin = (c.cpu.eflags & F_CF) if op == OP_ADC else 0
        w = <u64>a + b + cin
        r = <u32>w & m
        f = <u32>((w >> (size * 8)) & 1)
        if (a ^ r) & (b ^ r) & sb:
            f |= F_OF
        f |= (a ^ b ^ r) & F_AF
    elif op == OP_SUB or op == OP_CMP or op == OP_SBB:
        cin = (c.cpu.eflags & F_CF) if op == OP_SBB else 0
        w = <u64>a - b - cin
        r = <u32>w & m
        f = <u32>((w >> (size * 8)) & 1)
        if (a ^ b) & (a ^ r) & sb:
            f |= F_OF
        f |= (a ^ b ^ r) & F_AF
    else:
        if op == OP_OR:
            r = a | b
        elif op == OP_XOR:
            r = a ^ b
        else:
            r = a & b
        r &= m
        f = 0
    set_arith(c, f | fl_szp(r, size))
    return r


cdef inline bint cond(u32 ef, int cc) noexcept nogil:
    cdef bint r
    cdef int k = cc >> 1
    if k == 0:
        r = (ef & F_OF) != 0
    elif k == 1:
        r = (ef & F_CF) != 0
    elif k == 2:
        r = (ef & F_ZF) != 0
    elif k == 3:
        r = (ef & (F_CF | F_ZF)) != 0
    elif k == 4:
        r = (ef & F_SF) != 0
    elif k == 5:
        r = (ef & F_PF) != 0
    elif k == 6:
        r = ((ef & F_SF) != 0) != ((ef & F_OF) != 0)
    else:
        r = ((ef & F_ZF) != 0) or (((ef & F_SF) != 0) != ((ef & F_OF) != 0))
    return r != (cc & 1)


cdef inline u32 next_ip(CtxC* c, UopC* u) noexcept nogil:
    return (c.beip + u.eoff + u.d.len) & c.ipmask


cdef inline int jump_to(CtxC* c, u32 target) noexcept nogil:
    # a near transfer: EIP must stay inside CS
    if target > c.cpu.seg[S_CS].limit:
        return raise_exc(c, 13, 0, 1)
    c.cpu.eip = target
    return ST_JUMP


cdef inline int get_op(CtxC* c, UopC* u, int i, int size, u32* v) noexcept nogil:
    cdef OperandC* q = &u.d.ops[i]
    if q.kind == OK_REG:
        v[0] = getreg(c, q.reg, size)
    elif q.kind == OK_IMM:
        v[0] = q.imm & szmask(size)
    elif q.kind == OK_MEM:
        return rd(c, u.d.seg, c.ea, size, v)
    elif q.kind == OK_SREG:
        v[0] = c.cpu.seg[q.reg].sel
    else:
        v[0] = 0
    return 0


cdef inline int put_op(CtxC* c, UopC* u, int i, int size, u32 v) noexcept nogil:
    cdef OperandC* q = &u.d.ops[i]
    if q.kind == OK_REG:
        setreg(c, q.reg, size, v)
        return 0
    return wr(c, u.d.seg, c.ea, size, v)


cdef inline int check_dst(CtxC* c, UopC* u, int i, int size) noexcept nogil:
    # make sure a later write to operand i cannot fault (for multi-result instructions)
    if u.d.ops[i].kind == OK_MEM:
        return probe_w(c, u.d.seg, c.ea, size)
    return 0


# ---------------------------------------------------------------- shifts

cdef int do_shift(CtxC* c, UopC* u) noexcept nogil:
    cdef int size = u.d.ops[0].size
    cdef int bits = size * 8
    cdef u32 m = szmask(size)
    cdef u32 sb = szsign(size)
    cdef u32 a, cnt, r, f, cf, of, t
    cdef u64 w
    cdef int op = u.d.op, st, n
    st = get_op(c, u, 0, size, &a)
    if st:
        return st
    if u.d.nops >= 2:
        get_op(c, u, 1, 1, &cnt)
    else:
        cnt = 1
    cnt &= 31
    if cnt == 0:
        return 0
    f = c.cpu.eflags
    if op == OP_SHL:
        if cnt <= <u32>bits:
            cf = (a >> (bits - cnt)) & 1
        else:
            cf = 0
        r = (a << cnt) & m if cnt < 32 else 0
        of = ((r & sb) != 0) ^ cf
        f = (f & ~(<u32>F_ARITH)) | fl_szp(r, size) | cf
        if of:
            f |= F_OF
    elif op == OP_SHR:
        cf = (a >> (cnt - 1)) & 1 if cnt <= <u32>bits else 0
        r = a >> cnt if cnt < 32 else 0
        f = (f & ~(<u32>F_ARITH)) | fl_szp(r, size) | cf
        # OF: MSB of the operand (count 1); for larger counts (undefined) QEMU's
        # MSB(a >> (count-1)) XOR MSB(result), which is the same at count 1
        if ((a >> (cnt - 1)) ^ r) & sb:
            f |= F_OF
    elif op == OP_SAR:
        t = sext(a, size)
        if cnt >= <u32>bits:
            cf = t >> 31
            r = (<u32>(<i32>t >> 31)) & m
        else:
            cf = (<u32>(<i32>t >> (cnt - 1))) & 1
            r = (<u32>(<i32>t >> cnt)) & m
        f = (f & ~(<u32>F_ARITH)) | fl_szp(r, size) | cf
    elif op == OP_ROL or op == OP_ROR:
        n = cnt & (bits - 1)
        if op == OP_ROL:
            r = ((a << n) | (a >> (bits - n))) & m if n else a
            cf = r & 1
            of = ((r & sb) != 0) ^ cf
        else:
            r = ((a >> n) | (a << (bits - n))) & m if n else a
            cf = (r & sb) != 0
            of = cf ^ ((r & (sb >> 1)) != 0)
        f = (f & ~(<u32>(F_CF | F_OF))) | cf
        if of:
            f |= F_OF
    else:   # RCL / RCR through CF: a (bits+1)-bit rotation
        n = cnt % (bits + 1)
        if n == 0:
            return 0
        cf = f & F_CF
        w = (<u64>cf << bits) | a
        if op == OP_RCL:
            w = ((w << n) | (w >> (bits + 1 - n))) & ((<u64>1 << (bits + 1)) - 1)
        else:
            w = ((w >> n) | (w << (bits + 1 - n))) & ((<u64>1 << (bits + 1)) - 1)
        r = <u32>w & m
        cf = <u32>(w >> bits) & 1
        # OF = MSB(src XOR result): the SDM's value for a 1-bit rotate, and what
        # QEMU gives for the (undefined) multi-bit case
        of = ((a ^ r) & sb) != 0
        f = (f & ~(<u32>(F_CF | F_OF))) | cf
        if of:
            f |= F_OF
    st = put_op(c, u, 0, size, r)
    if st:
        return st
    c.cpu.eflags = f
    return 0


cdef int do_shxd(CtxC* c, UopC* u) noexcept nogil:
    # SHLD/SHRD r/m, r, imm8/CL
    cdef int size = u.d.ops[0].size
    cdef int bits = size * 8
    cdef u32 m = szmask(size), sb = szsign(size)
    cdef u32 a, b, cnt, r, cf, f, t
    cdef u64 w
    cdef int st = get_op(c, u, 0, size, &a)
    if st:
        return st
    b = getreg(c, u.d.ops[1].reg, size)
    get_op(c, u, 2, 1, &cnt)
    cnt &= 31
    if cnt == 0:
        return 0
    if u.d.op == OP_SHLD:
        if size == 4:
            w = (<u64>a << 32) | b
            r = <u32>((w << cnt) >> 32)
            t = <u32>((w << (cnt - 1)) >> 32)
            cf = (a >> (32 - cnt)) & 1
        else:
            # 16-bit: dest:src:dest as a 48-bit value, as the P6 does for counts > 16
            w = (<u64>a << 32) | (<u64>b << 16) | a
            r = <u32>((w << cnt) >> 32) & 0xFFFF
            t = <u32>((w << (cnt - 1)) >> 32) & 0xFFFF
            cf = <u32>((w << (cnt - 1)) >> 47) & 1
    else:
        if size == 4:
            w = (<u64>b << 32) | a
            r = <u32>(w >> cnt)
            t = <u32>(w >> (cnt - 1))
            cf = (a >> (cnt - 1)) & 1
        else:
            w = (<u64>a << 32) | (<u64>b << 16) | a
            r = <u32>(w >> cnt) & 0xFFFF
            t = <u32>(w >> (cnt - 1)) & 0xFFFF
            cf = <u32>(w >> (cnt - 1)) & 1
    f = (c.cpu.eflags & ~(<u32>F_ARITH)) | fl_szp(r, size) | cf
    # OF: sign change (count 1); for larger counts (undefined) QEMU's MSB of
    # (operand shifted by count-1) XOR result, which is the same at count 1
    if (r ^ t) & sb:
        f |= F_OF
    st = put_op(c, u, 0, size, r)
    if st:
        return st
    c.cpu.eflags = f
    return 0


# ---------------------------------------------------------------- mul / div

cdef int do_muldiv(CtxC* c, UopC* u) noexcept nogil:
    cdef int size = u.d.ops[0].size
    cdef int op = u.d.op, st
    cdef u32 s, lo, hi, f, m = szmask(size)
    cdef u64 p, num, q, rm
    cdef i64 sp, snum, sq, srm, sd
    st = get_op(c, u, 0, size, &s)
    if st:
        return st
    if op == OP_MUL or op == OP_IMUL1:
        if op == OP_MUL:
            p = <u64>getreg(c, 0, size) * s
            if size == 4:
                lo = <u32>p
                hi = <u32>(p >> 32)
            else:
                lo = <u32>p & m
                hi = <u32>(p >> (size * 8)) & m
            f = F_CF | F_OF if hi != 0 else 0
        else:
            sp = <i64><i32>sext(getreg(c, 0, size), size) * <i64><i32>sext(s, size)
            lo = <u32>sp & m
            hi = <u32>(<u64>sp >> (size * 8)) & m
            f = F_CF | F_OF if sp != <i64><i32>sext(lo, size) else 0
        # SF/ZF/PF follow the low half and AF is cleared, as QEMU does (undefined in the SDM)
        set_arith(c, f | fl_szp(lo, size))
        if size == 1:
            setreg(c, 0, 2, (hi << 8) | lo)
        else:
            setreg(c, 0, size, lo)
            setreg(c, 2, size, hi)
        return 0
    # DIV / IDIV: #DE on a zero divisor or a quotient that does not fit
    if s == 0:
        return raise_exc(c, 0, 0, 0)
    if size == 1:
        num = getreg(c, 0, 2)
    elif size == 2:
        num = (<u64>getreg(c, 2, 2) << 16) | getreg(c, 0, 2)
    else:
        num = (<u64>c.cpu.regs[2] << 32) | c.cpu.regs[0]
    if op == OP_DIV:
        q = num // s
        rm = num % s
        if q > m:
            return raise_exc(c, 0, 0, 0)
        lo = <u32>q
        hi = <u32>rm
    else:
        if size == 4:
            snum = <i64>num
        else:
            snum = <i64><i32>sext(<u32>num, size * 2)
        sd = <i64><i32>sext(s, size)
        if sd == -1 and snum == (-0x7FFFFFFFFFFFFFFFLL - 1):
            return raise_exc(c, 0, 0, 0)
        # C division (cdivision=True) truncates toward zero, as IDIV does
        sq = snum // sd
        srm = snum % sd
        if sq > <i64>(m >> 1) or sq < -<i64>(m >> 1) - 1:
            return raise_exc(c, 0, 0, 0)
        lo = <u32>sq & m
        hi = <u32>srm & m
    if size == 1:
        setreg(c, 0, 2, (hi << 8) | lo)
    else:
        setreg(c, 0, size, lo)
        setreg(c, 2, size, hi)
    return 0


# ---------------------------------------------------------------- bit ops

cdef int do_bt(CtxC* c, UopC* u) noexcept nogil:
    cdef int size = u.d.ops[0].size
    cdef int bits = size * 8
    cdef u32 a, off, bit, r
    cdef i32 soff
    cdef int st, op = u.d.op
    cdef u32 addr
    st = get_op(c, u, 1, size, &off)
    if st:
        return st
    if u.d.ops[0].kind == OK_MEM and u.d.ops[1].kind == OK_REG:
        # a register bit offset reaches outside the addressed operand
        soff = <i32>sext(off, size)
        addr = c.ea + <u32>((soff >> (3 if size == 1 else (4 if size == 2 else 5))) * size)
        if u.d.asz == 2:
            addr &= 0xFFFF
        bit = <u32>soff & (bits - 1)
        st = rd(c, u.d.seg, addr, size, &a)
        if st:
            return st
    else:
        bit = off & (bits - 1)
        addr = c.ea
        st = get_op(c, u, 0, size, &a)
        if st:
            return st
    r = a
    if op == OP_BTS:
        r = a | (<u32>1 << bit)
    elif op == OP_BTR:
        r = a & ~(<u32>1 << bit)
    elif op == OP_BTC:
        r = a ^ (<u32>1 << bit)
    if op != OP_BT:
        if u.d.ops[0].kind == OK_MEM:
            st = wr(c, u.d.seg, addr, size, r)
            if st:
                return st
        else:
            setreg(c, u.d.ops[0].reg, size, r)
    c.cpu.eflags = (c.cpu.eflags & ~(<u32>F_CF)) | ((a >> bit) & 1)
    return 0


cdef int do_bsx(CtxC* c, UopC* u) noexcept nogil:
    cdef int size = u.d.ops[0].size
    cdef u32 s, i
    cdef int st = get_op(c, u, 1, size, &s)
    if st:
        return st
    # ZF = (source == 0); CF OF SF AF PF are undefined: QEMU sets them as for a
    # logic op on the source (CF=OF=AF=0, SF/PF from the source)
    set_arith(c, fl_szp(s, size))
    if s == 0:
        # destination left unchanged (what P6 and QEMU do; the SDM says undefined)
        return 0
    if u.d.op == OP_BSF:
        i = 0
        while not ((s >> i) & 1):
            i += 1
    else:
        i = size * 8 - 1
        while not ((s >> i) & 1):
            i -= 1
    setreg(c, u.d.ops[0].reg, size, i)
    return 0


# ---------------------------------------------------------------- strings

cdef inline u32 areg(CtxC* c, int r, int asz) noexcept nogil:
    return c.cpu.regs[r] if asz == 4 else (c.cpu.regs[r] & 0xFFFF)


cdef inline void areg_add(CtxC* c, int r, int asz, u32 d) noexcept nogil:
    if asz == 4:
        c.cpu.regs[r] += d
    else:
        c.cpu.regs[r] = (c.cpu.regs[r] & 0xFFFF0000U) | ((c.cpu.regs[r] + d) & 0xFFFF)


cdef u32 rep_bulk(CtxC* c, int op, int size, int src) noexcept nogil:
    """REP MOVS/STOS forward with 32-bit addresses: as many whole elements as
    fit in the current page of EDI (and of ESI) in one go, when rptr/wptr give
    host pointers for the whole run (flat segments, RAM, a TLB hit, no page with
    translated code, so nothing can fault, trap or modify code in between) and
    the source and destination do not overlap.  Returns the elements done (0:
    take one element the ordinary way, which walks, faults or invalidates)."""
    cdef u32 edi = c.cpu.regs[7], esi = c.cpu.regs[6], n = c.cpu.regs[1], room, i, v
    cdef u32 nb
    cdef u8* dp
    cdef u8* sp
    room = (0x1000 - (edi & 0xFFF)) // <u32>size
    if op == OP_MOVS and (0x1000 - (esi & 0xFFF)) // <u32>size < room:
        room = (0x1000 - (esi & 0xFFF)) // <u32>size
    if n > room:
        n = room
    if n < 2:
        return 0
    nb = n * <u32>size
    dp = wptr(c, S_ES, edi, nb)
    if dp == NULL:
        return 0
    if op == OP_MOVS:
        sp = rptr(c, src, esi, nb)
        if sp == NULL or (sp < dp + nb and dp < sp + nb):
            return 0
        memcpy(dp, sp, nb)
        c.cpu.regs[6] = esi + nb
    elif size == 1:
        memset(dp, c.cpu.regs[0] & 0xFF, nb)
    else:
        v = c.cpu.regs[0]
        i = 0
        while i < nb:
            memcpy(dp + i, &v, size)
            i += size
    c.cpu.regs[7] = edi + nb
    c.cpu.regs[1] -= n
    return n


cdef int do_string(CtxC* c, UopC* u) noexcept nogil:
    """MOVS CMPS SCAS LODS STOS, with REP/REPE/REPNE. Each iteration commits
    ESI/EDI/ECX, so a fault mid-way leaves them as the hardware does and the
    instruction restarts from there."""
    cdef int size = u.d.ops[0].size
    cdef int asz = u.d.asz
    cdef int op = u.d.op
    cdef int rep = u.d.prefix & (PF_REP | PF_REPNE)
    cdef int src = u.d.seg
    cdef u32 delta = <u32>(-size) if (c.cpu.eflags & F_DF) else <u32>size
    cdef u32 a, b
    cdef int st
    cdef bint bulk = rep and (op == OP_MOVS or op == OP_STOS) and asz == 4 and \
        not (c.cpu.eflags & F_DF) and not c.ac_on
    while True:
        if rep and areg(c, 1, asz) == 0:
            return 0
        if bulk and rep_bulk(c, op, size, src):
            continue
        if op == OP_MOVS:
            st = rd(c, src, areg(c, 6, asz), size, &a)
            if st:
                return st
            st = wr(c, S_ES, areg(c, 7, asz), size, a)
            if st:
                return st
            areg_add(c, 6, asz, delta)
            areg_add(c, 7, asz, delta)
        elif op == OP_STOS:
            st = wr(c, S_ES, areg(c, 7, asz), size, getreg(c, 0, size))
            if st:
                return st
            areg_add(c, 7, asz, delta)
        elif op == OP_LODS:
            st = rd(c, src, areg(c, 6, asz), size, &a)
            if st:
                return st
            setreg(c, 0, size, a)
            areg_add(c, 6, asz, delta)
        elif op == OP_CMPS:
            st = rd(c, src, areg(c, 6, asz), size, &a)
            if st:
                return st
            st = rd(c, S_ES, areg(c, 7, asz), size, &b)
            if st:
                return st
            alu(c, OP_CMP, a, b, size)
            areg_add(c, 6, asz, delta)
            areg_add(c, 7, asz, delta)
        else:   # SCAS
            st = rd(c, S_ES, areg(c, 7, asz), size, &b)
            if st:
                return st
            alu(c, OP_CMP, getreg(c, 0, size), b, size)
            areg_add(c, 7, asz, delta)
        if not rep:
            return 0
        areg_add(c, 1, asz, 0xFFFFFFFFU)
        if op == OP_CMPS or op == OP_SCAS:
            if (rep & PF_REP) and not (c.cpu.eflags & F_ZF):
                return 0
            if (rep & PF_REPNE) and (c.cpu.eflags & F_ZF):
                return 0
        if c.smc:
            # the store hit translated code: finish this iteration, then restart
            # the instruction from fresh translations
            return ST_REPEAT


# ---------------------------------------------------------------- BCD

cdef int do_bcd(CtxC* c, UopC* u) noexcept nogil:
    cdef u32 al = c.cpu.regs[0] & 0xFF
    cdef u32 ah = (c.cpu.regs[0] >> 8) & 0xFF
    cdef u32 f = c.cpu.eflags
    cdef u32 old_al = al, old_cf = f & F_CF, imm, ax
    cdef int op = u.d.op
    if op == OP_DAA or op == OP_DAS:
        f &= ~(<u32>F_ARITH)
        if (al & 0xF) > 9 or (c.cpu.eflags & F_AF):
            if op == OP_DAA:
                f |= F_CF if (al + 6) > 0xFF or old_cf else 0
                al = (al + 6) & 0xFF
            else:
                f |= F_CF if al < 6 or old_cf else 0
                al = (al - 6) & 0xFF
            f |= F_AF
        if old_al > 0x99 or old_cf:
            al = (al + 0x60) & 0xFF if op == OP_DAA else (al - 0x60) & 0xFF
            f |= F_CF
        elif op == OP_DAA:
            # only DAA clears CF here; DAS keeps the borrow of AL - 6 (SDM DAS)
            f &= ~(<u32>F_CF)
        c.cpu.eflags = f | fl_szp(al, 1)
        setreg(c, 0, 1, al)
    elif op == OP_AAA or op == OP_AAS:
        ax = c.cpu.regs[0] & 0xFFFF
        f &= ~(<u32>(F_CF | F_AF))
        if (al & 0xF) > 9 or (c.cpu.eflags & F_AF):
            if op == OP_AAA:
                ax = (ax + 0x106) & 0xFFFF
            else:
                ax = (ax - 6) & 0xFFFF
                ax = (ax - 0x100) & 0xFFFF
            f |= F_AF | F_CF
        ax &= 0xFF0F
        # SF/ZF/PF/OF are undefined; QEMU leaves them unchanged
        c.cpu.eflags = f
        setreg(c, 0, 2, ax)
    elif op == OP_AAM:
        imm = u.d.ops[0].imm & 0xFF
        if imm == 0:
            return raise_exc(c, 0, 0, 0)
        ah = al // imm
        al = al % imm
        setreg(c, 0, 2, (ah << 8) | al)
        set_arith(c, fl_szp(al, 1))
    else:   # AAD
        imm = u.d.ops[0].imm & 0xFF
        al = (al + ah * imm) & 0xFF
        setreg(c, 0, 2, al)
        set_arith(c, fl_szp(al, 1))
    return 0


# ---------------------------------------------------------------- stack frames

cdef int do_enter(CtxC* c, UopC* u) noexcept nogil:
    cdef u32 size = u.d.ops[0].imm & 0xFFFF
    cdef u32 level = u.d.ops[1].imm & 31
    cdef int osz = u.d.osz
    cdef u32 spm = sp_mask(c)
    cdef u32 sp = c.cpu.regs[4]
    cdef u32 bp = c.cpu.regs[5]
    cdef u32 v, frame, i
    cdef int st
    sp = sp_add(c, sp, <u32>(-osz))
    st = wr(c, S_SS, sp & spm, osz, getreg(c, 5, osz))
    if st:
        return st
    frame = sp
    if level > 0:
        for i in range(1, level):
            if c.cpu.seg[S_SS].flags & SF_BIG:
                bp = bp - osz
            else:
                bp = (bp & 0xFFFF0000U) | ((bp - osz) & 0xFFFF)
            st = rd(c, S_SS, bp & spm, osz, &v)
            if st:
                return st
            sp = sp_add(c, sp, <u32>(-osz))
            st = wr(c, S_SS, sp & spm, osz, v)
            if st:
                return st
        sp = sp_add(c, sp, <u32>(-osz))
        st = wr(c, S_SS, sp & spm, osz, frame)
        if st:
            return st
    sp = sp_add(c, sp, <u32>(-size))
    # the final stack pointer must be usable: a write there must not fault
    if size:
        st = probe_w(c, S_SS, sp & spm, 1)
        if st:
            return st
    setreg(c, 5, osz, frame)
    c.cpu.regs[4] = sp
    return 0


