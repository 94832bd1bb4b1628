# The x87 FPU (issue 8): the P6 floating-point unit with its 80-bit registers,
# control/status/tag words, pointers, exceptions and state save/restore.
#
# Arithmetic runs on the host's own x87 (bt/fpu_host.h): the guest's state is
# loaded into the host unit, the guest's instruction runs there (its memory
# operand redirected to a buffer) and the state is saved back, so results,
# condition codes, tags, exception flags and the masked responses (default
# NaN, #IS with C1, denormals, pseudo-denormals, unsupported encodings,
# precision and rounding control) are the hardware's own, bit for bit.  bt does
# the rest here: decoding the escape, #NM (CR0.EM/TS) and #UD, the guest's
# memory operands (read before, written after, so faults are precise: the
# state changes only once every access has succeeded), the sticky exception
# flags, ES/B and #MF, the guest's instruction/operand pointers and opcode,
# and the control instructions (FLDCW FNSTCW FNSTSW FNCLEX FNINIT FLDENV
# FNSTENV FRSTOR FNSAVE FXSAVE FXRSTOR), whose memory formats depend on the
# guest's mode and operand size.
#
# Live mode (speed): while every exception is masked (the usual control word),
# the guest's state stays loaded in the host x87 from one computing instruction
# to the next (c.fpu_live), and each runs without the FRSTOR/FNSAVE pair (no
# unmasked exception can then arise, so the host never traps).  The state is
# written back to c.cpu.fpu (fpu_spill: FNSAVE, which also gives the host its
# FNINIT state back) before anything else reads or changes it: the control
# instructions, FXSAVE/FXRSTOR, a call into Python (mmio_py) and the end of
# every run (Core.run).  bt's own C code between guest instructions does not
# use the x87 (no long double; doubles are SSE on x86-64).

from libc.string cimport memcmp

cdef extern from "fpu_host.h" nogil:
    int bt_fpu_host_init()
    u64 bt_fpu_host_run(int idx, void* mem, void* image, u64 flags)
    u64 bt_fpu_host_run_live(int idx, void* mem, u64 flags)
    void bt_fpu_host_load(void* image)
    void bt_fpu_host_save(void* image)


# what an x87 encoding does (fpu_kind_reg: escape*64 + ModRM&63 for ModRM >= C0;
# fpu_kind_mem: escape*8 + ModRM.reg for memory forms)
cdef enum FpuKind:
    FK_UD = 0          # no such instruction on the P6: #UD
    FK_HOST            # register form run on the host
    FK_HOST_FLAGS      # FCOMI FCOMIP FUCOMI FUCOMIP: the host's ZF PF CF go to EFLAGS
    FK_LOAD            # memory operand read (fpu_msize bytes), run on the host
    FK_STORE           # memory operand written (fpu_msize bytes), run on the host
    FK_FLDENV
    FK_FLDCW
    FK_FNSTENV
    FK_FNSTCW
    FK_FRSTOR
    FK_FNSAVE
    FK_FNSTSW_M
    FK_FNSTSW_AX
    FK_FNCLEX
    FK_FNINIT
    FK_FNOP_NW         # FENI/FDISI/FSETPM: no-ops since the 80287, non-waiting

cdef u8 fpu_kind_reg[512]
cdef u8 fpu_kind_mem[64]
cdef u8 fpu_msize[64]
cdef int fpu_host_ok = -1


