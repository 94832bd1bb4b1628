# Translation and the translated-block cache.
#
# translate() decodes guest code from a physical address up to the end of its
# basic block (a control transfer, a system instruction, the end of the 4 KiB
# page, or the length cap) into micro-ops.  Blocks are keyed by the physical
# address of their first byte plus the mode bits that change how bytes decode
# or what they may do (CS.D, CPL, CR0.PE, CR0.PG); micro-ops keep EIP offsets
# relative to the block, so a block is valid wherever it is reached from.





cdef inline bint ends_block(int op) noexcept nogil:
    return (op == OP_JCC or op == OP_JMP or op == OP_JMP_IND or op == OP_CALL or
            op == OP_CALL_IND or op == OP_RET or op == OP_LOOP or op == OP_LOOPE or
            op == OP_LOOPNE or op == OP_JCXZ or op == OP_INVALID or op == OP_UD2 or
            op == OP_POPF or (op >= OP_HLT and not inline_callout(op)))


cdef inline bint inline_callout(int op) noexcept nogil:
    # callouts that may sit in the middle of a block: they change neither CS,
    # the CPL, CR0/CR4, the paging structures, IF (STI must end its block so
    # that a pending interrupt is taken after the shadow) nor anything a
    # translation depends on; a fault or an exit to Python from one is precise
    # like any other instruction's
    return (op == OP_CLI or op == OP_IN or op == OP_OUT or op == OP_INS or op == OP_OUTS or
            op == OP_CPUID or op == OP_RDTSC or op == OP_RDMSR or op == OP_WRMSR or
            op == OP_PUSHF or op == OP_PUSH_SREG or op == OP_MOV_FROM_SREG or
            op == OP_SGDT or op == OP_SIDT or op == OP_SMSW or op == OP_SLDT or
            op == OP_STR or op == OP_LAR or op == OP_LSL or op == OP_VERR or
            op == OP_VERW or op == OP_ARPL or op == OP_BOUND)


cdef inline bint lockable(InsnC* d) noexcept nogil:
    cdef int op = d.op
    if d.ops[0].kind != OK_MEM:
        return False
    return (op == OP_ADD or op == OP_ADC or op == OP_AND or op == OP_BTC or op == OP_BTR or
            op == OP_BTS or op == OP_CMPXCHG or op == OP_CMPXCHG8B or op == OP_DEC or
            op == OP_INC or op == OP_NEG or op == OP_NOT or op == OP_OR or op == OP_SBB or
            op == OP_SUB or op == OP_XOR or op == OP_XADD or op == OP_XCHG)


cdef void set_static_exits(CtxC* c, BlockC* b) noexcept nogil:
    # The exits the chain strategy may link: both arms of Jcc, the target of a
    # direct JMP/CALL, and the fall-through of a block cut by the length cap.
    # Offsets are from the block's first byte, so a block stays position-free.
    cdef UopC* u = &b.uops[b.nuops - 1]
    cdef int op = u.d.op
    cdef u32 nxt = u.eoff + u.d.len
    b.exit_delta[0] = NO_EXIT
    b.exit_delta[1] = NO_EXIT
    b.link[0] = NULL
    b.link[1] = NULL
    if op == OP_JCC or op == OP_JMP or op == OP_CALL:
        b.exit_delta[0] = nxt + u.d.ops[0].imm
        if op == OP_JCC:
            b.exit_delta[1] = nxt
    elif not ends_block(op) or op == OP_STI:
        # STI ends its block only so that a waiting interrupt is taken after
        # the shadow: its fall-through may be chained
        b.exit_delta[1] = nxt


cdef void kill_dead_flags(BlockC* b) noexcept nogil:
    """Dead-flag elimination inside a block: an ALU instruction whose arithmetic
    flags are all overwritten before anything reads them switches to a form that
    skips computing them.  Only instructions that cannot fault or leave the block
    may lie between the two (anything else counts as reading every flag: a fault
    handler, an exit to Python or a hook sees EFLAGS), and a block that is cut
    short (TF, a budget, an interrupt shadow) runs the generic definitions, so
    EFLAGS is exact wherever execution can stop."""
    cdef u32 live = F_ARITH, w, r
    cdef int i, h, op, dead
    cdef UopC* u
    i = <int>b.nuops - 1
    while i >= 0:
        u = &b.uops[i]
        h = u.h
        op = u.d.op
        w = 0
        r = 0
        dead = -1
        if h == H_MOV_RR or h == H_MOV_RI or h == H_LEA or h == H_NOP_NF:
            pass
        elif h == H_ADD_RR or h == H_ADD_RI:
            w = F_ARITH
            dead = H_ADD_NF
        elif h == H_SUB_RR or h == H_SUB_RI:
            w = F_ARITH
            dead = H_SUB_NF
        elif h == H_AND_RR or h == H_AND_RI:
            w = F_ARITH
            dead = H_AND_NF
        elif h == H_OR_RR or h == H_OR_RI:
            w = F_ARITH
            dead = H_OR_NF
        elif h == H_XOR_RR or h == H_XOR_RI:
            w = F_ARITH
            dead = H_XOR_NF
        elif h == H_CMP_RR or h == H_CMP_RI or h == H_TEST_RR or h == H_TEST_RI or h == H_CMP8:
            w = F_ARITH
            dead = H_NOP_NF
        elif h == H_NEG_R:
            w = F_ARITH
        elif h == H_INC_R:
            w = F_ARITH & ~F_CF
            dead = H_INC_NF
        elif h == H_DEC_R:
            w = F_ARITH & ~F_CF
            dead = H_DEC_NF
        elif h == H_SHIFT_RI:
            w = F_CF | F_OF if (op == OP_ROL or op == OP_ROR) else F_ARITH
            if op == OP_SHL or op == OP_SHR or op == OP_SAR:
                dead = H_SHIFT_NF
        elif h == H_MOVX_RR:
            pass
        elif h == H_ADC_RX:
            w = F_ARITH
            r = F_CF
        else:
            r = F_ARITH          # may read flags, fault or leave: everything is live
        if dead >= 0 and (w & live) == 0:
            u.h = <u16>dead
        live = (live & ~w) | r
        i -= 1


cdef int translate(CtxC* c, u32 eip, u32 lin, u32 pa, int max_insns, BlockC* out) noexcept nogil:
    """Fill out (room for MAX_BLOCK_INSNS uops) with the block at eip, whose
    first byte is at linear lin, physical pa.

    Returns 0, or a status when not even the first instruction can be fetched
    (ST_FAULT for #GP past CS.limit or a #PF on the page of its last bytes,
    ST_STOP_BEFORE for code outside RAM).
    out.pa is set to 0xFFFFFFFFU when the block must not be cached (its only
    instruction crosses into the next page).
    """
    cdef SegC* cs = &c.cpu.seg[S_CS]
    cdef bint code32 = (cs.flags & SF_BIG) != 0
    cdef bint paging = paging_on(c)
    cdef u32 off = 0, ipa, avail, page_end = (pa & 0xFFFFF000U) + 0x1000, k, npa, m2
    cdef int n = 0, ln, st
    cdef u8 buf[16]
    cdef UopC* u
    cdef u64 t0 = rdtsc()
    out.pa = pa
    if max_insns > MAX_BLOCK_INSNS:
        max_insns = MAX_BLOCK_INSNS
    while n < max_insns:
        ipa = pa + off
        if ((eip + off) & c.ipmask) > cs.limit:
            if n == 0:
                return raise_exc(c, 13, 0, 1)
            break
        if ipa >= c.ram_size:
            if n == 0:
                return bad_mem(c, ipa, 1)
            break
        avail = c.ram_size - ipa
        if avail > 15:
            avail = 15
        u = &out.uops[n]
        if paging and ipa + avail > page_end:
            # the bytes past this page come from wherever the next linear page
            # maps: fetch them (and fault on them) only if the instruction needs them
            k = page_end - ipa
            ln = bt_decode(c.decoder, c.ram + ipa, k, eip + off, code32, &u.d)
            if ln == 0:
                if n > 0:
                    break        # it starts a block of its own
                st = tlb_fetch(c, lin + off + k, &npa)     # the first byte of the next page
                if st:
                    return st
                if npa >= c.ram_size:
                    return bad_mem(c, npa, 1)
                m2 = c.ram_size - npa
                if m2 > 15 - k:
                    m2 = 15 - k
                memcpy(buf, c.ram + ipa, k)
                memcpy(buf + k, c.ram + npa, m2)
                avail = k + m2
                ln = bt_decode(c.decoder, buf, avail, eip + off, code32, &u.d)
        else:
            ln = bt_decode(c.decoder, c.ram + ipa, avail, eip + off, code32, &u.d)
        if ln == 0:
            if avail < 15:
                # maybe just truncated by the end of RAM
                if n == 0:
                    return bad_mem(c, ipa, 15)
                break
            u.d.op = OP_INVALID
            u.d.len = 1
            ln = 1
        elif (u.d.prefix & PF_LOCK) and not lockable(&u.d):
            u.d.op = OP_INVALID
        if <u64>((eip + off) & c.ipmask) + <u32>ln - 1 > cs.limit:
            # the instruction's last byte is past CS.limit: #GP(0) when it is reached
            if n == 0:
                return raise_exc(c, 13, 0, 1)
            break
        if ipa + ln > page_end:
            if n > 0:
                break            # starts a block of its own
            out.pa = 0xFFFFFFFFU  # spans two pages: run it, never cache it
        u.eoff = <u16>off
        if c.strategy == STRAT_INTERP or c.ac_on:
            u.h = 0          # generic definitions: the reference, and the only ones checking alignment
        else:
            select_handler(c, u)
        n += 1
        off += ln
        if ends_block(u.d.op) or ipa + ln >= page_end:
            break
        if ((eip + off) & c.ipmask) < ((eip + off - <u32>ln) & c.ipmask):
            # 16-bit IP wrapped to 0: the next instruction is at CS.base, not
            # at the next linear byte
            break
    out.nuops = n
    out.ninsns = n
    out.nbytes = off
    if c.strategy != STRAT_INTERP and not c.ac_on:
        kill_dead_flags(out)
    out.hits = 0
    out.native = NULL
    set_static_exits(c, out)
    c.translate_cycles += rdtsc() - t0
    c.insns_translated += n
    return 0