cdef void _fpu_tables():
    cdef int e, m, i
    memset(fpu_kind_reg, FK_HOST, sizeof(fpu_kind_reg))
    memset(fpu_kind_mem, FK_LOAD, sizeof(fpu_kind_mem))
    memset(fpu_msize, 0, sizeof(fpu_msize))
    # register forms that do not exist (SDM vol. 2 opcode map, x87 escapes)
    for m in range(0x11, 0x18):
        fpu_kind_reg[1 * 64 + m] = FK_UD        # D9 D1-D7
    for m in (0x22, 0x23, 0x26, 0x27, 0x2F):
        fpu_kind_reg[1 * 64 + m] = FK_UD        # D9 E2 E3 E6 E7 EF
    for m in range(0x20, 0x40):
        if m != 0x29:
            fpu_kind_reg[2 * 64 + m] = FK_UD    # DA E0-FF except E9 (FUCOMPP)
    fpu_kind_reg[3 * 64 + 0x20] = FK_FNOP_NW    # DB E0 FENI
    fpu_kind_reg[3 * 64 + 0x21] = FK_FNOP_NW    # DB E1 FDISI
    fpu_kind_reg[3 * 64 + 0x22] = FK_FNCLEX
    fpu_kind_reg[3 * 64 + 0x23] = FK_FNINIT
    fpu_kind_reg[3 * 64 + 0x24] = FK_FNOP_NW    # DB E4 FSETPM
    for m in range(0x25, 0x28):
        fpu_kind_reg[3 * 64 + m] = FK_UD
    for m in range(0x28, 0x38):
        fpu_kind_reg[3 * 64 + m] = FK_HOST_FLAGS    # DB E8-F7 FUCOMI FCOMI
    for m in range(0x38, 0x40):
        fpu_kind_reg[3 * 64 + m] = FK_UD
    for m in range(0x30, 0x40):
        fpu_kind_reg[5 * 64 + m] = FK_UD        # DD F0-FF
    for m in range(0x18, 0x20):
        if m != 0x19:
            fpu_kind_reg[6 * 64 + m] = FK_UD    # DE D8-DF except D9 (FCOMPP)
    fpu_kind_reg[7 * 64 + 0x20] = FK_FNSTSW_AX
    for m in range(0x21, 0x28):
        fpu_kind_reg[7 * 64 + m] = FK_UD
    for m in range(0x28, 0x38):
        fpu_kind_reg[7 * 64 + m] = FK_HOST_FLAGS    # DF E8-F7 FUCOMIP FCOMIP
    for m in range(0x38, 0x40):
        fpu_kind_reg[7 * 64 + m] = FK_UD
    # memory forms: operand sizes
    for i in range(8):
        fpu_msize[0 * 8 + i] = 4                # D8: m32fp arithmetic
        fpu_msize[2 * 8 + i] = 4                # DA: m32int arithmetic
        fpu_msize[4 * 8 + i] = 8                # DC: m64fp arithmetic
        fpu_msize[6 * 8 + i] = 2                # DE: m16int arithmetic
    # D9
    fpu_msize[8 + 0] = 4
    fpu_kind_mem[8 + 1] = FK_UD
    fpu_kind_mem[8 + 2] = FK_STORE; fpu_msize[8 + 2] = 4
    fpu_kind_mem[8 + 3] = FK_STORE; fpu_msize[8 + 3] = 4
    fpu_kind_mem[8 + 4] = FK_FLDENV
    fpu_kind_mem[8 + 5] = FK_FLDCW
    fpu_kind_mem[8 + 6] = FK_FNSTENV
    fpu_kind_mem[8 + 7] = FK_FNSTCW
    # DB
    fpu_msize[24 + 0] = 4
    fpu_kind_mem[24 + 1] = FK_UD                # FISTTP: SSE3, not on the P6
    fpu_kind_mem[24 + 2] = FK_STORE; fpu_msize[24 + 2] = 4
    fpu_kind_mem[24 + 3] = FK_STORE; fpu_msize[24 + 3] = 4
    fpu_kind_mem[24 + 4] = FK_UD
    fpu_msize[24 + 5] = 10
    fpu_kind_mem[24 + 6] = FK_UD
    fpu_kind_mem[24 + 7] = FK_STORE; fpu_msize[24 + 7] = 10
    # DD
    fpu_msize[40 + 0] = 8
    fpu_kind_mem[40 + 1] = FK_UD                # FISTTP m64
    fpu_kind_mem[40 + 2] = FK_STORE; fpu_msize[40 + 2] = 8
    fpu_kind_mem[40 + 3] = FK_STORE; fpu_msize[40 + 3] = 8
    fpu_kind_mem[40 + 4] = FK_FRSTOR
    fpu_kind_mem[40 + 5] = FK_UD
    fpu_kind_mem[40 + 6] = FK_FNSAVE
    fpu_kind_mem[40 + 7] = FK_FNSTSW_M
    # DF
    fpu_msize[56 + 0] = 2
    fpu_kind_mem[56 + 1] = FK_UD                # FISTTP m16
    fpu_kind_mem[56 + 2] = FK_STORE; fpu_msize[56 + 2] = 2
    fpu_kind_mem[56 + 3] = FK_STORE; fpu_msize[56 + 3] = 2
    fpu_msize[56 + 4] = 10                      # FBLD
    fpu_msize[56 + 5] = 8                       # FILD m64
    fpu_kind_mem[56 + 6] = FK_STORE; fpu_msize[56 + 6] = 10    # FBSTP
    fpu_kind_mem[56 + 7] = FK_STORE; fpu_msize[56 + 7] = 8     # FISTP m64


_fpu_tables()


cdef int fpu_host_setup() except -1:
    global fpu_host_ok
    if fpu_host_ok < 0:
        fpu_host_ok = 1 if bt_fpu_host_init() == 0 else 0
    if not fpu_host_ok:
        raise OSError("bt: cannot map the x87 stubs (mmap/mprotect PROT_EXEC refused)")
    return 0


# ---------------------------------------------------------------- state helpers

cdef inline u16 ld16(const u8* p) noexcept nogil:
    cdef u16 v
    memcpy(&v, p, 2)
    return v


cdef inline u32 ld32(const u8* p) noexcept nogil:
    cdef u32 v
    memcpy(&v, p, 4)
    return v


cdef inline void st16(u8* p, u32 v) noexcept nogil:
    cdef u16 w = <u16>v
    memcpy(p, &w, 2)


cdef inline void st32(u8* p, u32 v) noexcept nogil:
    memcpy(p, &v, 4)


cdef inline int fpu_top(FpuC* f) noexcept nogil:
    return (f.sw >> 11) & 7


cdef inline u32 fpu_tag_of(const u8* r) noexcept nogil:
    # the tag a non-empty register gets from its contents: 0 valid, 1 zero, 2 special
    cdef u32 e = ld16(r + 8) & 0x7FFF
    cdef u64 m
    memcpy(&m, r, 8)
    if e == 0x7FFF:
        return 2
    if e == 0:
        return 1 if m == 0 else 2
    if not (m >> 63):
        return 2            # unnormal
    return 0


cdef u16 fpu_full_tag(FpuC* f) noexcept nogil:
    """The tag word FSTENV/FSAVE store: empty as held, the rest from the contents."""
    cdef u32 tw = 0
    cdef int i
    for i in range(8):
        if ((f.tw >> (2 * i)) & 3) == 3:
            tw |= 3 << (2 * i)
        else:
            tw |= fpu_tag_of(f.r + 10 * i) << (2 * i)
    return <u16>tw


cdef inline void fpu_update_es(FpuC* f) noexcept nogil:
    # ES (and B, its P6 alias) = some exception flag is set whose mask is clear
    if f.sw & ~f.cw & 0x3F:
        f.sw |= 0x8080
        f.ferr = 1
    else:
        f.sw &= 0x7F7F
        f.ferr = 0


cdef void fpu_reset(FpuC* f) noexcept nogil:
    """FNINIT: control word 0x37F, status 0, all tags empty, pointers 0 (the
    registers keep their contents)."""
    f.cw = 0x037F
    f.sw = 0
    f.tw = 0xFFFF
    f.fop = 0
    f.fip = 0
    f.fdp = 0
    f.fcs = 0
    f.fds = 0
    f.ferr = 0


cdef void fpu_to_image(FpuC* f, u8* img, int keep_flags=0) noexcept nogil:
    # the 108-byte FRSTOR image (32-bit protected-mode format) the host loads
    cdef int top = fpu_top(f), i
    memset(img, 0, 28)
    st16(img, f.cw)
    # C0-C3 and TOP; the flags and SF cleared (to see what the instruction
    # raises) unless kept (live mode), ES and B cleared
    st16(img + 4, f.sw & (0x7F7F if keep_flags else 0x7F00))
    st16(img + 8, f.tw)
    for i in range(8):
        memcpy(img + 28 + 10 * i, f.r + 10 * ((top + i) & 7), 10)


cdef void fpu_from_image(FpuC* f, const u8* img) noexcept nogil:
    cdef u32 sw = ld16(img + 4)
    cdef int top = (sw >> 11) & 7, i
    f.sw = <u16>((sw & 0x7F00) | ((f.sw | sw) & 0x7F))     # flags and SF are sticky
    f.tw = ld16(img + 8)
    for i in range(8):
        memcpy(f.r + 10 * ((top + i) & 7), img + 28 + 10 * i, 10)
    fpu_update_es(f)


cdef void fpu_spill(CtxC* c) noexcept nogil:
    """Live mode off: the host x87's state back into c.cpu.fpu (see above)."""
    cdef u8 img[108]
    if c.fpu_live:
        bt_fpu_host_save(img)
        c.fpu_live = 0
        fpu_from_image(&c.cpu.fpu, img)


cdef inline bint fpu_real_fmt(CtxC* c) noexcept nogil:
    # real-mode layouts of FSTENV/FSAVE: real mode and virtual-8086 mode
    return (c.cpu.cr[0] & 1) == 0 or (c.cpu.eflags & F_VM) != 0


# ---------------------------------------------------------------- memory

cdef int fpu_read(CtxC* c, int s, u32 off, u8* buf, int n) noexcept nogil:
    """n bytes of the guest's memory at s:off into buf (all or a fault)."""
    cdef u32 lin, v
    cdef int st = seg_lin(c, s, off, n, 0, &lin), i = 0
    if st:
        return st
    while i + 4 <= n:
        st = lrd(c, lin + i, 4, &v)
        if st:
            return st
        st32(buf + i, v)
        i += 4
    while i < n:
        st = lrd(c, lin + i, 1, &v)
        if st:
            return st
        buf[i] = <u8>v
        i += 1
    return 0


cdef int fpu_write(CtxC* c, int s, u32 off, const u8* buf, int n) noexcept nogil:
    """buf to n bytes at s:off, after checking that the whole store can succeed."""
    cdef u32 lin
    cdef int st = seg_lin(c, s, off, n, 1, &lin), i = 0
    if st:
        return st
    st = lprobe_w(c, lin, n)
    if st:
        return st
    while i + 4 <= n:
        st = lwr(c, lin + i, 4, ld32(buf + i))
        if st:
            return st
        i += 4
    while i < n:
        st = lwr(c, lin + i, 1, buf[i])
        if st:
            return st
        i += 1
    return 0


# ---------------------------------------------------------------- environment

cdef int fpu_env_store(CtxC* c, u8* out, int osz) noexcept nogil:
    """The FSTENV image for the guest's mode and operand size; returns its length."""
    cdef FpuC* f = &c.cpu.fpu
    cdef u32 tw = fpu_full_tag(f)
    cdef u32 lip, ldp
    if fpu_real_fmt(c):
        lip = (<u32>f.fcs << 4) + f.fip
        ldp = (<u32>f.fds << 4) + f.fdp
        if osz == 4:
            st32(out, 0xFFFF0000U | f.cw)
            st32(out + 4, 0xFFFF0000U | f.sw)
            st32(out + 8, 0xFFFF0000U | tw)
            st32(out + 12, 0xFFFF0000U | (lip & 0xFFFF))
            st32(out + 16, ((lip >> 16) << 12) | (f.fop & 0x7FF))
            st32(out + 20, 0xFFFF0000U | (ldp & 0xFFFF))
            st32(out + 24, (ldp >> 16) << 12)
            return 28
        st16(out, f.cw)
        st16(out + 2, f.sw)
        st16(out + 4, tw)
        st16(out + 6, lip)
        st16(out + 8, (((lip >> 16) & 0xF) << 12) | (f.fop & 0x7FF))
        st16(out + 10, ldp)
        st16(out + 12, ((ldp >> 16) & 0xF) << 12)
        return 14
    if osz == 4:
        st32(out, 0xFFFF0000U | f.cw)
        st32(out + 4, 0xFFFF0000U | f.sw)
        st32(out + 8, 0xFFFF0000U | tw)
        st32(out + 12, f.fip)
        st32(out + 16, f.fcs | (<u32>(f.fop & 0x7FF) << 16))
        st32(out + 20, f.fdp)
        st32(out + 24, 0xFFFF0000U | f.fds)
        return 28
    st16(out, f.cw)
    st16(out + 2, f.sw)
    st16(out + 4, tw)
    st16(out + 6, f.fip)
    st16(out + 8, f.fcs)
    st16(out + 10, f.fdp)
    st16(out + 12, f.fds)
    return 14


cdef void fpu_set_tags(FpuC* f, u32 tw) noexcept nogil:
    # a loaded tag word: only "empty" is taken from it, the rest comes from the contents
    f.tw = <u16>tw
    f.tw = fpu_full_tag(f)


cdef int fpu_env_load(CtxC* c, const u8* p, int osz, FpuC* f) noexcept nogil:
    """Parse an FLDENV image into f (registers not touched); returns its length."""
    cdef u32 lip, ldp, w
    f.cw = <u16>((ld16(p) & 0x1F3F) | 0x40)
    if osz == 4:
        f.sw = ld16(p + 4)
        f.tw = ld16(p + 8)
        if fpu_real_fmt(c):
            w = ld32(p + 16)
            f.fip = (ld32(p + 12) & 0xFFFF) | ((w >> 12) << 16)
            f.fop = w & 0x7FF
            f.fcs = 0
            f.fdp = (ld32(p + 20) & 0xFFFF) | ((ld32(p + 24) >> 12) << 16)
            f.fds = 0
        else:
            f.fip = ld32(p + 12)
            w = ld32(p + 16)
            f.fcs = <u16>w
            f.fop = (w >> 16) & 0x7FF
            f.fdp = ld32(p + 20)
            f.fds = ld16(p + 24)
        return 28
    f.sw = ld16(p + 2)
    f.tw = ld16(p + 4)
    if fpu_real_fmt(c):
        w = ld16(p + 8)
        f.fip = ld16(p + 6) | ((w >> 12) << 16)
        f.fop = w & 0x7FF
        f.fcs = 0
        f.fdp = ld16(p + 10) | ((<u32>ld16(p + 12) >> 12) << 16)
        f.fds = 0
    else:
        f.fip = ld16(p + 6)
        f.fcs = ld16(p + 8)
        f.fop = 0
        f.fdp = ld16(p + 10)
        f.fds = ld16(p + 12)
    return 14


# ---------------------------------------------------------------- execution

cdef inline int fpu_pending(CtxC* c) noexcept nogil:
    """At a waiting instruction: a pending unmasked exception gives #MF (CR0.NE=1).
    With CR0.NE=0 the P6 signals FERR# for IRQ 13 instead (fpu.ferr, left for the
    PIC) and, as with IGNNE# asserted, goes on."""
    if c.cpu.fpu.sw & 0x80:
        if c.cpu.cr[0] & 0x20:
            return raise_exc(c, 16, 0, 0)
        if not c.ferr_latch:
            # FERR#: the PC board latches it onto IRQ 13 (the loop leaves at the
            # next block boundary for the Python PIC; an OUT to port 0xF0 clears
            # the latch and lowers the line)
            c.ferr_latch = 1
            c.ferr_request = 1
            c.stop_request = 3
            c.smc = 1             # leave the block after this instruction
        c.cpu.fpu.ferr = 1
    return 0


cdef int fpu_wait(CtxC* c) noexcept nogil:
    # WAIT/FWAIT: #NM with CR0.TS and CR0.MP, then any pending #MF
    if (c.cpu.cr[0] & 0xA) == 0xA:
        return raise_exc(c, 7, 0, 0)
    return fpu_pending(c)


cdef inline void fpu_note_insn(CtxC* c, UopC* u, int mem) noexcept nogil:
    # the last non-control instruction: CS:EIP, opcode and (memory form) DS:offset
    cdef FpuC* f = &c.cpu.fpu
    f.fip = (c.beip + u.eoff) & c.ipmask
    f.fcs = c.cpu.seg[S_CS].sel
    f.fop = <u16>(((u.d.cc & 7) << 8) | u.d.ops[0].reg)
    if mem:
        f.fdp = c.ea
        f.fds = c.cpu.seg[u.d.seg].sel


cdef int fpu_host_op(CtxC* c, UopC* u, int kind, int idx, int n) noexcept nogil:
    cdef FpuC* f = &c.cpu.fpu
    cdef u8 img[108]
    cdef u8 img2[108]
    cdef u8 buf[16]
    cdef u8 buf2[16]
    cdef u64 fl
    cdef int st, written = 1
    cdef u32 lin
    memset(buf, 0, 16)
    if kind == FK_LOAD:
        st = fpu_read(c, u.d.seg, c.ea, buf, n)
        if st:
            return st
    elif kind == FK_STORE:
        # the store must not fault once the instruction has run
        st = seg_lin(c, u.d.seg, c.ea, n, 1, &lin)
        if st:
            return st
        st = lprobe_w(c, lin, n)
        if st:
            return st
    if kind == FK_STORE and not lin_ok(c, lin, n):
        fpu_spill(c)            # a store to MMIO may fail after the fact: the exact path
    elif c.fpu_live or (f.cw & 0x3F) == 0x3F:
        if not c.fpu_live:
            fpu_to_image(f, img, 1)
            bt_fpu_host_load(img)
            c.fpu_live = 1
        fl = bt_fpu_host_run_live(idx, buf, c.cpu.eflags)
        if kind == FK_STORE:
            st = fpu_write(c, u.d.seg, c.ea, buf, n)
            if st:
                return st
        elif kind == FK_HOST_FLAGS:
            c.cpu.eflags = (c.cpu.eflags & ~(<u32>F_ARITH)) | (<u32>fl & F_ARITH)
        fpu_note_insn(c, u, kind == FK_LOAD or kind == FK_STORE)
        return 0
    fpu_to_image(f, img)
    if kind == FK_STORE:
        memcpy(img2, img, 108)
    fl = bt_fpu_host_run(idx, buf, img, c.cpu.eflags)
    if kind == FK_STORE:
        if ld16(img + 4) & ~f.cw & 0x1F:
            # an unmasked exception other than #P: the hardware may have left the
            # destination alone; run again over another buffer to see
            memset(buf2, 0xFF, 16)
            bt_fpu_host_run(idx, buf2, img2, c.cpu.eflags)
            if memcmp(buf, buf2, n) != 0:
                written = 0
        if written:
            st = fpu_write(c, u.d.seg, c.ea, buf, n)
            if st:
                return st
    elif kind == FK_HOST_FLAGS:
        c.cpu.eflags = (c.cpu.eflags & ~(<u32>F_ARITH)) | (<u32>fl & F_ARITH)
    fpu_from_image(f, img)
    fpu_note_insn(c, u, kind == FK_LOAD or kind == FK_STORE)
    return 0


cdef int fpu_exec(CtxC* c, UopC* u) noexcept nogil:
    """One x87 instruction (OP_FPU), or FXSAVE/FXRSTOR."""
    cdef FpuC* f = &c.cpu.fpu
    cdef FpuC t
    cdef int op = u.d.op, esc = u.d.cc & 7, modrm = u.d.ops[0].reg
    cdef int mem = u.d.ops[0].kind == OK_MEM
    cdef int kind, idx, st, n, top, i
    cdef u8 b[512]
    cdef u32 lin
    if c.cpu.cr[0] & 0xC:
        return raise_exc(c, 7, 0, 0)                 # CR0.EM or CR0.TS: #NM
    if op == OP_FXSAVE or op == OP_FXRSTOR:
        fpu_spill(c)
        return fpu_fxsr(c, u, op == OP_FXSAVE)
    if mem:
        idx = esc * 8 + ((modrm >> 3) & 7)
        kind = fpu_kind_mem[idx]
        n = fpu_msize[idx]
        idx += 512
    else:
        idx = esc * 64 + (modrm & 63)
        kind = fpu_kind_reg[idx]
        n = 0
    if kind == FK_UD:
        return raise_exc(c, 6, 0, 0)
    if c.fpu_live and kind > FK_STORE:
        fpu_spill(c)                    # the control instructions work on c.cpu.fpu
    # the non-waiting control instructions: no #MF check, no pointer update
    if kind == FK_FNINIT:
        fpu_reset(f)
        return 0
    if kind == FK_FNCLEX:
        f.sw &= 0x7F00
        f.ferr = 0
        return 0
    if kind == FK_FNSTSW_AX:
        setreg(c, 0, 2, f.sw)
        return 0
    if kind == FK_FNOP_NW:
        return 0
    if kind == FK_FNSTSW_M:
        st16(b, f.sw)
        return fpu_write(c, u.d.seg, c.ea, b, 2)
    if kind == FK_FNSTCW:
        st16(b, f.cw)
        return fpu_write(c, u.d.seg, c.ea, b, 2)
    if kind == FK_FNSTENV:
        n = fpu_env_store(c, b, u.d.osz)
        st = fpu_write(c, u.d.seg, c.ea, b, n)
        if st:
            return st
        f.cw |= 0x3F                                # then masks every exception
        fpu_update_es(f)                            # (which clears ES and B)
        return 0
    if kind == FK_FNSAVE:
        n = fpu_env_store(c, b, u.d.osz)
        top = fpu_top(f)
        for i in range(8):
            memcpy(b + n + 10 * i, f.r + 10 * ((top + i) & 7), 10)
        st = fpu_write(c, u.d.seg, c.ea, b, n + 80)
        if st:
            return st
        fpu_reset(f)
        return 0
    # waiting instructions
    st = fpu_pending(c)
    if st:
        return st
    if kind == FK_FLDCW:
        st = fpu_read(c, u.d.seg, c.ea, b, 2)
        if st:
            return st
        f.cw = <u16>((ld16(b) & 0x1F3F) | 0x40)
        fpu_update_es(f)
        return 0
    if kind == FK_FLDENV or kind == FK_FRSTOR:
        n = 28 if u.d.osz == 4 else 14
        st = fpu_read(c, u.d.seg, c.ea, b, n + (80 if kind == FK_FRSTOR else 0))
        if st:
            return st
        t = f[0]
        fpu_env_load(c, b, u.d.osz, &t)
        if kind == FK_FRSTOR:
            top = (t.sw >> 11) & 7
            for i in range(8):
                memcpy(t.r + 10 * ((top + i) & 7), b + n + 10 * i, 10)
        fpu_set_tags(&t, t.tw)
        fpu_update_es(&t)
        f[0] = t
        return 0
    return fpu_host_op(c, u, kind, idx, n)


cdef int fpu_fxsr(CtxC* c, UopC* u, int save) noexcept nogil:
    """FXSAVE/FXRSTOR m512byte (legacy 32-bit layout; no SSE: the XMM area is
    neither written nor read, MXCSR round-trips)."""
    cdef FpuC* f = &c.cpu.fpu
    cdef FpuC t
    cdef u8 b[512]
    cdef u32 lin, tw = 0
    cdef int st, i, top
    if u.d.prefix & (PF_OPSIZE | PF_REP | PF_REPNE):
        return raise_exc(c, 6, 0, 0)
    st = seg_lin(c, u.d.seg, c.ea, 512, not save, &lin)
    if st:
        return st
    if lin & 15:
        return raise_exc(c, 13, 0, 1)
    top = fpu_top(f)
    if save:
        memset(b, 0, 160)
        st16(b, f.cw)
        st16(b + 2, f.sw)
        for i in range(8):
            if ((f.tw >> (2 * i)) & 3) != 3:
                tw |= 1 << i
        b[4] = <u8>tw
        st16(b + 6, f.fop & 0x7FF)
        st32(b + 8, f.fip)
        st16(b + 12, f.fcs)
        st32(b + 16, f.fdp)
        st16(b + 20, f.fds)
        st32(b + 24, f.mxcsr)
        st32(b + 28, 0xFFBF)
        for i in range(8):
            memcpy(b + 32 + 16 * i, f.r + 10 * ((top + i) & 7), 10)
        return fpu_write(c, u.d.seg, c.ea, b, 160)
    st = fpu_read(c, u.d.seg, c.ea, b, 160)
    if st:
        return st
    if ld32(b + 24) & ~(<u32>0xFFBF):
        return raise_exc(c, 13, 0, 1)
    t = f[0]
    t.cw = <u16>((ld16(b) & 0x1F3F) | 0x40)
    t.sw = ld16(b + 2)
    t.fop = ld16(b + 6) & 0x7FF
    t.fip = ld32(b + 8)
    t.fcs = ld16(b + 12)
    t.fdp = ld32(b + 16)
    t.fds = ld16(b + 20)
    t.mxcsr = ld32(b + 24)
    top = (t.sw >> 11) & 7
    for i in range(8):
        memcpy(t.r + 10 * ((top + i) & 7), b + 32 + 16 * i, 10)
        if not (b[4] >> i) & 1:
            tw |= 3 << (2 * i)
    fpu_set_tags(&t, tw)
    fpu_update_es(&t)
    f[0] = t
    return 0
