# cython: language_level=3
"""bt's engine: the run context, the translated-block cache and the hot loop.

The loop (run_loop) is C without the GIL: it looks a block up (a direct-mapped
jump cache on the linear EIP in front of the hash table on physical address and
mode), translates on a miss, runs its micro-ops, and looks at the instruction
budget and stop requests only between blocks.  It returns to Python for what
Python must do (port I/O to device models, an exception the guest cannot take
yet, HLT, the end of the budget) with an exit code.
"""
from libc.stdlib cimport malloc, calloc, free
from libc.string cimport memset, memcpy
cimport numpy as cnp
import numpy as np

from bt._types cimport u8, u16, u32, u64, i8, i16, i32, i64
from bt._insn cimport *
from bt._state cimport *
from bt.decoder cimport decoder_new, decoder_free, bt_decode

cnp.import_array()

cdef extern from "<x86intrin.h>" nogil:
    # the host TSC times translation: clock_gettime costs ~250 ns in this kind of VM
    unsigned long long rdtsc "__rdtsc" ()


cdef enum:
    MAX_BLOCK_INSNS = 64
    NO_EXIT = 0xFFFFFFFFU
    HT_BITS = 16
    FINE_AFTER = 4        # whole-page invalidations before a page's code bytes are tracked
    POST_RING = 4096
    JC_BITS = 12

# Why the loop returned (mirrored by bt.machine.ExitKind)
cdef enum ExitCode:
    EXIT_NONE = 0
    EXIT_MAX_INSNS = 1
    EXIT_HLT = 2
    EXIT_EXCEPTION = 3
    EXIT_BAD_MEM = 4
    EXIT_STOP = 5
    EXIT_IO = 6
    EXIT_UNSUPPORTED = 7
    EXIT_ERROR = 8        # a Python device or hook raised; Core._pending_error holds it
    # 9 is bt.machine.ExitKind.GUEST_EXIT (Python side only)
    EXIT_IRQ = 10         # INTR is up and the guest can take it: Python acknowledges the PIC
    EXIT_TRIPLE_FAULT = 11  # a fault while delivering #DF: the CPU shuts down
    # 12 is bt.machine.ExitKind.RESET (Python side only)
    EXIT_FERR = 13        # the x87 raised FERR# with CR0.NE=0: Python raises IRQ 13

# Micro-op status (see semantics.pxi)
cdef enum Status:
    ST_OK = 0
    ST_JUMP = 1
    ST_FAULT = 2
    ST_STOP_BEFORE = 3
    ST_STOP_AFTER = 4
    ST_REPEAT = 5
    ST_UNSUPPORTED_FAR = 6

# Strategies
cdef enum Strategy:
    STRAT_INTERP = 0
    STRAT_BLOCK = 1
    STRAT_CHAIN = 2
    STRAT_NATIVE = 3      # chain + native code for blocks (native.pxi)

ctypedef struct JcEntryC:
    u32 lin
    u32 mode
    BlockC* b
    u64 epoch         # valid only while equal to CtxC.jc_epoch

# One software-TLB entry (tlb.pxi): tags for read, write and fetch, each the
# linear page address (fast path), or with TLB_SLOW / TLB_INVALID in the low bits
ctypedef struct TlbEntryC:
    u32 tag[3]
    u32 lin               # linear page address
    u32 pa                # physical page address
    u32 flags             # TE_GLOBAL | TE_LARGE
    size_t addend         # host address of the page minus its linear address

ctypedef struct CtxC:
    CpuStateC cpu
    u8* ram               # guest physical memory (the numpy array's buffer)
    u32 ram_size
    u32 npages
    void* decoder
    void* owner           # the Core object (borrowed), for MMIO calls into Python
    int mmio_enabled      # some MMIO window exists: accesses outside RAM ask Python
    int strategy
    int running           # inside run_loop: blocks may be in use, keep the graveyard
    int stop_request      # set from another thread to end the run at a block boundary (2: a hook raised)
    int hook_mask         # HOOK_* bits: which research hooks are set
    int ferr_request      # FERR# went up (CR0.NE=0): IRQ 13 for the PIC
    int ferr_latch        # the board's FERR# latch (cleared by an OUT to port 0xF0)
    int irq_line          # the PIC's INTR output: taken at a block boundary when IF=1
    u32 intercept         # exception vectors 0-31 that end the run instead of being delivered
    int intercept_int     # INT n with n >= 32 ends the run too
    u64 idle              # instructions' worth of virtual time skipped by HLT
    int ac_on             # alignment checking is active (mode bit 5): generic handlers check it
    int fpu_live          # the guest's x87 state is loaded in the host x87 (fpu.pxi):
                          # call fpu_spill(c) before calling Python from inside the loop
    # translated-block cache
    BlockC** htab         # 1 << HT_BITS chains keyed by (pa, mode)
    JcEntryC* jc          # 1 << JC_BITS direct-mapped on linear EIP
    u64 jc_epoch          # bumped by every invalidation: drops the whole jump cache in O(1)
    BlockC** page_blocks  # per 4 KiB physical page: its blocks (for invalidation)
    u8* code_map          # per page: 1 while it holds translated code (the store check)
    u8* code_inval        # per page: whole-page invalidations so far (saturating)
    u8** fine             # per page: NULL, or a 4096-bit map of its bytes holding code
    BlockC* all_blocks
    BlockC* graveyard     # unlinked blocks, freed at the next block boundary
    BlockC* scratch       # translation buffer; the interp strategy runs from it
    u32 nblocks
    u32 max_blocks        # cache bound: a full cache is flushed
    # per-block execution state
    u32 beip              # EIP of the running block's first instruction
    u32 ipmask            # 0xFFFF for 16-bit code
    u32 ea                # effective address of the current micro-op
    UopC* cur_uops
    int smc               # a store hit translated code: leave the block
    BlockC* ru_blk        # run_uops' results (fastpath.pxi)
    u32 ru_i
    u64 ru_chained
    int exit_k            # the static exit (0 taken/target, 1 fall-through) the block's
                          # last uop took; 2: none (reset at every block entry)
    int mode_dirty        # CR0/CR4 changed
    # exit and exception reporting
    int exit_kind
    u32 exit_addr
    u32 exit_size
    int exc_vec
    u32 exc_err
    int exc_has_err
    SegC tmpseg
    SegC tmpseg2
    # port I/O: the access that left the loop (EXIT_IO), and the C devices
    u32 io_port
    int io_size
    int io_write
    int io_string
    int io_len
    u8* port_map          # 65536 entries: PORT_PY or a C device
    u64 io_fast           # IN/OUT completed in C
    u64 post_count        # the C POST port (0x80): codes written, the last, a ring
    u32 post_last
    u8 post_ring[POST_RING]
    # software TLB (tlb.pxi): 2 * tlb_n entries, supervisor table then user table
    TlbEntryC* tlb
    TlbEntryC* tlb_tab[2] # the supervisor table (tlb), the user table (tlb + tlb_n)
    u32 tlb_n
    u32 tlb_mask
    int tlb_any_global    # an entry may be global (a CR3 flush must scan)
    int tlb_any_large     # an entry may be a piece of a 4 MiB page (INVLPG must scan)
    u8* tlb_wmap          # per physical page: a fast write tag may point here
    u32* tlb_log          # indices of the entries filled since the last flush ...
    u32 tlb_log_n
    int tlb_log_full      # ... unless it overflowed: then a flush clears every entry
    u32 cpuid[16][4]      # leaves 0..7 and 0x80000000U..7
    # native code (native.pxi): an executable buffer, filled block after block,
    # started over by flush_all; full: the next translation flushes the cache
    u8* nat_buf
    size_t nat_size
    size_t nat_used
    int nat_full
    # native links (native.pxi e_link): a native block's static exit jumps
    # straight into its linked successor's native code while these allow it
    u32 nat_budget        # instructions the linked successors may still retire
    u32 nat_chained       # instructions retired by earlier blocks of this native run
    BlockC* nat_blk       # the block the native run ended in (when nat_chained > 0)
    # counters
    u64 insns
    u64 blocks_translated
    u64 insns_translated
    u64 cache_hits
    u64 cache_misses
    u64 jc_hits
    u64 chain_hits
    u64 chain_links
    u64 invalidations
    u64 page_invalidations  # whole pages dropped by a store
    u64 range_invalidations # parts of fine-tracked pages dropped
    u64 fine_misses         # stores to fine-tracked code pages that missed the code
    u64 fine_pages
    u64 flushes
    u64 translate_cycles    # host TSC cycles spent translating
    u64 mmio_accesses
    u64 tlb_hits[3]         # fast-path hits: read, write, fetch
    u64 tlb_misses[3]       # misses (a walk follows)
    u64 tlb_slow[3]         # slow-path accesses through a present entry (MMIO, code page, crossing)
    u64 tlb_walks
    u64 tlb_faults          # page faults raised
    u64 tlb_flushes         # full flushes
    u64 tlb_flushes_cr3     # non-global flushes (CR3 writes)
    u64 tlb_invlpg
    u64 tlb_code_scans      # write tags marked because their page became code
    u64 exc_count[32]     # exceptions raised, by vector
    u64 vec_count[256]    # events delivered through the IDT/IVT, by vector
    u64 callouts[<int>OP_COUNT]
    u64 nat_blocks          # blocks given native code
    u64 nat_insns_compiled  # guest instructions compiled to native code
    u64 nat_runs            # native code entered
    u64 nat_insns           # guest instructions retired by native code
    u64 nat_partial         # ... runs that handed the rest of the block to the micro-ops
    u64 nat_resets          # code buffer started over (with a cache flush)
    u64 nat_paged_blocks    # blocks given native code with paging on (TLB probes)
    u64 nat_link_hits       # native exits that jumped into the successor's native code
    u64 nat_ret_link_hits   # native RETs that jumped into the returned-to block's native code
    # code-segment descriptors decoded by the INT/IRET fast paths (idt.pxi
    # cs_from_desc): the raw descriptor just read from memory -> its SegC
    u32 dc_sel[4]
    u32 dc_lo[4]
    u32 dc_hi[4]
    SegC dc_seg[4]
    # lazy arithmetic flags (flags.pxi; last, so that nothing above moves):
    # while cc_op != CC_EAGER the arithmetic bits of cpu.eflags are stale and
    # follow from the last operation
    u32 cc_op
    u32 cc_a
    u32 cc_b
    u32 cc_r


include "cache.pxi"
include "memory.pxi"
include "tlb.pxi"
include "semantics.pxi"
include "flags.pxi"
include "fpu.pxi"
include "hv.pxi"
include "idt.pxi"
include "protect.pxi"
include "ioports.pxi"
include "hooks.pxi"
include "dispatch.pxi"
include "fastpath.pxi"
include "translator.pxi"
include "native.pxi"


cdef inline u32 mode_bits(CtxC* c) noexcept nogil:
    # bit 5: alignment checking (CR0.AM, EFLAGS.AC, CPL 3): #AC on misaligned data
    return ((c.cpu.seg[S_CS].flags & SF_BIG) != 0) | (<u32>c.cpu.cpl << 1) | \
           ((c.cpu.cr[0] & 1) << 3) | (((c.cpu.cr[0] >> 31) & 1) << 4) | \
           ((((c.cpu.cr[0] & c.cpu.eflags) >> 18) & (c.cpu.cpl == 3)) << 5)


cdef int single_step_trap(CtxC* c, UopC* u) noexcept nogil:
    # TF was set when the instruction began: a #DB trap after it (DR6.BS).
    # INT n, INT3 and INTO cleared TF on their way into the handler: no trap.
    if u.d.op == OP_INT or u.d.op == OP_INT3 or u.d.op == OP_INTO:
        return 0
    if c.cpu.shadow == 2:
        return 0       # MOV SS / POP SS: the trap waits until after the next instruction
    c.cpu.dr[6] |= 0x4000
    c.exc_count[1] += 1
    return take_event(c, 1, 0, 0, EV_EXT)


cdef int run_loop(CtxC* c, u64 budget) noexcept nogil:
    cdef u64 left = budget
    cdef BlockC* b = NULL
    cdef BlockC* nb = NULL        # the next block when a chain link gave it
    cdef BlockC* prev = NULL      # block whose static exit prev_k is waiting for a link
    cdef JcEntryC* e
    cdef SegC* cs
    cdef u32 eip, lin, pa, mode, i, n, d, prev_lin = 0
    cdef int st, r, k, prev_k = 0, chain = c.strategy >= STRAT_CHAIN
    cdef int native = c.strategy == STRAT_NATIVE
    cdef int chain_inner          # run_uops may follow links (flat 32-bit CS)
    cdef u32 nk
    cdef u32 single
    while True:
        if c.graveyard != NULL:
            free_graveyard(c)
            prev = NULL
            nb = NULL
        if c.stop_request:
            r = EXIT_ERROR if c.stop_request == 2 else (EXIT_FERR if c.stop_request == 3 else EXIT_STOP)
            c.stop_request = 0
            return r
        if c.irq_line and (c.cpu.eflags & F_IF) and not c.cpu.shadow:
            return EXIT_IRQ
        if left == 0:
            return EXIT_MAX_INSNS
        cs = &c.cpu.seg[S_CS]
        eip = c.cpu.eip
        lin = cs.base + eip
        c.ipmask = 0xFFFFFFFFU if (cs.flags & SF_BIG) else 0xFFFF
        chain_inner = c.strategy == STRAT_CHAIN and cs.limit == 0xFFFFFFFFU and \
            c.ipmask == 0xFFFFFFFFU
        st = 0
        if nb != NULL:
            b = nb
            nb = NULL
            c.chain_hits += 1
        elif c.strategy == STRAT_INTERP:
            c.ac_on = (mode_bits(c) >> 5) & 1
            pa = lin
            if c.cpu.cr[0] & 0x80000000U:
                st = tlb_fetch(c, lin, &pa)
            if st == 0:
                st = translate(c, eip, lin, pa, 1, c.scratch)
            b = c.scratch
        else:
            mode = mode_bits(c)
            c.ac_on = (mode >> 5) & 1     # chained blocks share their predecessor's mode
            e = &c.jc[lin & ((1 << JC_BITS) - 1)]
            if e.epoch == c.jc_epoch and e.lin == lin and e.mode == mode and e.b != NULL:
                b = e.b
                c.jc_hits += 1
            else:
                # blocks are keyed by physical address: two mappings share them
                pa = lin
                b = c.scratch
                if c.cpu.cr[0] & 0x80000000U:
                    st = tlb_fetch(c, lin, &pa)
                if st == 0:
                    b = block_find(c, pa, mode)
                    if b != NULL:
                        c.cache_hits += 1
                    else:
                        c.cache_misses += 1
                        b = c.scratch
                        st = translate(c, eip, lin, pa, MAX_BLOCK_INSNS, c.scratch)
                        if st == 0 and c.scratch.pa != 0xFFFFFFFFU:
                            if c.nblocks >= c.max_blocks or c.nat_full:
                                flush_all(c)
                                prev = NULL
                            b = block_install(c, c.scratch, mode)
                            if b == NULL:
                                b = c.scratch
                            elif c.strategy == STRAT_NATIVE:
                                native_compile(c, b)
                        if st == 0 and c.hook_mask & HOOK_BLOCK:
                            if hook_py(c, HOOK_BLOCK, eip, c.scratch.pa, 0, c.scratch):
                                continue
                if st == 0 and b != c.scratch:
                    e.lin = lin
                    e.mode = mode
                    e.b = b
                    e.epoch = c.jc_epoch
            if prev != NULL and st == 0 and b != c.scratch and (lin >> 12) == (prev_lin >> 12) \
                    and b.mode == prev.mode:
                # never across a page: the next page may map elsewhere (or hold other code)
                prev.link[prev_k] = b
                c.chain_links += 1
            prev = NULL
        # (a flat 32-bit CS can only be overrun by a block at the top of 4 GiB)
        if st == 0 and b != c.scratch and (cs.limit != 0xFFFFFFFFU or c.ipmask != 0xFFFFFFFFU
                                           or eip > 0xFFFFF000U) and \
                <u64>eip + b.nbytes - 1 > (cs.limit if cs.limit < c.ipmask else c.ipmask):
            # translated for another CS:IP of this linear address: under this
            # CS it would run past CS.limit or past a 16-bit IP wrap
            pa = lin
            if c.cpu.cr[0] & 0x80000000U:
                st = tlb_fetch(c, lin, &pa)
            if st == 0:
                st = translate(c, eip, lin, pa, MAX_BLOCK_INSNS, c.scratch)
            b = c.scratch
        if st:
            # the first instruction could not even be fetched
            if st == ST_FAULT:
                c.exc_count[c.exc_vec & 31] += 1
                r = take_event(c, c.exc_vec, c.exc_err, c.exc_has_err, EV_FAULT)
                if r == 0:
                    nb = NULL
                    continue
                return r
            return c.exit_kind
        c.beip = eip
        c.cur_uops = b.uops
        c.smc = 0
        c.exit_k = 2
        n = b.ninsns
        # one instruction at a time under TF (a #DB trap after each) and in an
        # interrupt shadow (after STI, MOV SS, POP SS: no interrupt before the next;
        # shadow 2, from MOV SS/POP SS, also holds back a single-step trap)
        # (only while an interrupt is actually waiting: otherwise the block runs whole)
        single = (c.cpu.eflags & F_TF) | ((c.cpu.shadow != 0) & c.irq_line)
        if c.cpu.shadow:
            c.cpu.shadow = 0      # it covers this block's first instruction only
        if single:
            n = 1
        if n > left:
            n = <u32>left
        i = 0
        st = ST_OK
        if n == b.ninsns:
            if b.native != NULL and not single:
                # native code for the block or its first instructions (native.pxi)
                # (it sets EIP and c.exit_k when it ran the whole block)
                # (it keeps the guest's flags in c.cpu.eflags: under this strategy
                # the lazy flags are materialized after every run of micro-ops,
                # so they are exact here without a test per native block)
                c.nat_budget = <u32>(left - n) if left - n < 0xFFFFFFFFU else 0xFFFFFFFFU
                c.nat_chained = 0
                nk = (<natfn_t>b.native)(c)
                c.nat_runs += 1
                c.nat_insns += nk
                if c.nat_chained:
                    # it went on through native links: blocks before c.nat_blk
                    # retired c.nat_chained instructions; nk counts in c.nat_blk
                    c.nat_insns += c.nat_chained
                    c.insns += c.nat_chained
                    left -= c.nat_chained
                    b = c.nat_blk
                    eip = c.beip
                    lin = cs.base + eip
                    n = b.ninsns
                    c.cur_uops = b.uops
                if nk == n:
                    i = n - 1      # done: as if the last uop had jumped
                    st = ST_JUMP
                else:
                    c.nat_partial += 1
                    i = nk
            if st == ST_OK:
                # (under `chain` it may go on into linked blocks: b is then the
                # last one, c.beip its EIP)
                st = run_uops(c, b, i, n, left, chain_inner and not single)
                i = c.ru_i
                if c.ru_chained:
                    left -= c.ru_chained
                    b = c.ru_blk
                    eip = c.beip
                    lin = cs.base + eip
                if native:
                    materialize(c)
        else:
            # cut short: the generic definitions, so that EFLAGS is exact where
            # the run stops (the fast forms may skip flags a later uop would set)
            while i < n:
                st = exec_uop(c, &b.uops[i])
                if st != ST_OK:
                    break
                i += 1
                if c.smc:
                    break
            if native:
                materialize(c)
        if st == ST_OK:
            c.cpu.eip = (eip + b.uops[i - 1].eoff + b.uops[i - 1].d.len) & c.ipmask
            c.insns += i
            left -= i
            if single & F_TF:
                r = single_step_trap(c, &b.uops[0])
                if r:
                    return r
                continue
            if not chain or c.smc or i != b.ninsns or b.exit_delta[1] == NO_EXIT:
                continue
            k = 1
        elif st == ST_JUMP:
            c.insns += i + 1
            left -= i + 1
            if single & F_TF:
                r = single_step_trap(c, &b.uops[0])
                if r:
                    return r
                continue
            if not chain or c.smc or i + 1 != b.ninsns or c.exit_k == 2:
                continue
            k = c.exit_k
        elif st == ST_REPEAT:
            c.cpu.eip = (eip + b.uops[i].eoff) & c.ipmask
            c.insns += i
            left -= i
            continue
        elif st == ST_STOP_AFTER:
            c.insns += i + 1
            if c.exit_kind == EXIT_EXCEPTION:
                c.exc_count[c.exc_vec & 31] += 1
            return c.exit_kind
        else:
            c.cpu.eip = (eip + b.uops[i].eoff) & c.ipmask
            c.insns += i
            if st == ST_FAULT:
                # precise: EIP at the faulting instruction, earlier ones retired
                left -= i
                c.exc_count[c.exc_vec & 31] += 1
                r = take_event(c, c.exc_vec, c.exc_err, c.exc_has_err, EV_FAULT)
                if r == 0:
                    continue
                return r
            return c.exit_kind
        # chain: the block left through one of its static exits?
        if b == c.scratch:
            continue
        # (the handler of a static exit said which one it took: no compare of EIPs,
        # and no second data-dependent branch after the guest's own)
        nb = b.link[k]
        if nb == NULL:
            prev = b
            prev_k = k
            prev_lin = lin


# ---------------------------------------------------------------- Python side

run_uops(NULL, NULL, 0, 0, 0, 0)     # the table of handler addresses

_TSC_PER_NS = None


def _tsc_per_ns():
    """Host TSC ticks per nanosecond, measured once (for the translate_ns counter)."""
    global _TSC_PER_NS
    if _TSC_PER_NS is None:
        import time
        t0 = time.perf_counter_ns()
        c0 = rdtsc()
        while time.perf_counter_ns() - t0 < 5_000_000:
            pass
        _TSC_PER_NS = max((rdtsc() - c0) / (time.perf_counter_ns() - t0), 1e-3)
    return _TSC_PER_NS


SEG_NAMES = ("es", "cs", "ss", "ds", "fs", "gs")
REG_NAMES = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")


cdef class Core:
    """The C machine state and the loop; bt.machine.Machine wraps it."""
    cdef CtxC* c
    cdef object ram_array         # keeps the numpy buffer alive
    cdef public object mmio_handler   # callable(addr, size, write, value) -> int | None
    cdef public object _pending_error
    cdef public object _hook       # callable(kind, args): Machine's hook dispatcher

    def __cinit__(self, cnp.ndarray ram not None, str strategy="block", int max_blocks=65536,
                  int tlb_entries=TLB_DEFAULT_ENTRIES):
        if ram.dtype != np.uint8 or ram.ndim != 1 or not ram.flags["C_CONTIGUOUS"]:
            raise ValueError("ram must be a contiguous 1-D numpy uint8 array")
        if ram.shape[0] < 4096 or ram.shape[0] % 4096 or ram.shape[0] > 0xFFFFF000U:
            raise ValueError("ram size must be a multiple of 4 KiB, at least 4 KiB, below 4 GiB")
        self.c = <CtxC*>calloc(1, sizeof(CtxC))
        if self.c == NULL:
            raise MemoryError()
        self.ram_array = ram
        c = self.c
        c.ram = <u8*>cnp.PyArray_DATA(ram)
        c.ram_size = <u32>ram.shape[0]
        c.npages = (c.ram_size + 4095) >> 12
        c.htab = <BlockC**>calloc(1 << HT_BITS, sizeof(BlockC*))
        c.jc = <JcEntryC*>calloc(1 << JC_BITS, sizeof(JcEntryC))
        # one spare slot so that lwr's page check of the last byte stays in bounds
        c.page_blocks = <BlockC**>calloc(c.npages + 1, sizeof(BlockC*))
        c.code_map = <u8*>calloc(c.npages + 1, 1)
        c.port_map = <u8*>calloc(65536, 1)
        c.code_inval = <u8*>calloc(c.npages + 1, 1)
        c.fine = <u8**>calloc(c.npages + 1, sizeof(u8*))
        c.scratch = <BlockC*>malloc(sizeof(BlockC) + MAX_BLOCK_INSNS * sizeof(UopC))
        if c.htab == NULL or c.jc == NULL or c.page_blocks == NULL or c.code_map == NULL or \
                c.scratch == NULL or c.port_map == NULL or c.code_inval == NULL or c.fine == NULL:
            raise MemoryError()
        if tlb_entries < 2 or tlb_entries > (1 << 20) or (tlb_entries & (tlb_entries - 1)):
            raise ValueError(f"tlb_entries must be a power of two between 2 and {1 << 20}, "
                             f"got {tlb_entries}")
        c.tlb_n = tlb_entries
        c.tlb_mask = tlb_entries - 1
        c.tlb = <TlbEntryC*>malloc(2 * <size_t>tlb_entries * sizeof(TlbEntryC))
        c.tlb_tab[0] = c.tlb
        c.tlb_tab[1] = c.tlb + tlb_entries
        c.tlb_wmap = <u8*>calloc(c.npages + 1, 1)
        c.tlb_log = <u32*>malloc(2 * <size_t>tlb_entries * sizeof(u32))
        if c.tlb == NULL or c.tlb_wmap == NULL or c.tlb_log == NULL:
            raise MemoryError()
        c.tlb_log_full = 1        # the first flush clears the whole (malloc'ed) table
        tlb_flush_all(c)
        c.tlb_flushes = 0
        c.decoder = decoder_new()
        fpu_host_setup()
        fpu_reset(&c.cpu.fpu)
        c.cpu.fpu.mxcsr = 0x1F80
        c.owner = <void*>self
        c.jc_epoch = 1            # calloc'ed entries (epoch 0) start invalid
        c.max_blocks = max_blocks
        self.strategy = strategy

    def __dealloc__(self):
        if self.c != NULL:
            flush_all(self.c)
            free_graveyard(self.c)
            free(self.c.htab)
            free(self.c.jc)
            free(self.c.page_blocks)
            free(self.c.code_map)
            free(self.c.port_map)
            if self.c.fine != NULL:
                for i in range(self.c.npages + 1):
                    free(self.c.fine[i])
            free(self.c.fine)
            free(self.c.code_inval)
            free(self.c.scratch)
            free(self.c.tlb)
            free(self.c.tlb_wmap)
            free(self.c.tlb_log)
            native_free(self.c)
            if self.c.decoder != NULL:
                decoder_free(self.c.decoder)
            free(self.c)
            self.c = NULL

    property strategy:
        def __get__(self):
            return ("interp", "block", "chain", "native")[self.c.strategy]
        def __set__(self, str s):
            if s == "interp":
                self.c.strategy = STRAT_INTERP
            elif s == "block":
                self.c.strategy = STRAT_BLOCK
            elif s == "chain":
                self.c.strategy = STRAT_CHAIN
            elif s == "native":
                # without executable memory from the host, blocks run their micro-ops
                native_init(self.c, NAT_BUF_DEFAULT)
                self.c.strategy = STRAT_NATIVE
            else:
                raise ValueError(f"unknown strategy {s!r} (choose from: interp, block, chain, native)")

    # ---- execution
    def run(self, unsigned long long max_insns):
        """Run at most max_insns guest instructions; returns the exit code."""
        cdef int r
        cdef u64 budget = max_insns
        self.c.running = 1
        try:
            with nogil:
                r = run_loop(self.c, budget)
        finally:
            fpu_spill(self.c)
            materialize(self.c)     # Python sees exact flags between runs
            self.c.running = 0
        return r

    def _mmio(self, addr, size, write, value):
        if self.mmio_handler is None:
            return None
        return self.mmio_handler(addr, size, write, value)

    property mmio_enabled:
        def __get__(self):
            return self.c.mmio_enabled
        def __set__(self, int v):
            self.c.mmio_enabled = v

    def deliver_irq(self, int vector):
        """Deliver an external interrupt (the PIC's vector) now, as at a block
        boundary with IF=1.  Returns 0, or the ExitCode that ends the run
        (a triple fault while delivering it)."""
        if not 0 <= vector <= 255:
            raise ValueError(f"interrupt vector {vector} is not in 0..255")
        return take_event(self.c, vector, 0, 0, EV_EXT)

    def deliver_exception(self, int vector, error_code=None):
        """Deliver exception `vector` to the guest (with an error code if given),
        EIP as the fault's saved EIP.  Returns 0 or an ExitCode."""
        if not 0 <= vector <= 31:
            raise ValueError(f"exception vector {vector} is not in 0..31")
        self.c.exc_count[vector] += 1
        # #DB (as a single-step trap), #BP and #OF are traps; the rest are faults
        return take_event(self.c, vector, 0 if error_code is None else error_code,
                          error_code is not None,
                          EV_EXT if vector in (1, 3, 4, 8, 18) else EV_FAULT)

    def io_info(self):
        """The port access that ended the run with EXIT_IO:
        (port, size, is_write, is_string, insn_len)."""
        c = self.c
        return (c.io_port, c.io_size, c.io_write, c.io_string, c.io_len)

    def map_port_c(self, unsigned int port, str device):
        """Route port to a device written in C (\"post\") or back to Python (\"python\")."""
        if port > 0xFFFF:
            raise ValueError(f"port {port:#x} is not in 0..0xFFFF")
        if device == "post":
            self.c.port_map[port] = PORT_POST
        elif device == "python":
            self.c.port_map[port] = PORT_PY
        else:
            raise ValueError(f"no C device {device!r} (choose from: post, python)")

    def post_codes(self):
        """The C POST port: (codes written, the last up to POST_RING of them in order)."""
        c = self.c
        n = min(c.post_count, POST_RING)
        first = c.post_count - n
        return c.post_count, bytes([c.post_ring[(first + i) & (POST_RING - 1)] for i in range(n)])

    def post_set(self, unsigned long long count, bytes codes):
        """Restore the C POST port: count codes written, the last ones being codes."""
        c = self.c
        cdef u64 i, n = len(codes)
        if count < n:
            count = n
        for i in range(n):
            c.post_ring[(count - n + i) & (POST_RING - 1)] = codes[i]
        c.post_count = count
        c.post_last = codes[n - 1] if n else 0xFF

    property irq_line:
        """The INTR input: while 1, the loop leaves with EXIT_IRQ at the first
        block boundary where IF=1 and no interrupt shadow is active."""
        def __get__(self):
            return self.c.irq_line
        def __set__(self, int v):
            self.c.irq_line = 1 if v else 0

    property intercept:
        """Bit mask of exception vectors 0-31 that end the run (ExitKind.EXCEPTION)
        instead of going to the guest's IDT; bit 32 adds INT n for n >= 32."""
        def __get__(self):
            return self.c.intercept | (<u64>(1 if self.c.intercept_int else 0) << 32)
        def __set__(self, unsigned long long v):
            self.c.intercept = <u32>(v & 0xFFFFFFFFU)
            self.c.intercept_int = 1 if (v >> 32) & 1 else 0

    property idle:
        """Virtual time (in instructions) skipped by HLT waiting for an interrupt."""
        def __get__(self):
            return self.c.idle
        def __set__(self, unsigned long long v):
            self.c.idle = v

    property vclock:
        """The virtual clock in instructions: retired instructions plus idle time."""
        def __get__(self):
            return self.c.insns + self.c.idle

    def io_mem(self, int seg, unsigned int off, int size, int write, unsigned int value=0):
        """A data access of INS/OUTS done by Python: segment checks, paging (A/D,
        #PF with CR2), the code-page check, as the guest's own access (write=2:
        check that the write would succeed, without writing).  Returns
        (0, value), (1, 0) after a fault (in exit_info; deliver it with
        deliver_pending_fault) or (2, 0) when the run must stop (exit_info)."""
        cdef u32 v = value
        cdef int st
        if not 0 <= seg < 6 or size not in (1, 2, 4):
            raise ValueError("bad segment or size")
        if write == 2:
            st = probe_w(self.c, seg, off, size)
        elif write:
            st = wr(self.c, seg, off, size, v)
        else:
            st = rd(self.c, seg, off, size, &v)
        if st == 0:
            return 0, v
        if st == ST_FAULT:
            return 1, 0
        return 2, 0

    def deliver_pending_fault(self):
        """Deliver the fault io_mem reported (EIP at the faulting instruction).
        Returns 0 or the ExitCode that ends the run."""
        c = self.c
        c.exc_count[c.exc_vec & 31] += 1
        return take_event(c, c.exc_vec, c.exc_err, c.exc_has_err, EV_FAULT)

    def ferr_clear(self):
        """Port 0xF0: clear the FERR# latch (IRQ 13 may be raised again)."""
        self.c.ferr_latch = 0

    def take_ferr(self):
        """1 once after the x87 raised FERR# (CR0.NE=0), for IRQ 13."""
        r = self.c.ferr_request
        self.c.ferr_request = 0
        if r and self.c.stop_request == 3:
            self.c.stop_request = 0
        return r

    property hook_mask:
        def __get__(self):
            return self.c.hook_mask
        def __set__(self, int v):
            self.c.hook_mask = v

    def take_error(self):
        e = self._pending_error
        self._pending_error = None
        return e

    def request_stop(self):
        self.c.stop_request = 1

    def request_stop_clear(self):
        self.c.stop_request = 0

    def exit_info(self):
        c = self.c
        return {"kind": c.exit_kind, "addr": c.exit_addr, "size": c.exit_size,
                "vector": c.exc_vec, "error_code": c.exc_err if c.exc_has_err else None}

    def current_insn(self):
        """(op, len, bytes) of the instruction at CS:EIP, for exits that stop before it."""
        cdef InsnC ins
        cdef u32 lin = self.c.cpu.seg[S_CS].base + self.c.cpu.eip
        cdef int n
        cdef u8 buf[16]
        raw = self.read_virt(lin, 15)        # through the page tables when paging is on
        if not raw:
            return None
        avail = len(raw)
        memcpy(buf, <const u8*>raw, avail)
        n = bt_decode(self.c.decoder, buf, avail, self.c.cpu.eip,
                      (self.c.cpu.seg[S_CS].flags & SF_BIG) != 0, &ins)
        if n == 0:
            return {"op": 0, "len": 0, "bytes": raw}
        return {"op": ins.op, "len": ins.len, "bytes": raw[:ins.len], "osz": ins.osz,
                "asz": ins.asz, "prefix": ins.prefix, "seg": ins.seg, "esize": ins.ops[0].size,
                "ops": [(ins.ops[i].kind, ins.ops[i].size, ins.ops[i].reg, ins.ops[i].imm)
                        for i in range(ins.nops)]}

    # ---- cache control
    def invalidate(self, unsigned int pa, unsigned int n):
        """Drop translations of physical pages [pa, pa+n) (a write from outside the guest)."""
        cdef u32 p
        if n == 0:
            return
        cdef u64 lo, hi
        for p in range(pa >> 12, min((pa + n - 1) >> 12, self.c.npages - 1) + 1):
            if self.c.page_blocks[p] != NULL:
                lo = max(<u64>pa, <u64>p << 12) - (<u64>p << 12)
                hi = min(<u64>pa + n, (<u64>p + 1) << 12) - (<u64>p << 12)
                code_written(self.c, p, <u32>lo, <u32>hi)
        if not self.c.running:      # a device writing RAM mid-run: the loop frees them
            free_graveyard(self.c)

    def flush(self):
        """Drop every translated block and every TLB entry."""
        flush_all(self.c)
        tlb_flush_all(self.c)
        if not self.c.running:
            free_graveyard(self.c)

    # ---- paging
    property tlb_entries:
        def __get__(self):
            return self.c.tlb_n

    def tlb_flush(self, page=None):
        """Drop the whole TLB, or the entries of the linear page holding ``page``."""
        if page is None:
            tlb_flush_all(self.c)
        else:
            tlb_flush_page(self.c, <u32>page)

    def virt_to_phys(self, unsigned int lin):
        """The physical address the guest's page tables give lin (lin itself with
        paging off), or None when it is not mapped.  No A/D bits, no TLB fill."""
        cdef u32 pa
        if tlb_peek(self.c, lin, &pa):
            return None
        return pa

    def read_virt(self, unsigned int lin, unsigned int n):
        """Up to n bytes at linear lin, page by page, stopping at the first page
        that is not mapped or not in RAM (so possibly fewer than n)."""
        cdef u32 pa, k
        out = bytearray()
        while n:
            if tlb_peek(self.c, lin, &pa) or pa >= self.c.ram_size:
                break
            k = min(n, 0x1000 - (lin & 0xFFF), self.c.ram_size - pa)
            out += (<u8[:k]>(self.c.ram + pa))
            n -= k
            lin = (lin + k) & 0xFFFFFFFFU
        return bytes(out)

    # ---- registers
    def get_reg(self, int i):
        return self.c.cpu.regs[i]

    def set_reg(self, int i, unsigned int v):
        self.c.cpu.regs[i] = v

    property eip:
        def __get__(self):
            return self.c.cpu.eip
        def __set__(self, unsigned int v):
            self.c.cpu.eip = v

    property eflags:
        def __get__(self):
            materialize(self.c)     # a hook or an MMIO handler may ask in the middle of a run
            return self.c.cpu.eflags
        def __set__(self, unsigned int v):
            self.c.cc_op = CC_EAGER
            self.c.cpu.eflags = (v | 2) & 0x003F7FD7U

    property cpl:
        def __get__(self):
            return self.c.cpu.cpl
        def __set__(self, int v):
            self.c.cpu.cpl = v & 3

    property halted:
        def __get__(self):
            return self.c.cpu.halted
        def __set__(self, int v):
            self.c.cpu.halted = v

    def get_cr(self, int i):
        return self.c.cpu.cr[i]

    def set_cr(self, int i, unsigned int v):
        self.c.cpu.cr[i] = v
        if i == 0 or i == 3 or i == 4:
            tlb_flush_all(self.c)      # from outside the guest: nothing stale survives

    def get_seg(self, int i):
        cdef SegC* s = self.seg_ptr(i)
        return (s.sel, s.base, s.limit, s.attr, s.flags)

    def set_seg(self, int i, unsigned int sel, unsigned int base, unsigned int limit,
                unsigned int attr, int flags=-1):
        """Set a segment register with its hidden part.  flags=-1 derives the
        access flags from attr (descriptor byte 5 | byte 6 high nibble << 8)."""
        cdef SegC* s = self.seg_ptr(i)
        cdef u32 typ = attr & 0xF
        s.sel = sel
        s.base = base
        s.limit = limit
        s.attr = attr
        if flags >= 0:
            s.flags = flags
        else:
            s.flags = SF_VALID if (attr & 0x80) else 0
            if attr & 0x10:
                if typ & 8:
                    s.flags |= SF_EXEC | (SF_READ if typ & 2 else 0)
                else:
                    s.flags |= SF_READ | (SF_WRITE if typ & 2 else 0) | (SF_EXPDOWN if typ & 4 else 0)
            if attr & 0x400:
                s.flags |= SF_BIG
        seg_update_flat(s)

    def load_seg(self, int i, unsigned int sel):
        """Load a segment register the way the guest's MOV would (real or
        protected mode rules); returns the exception vector or None."""
        if i == S_CS:
            st = load_cs(self.c, sel, self.c.cpu.eip)
        else:
            st = load_seg(self.c, i, sel)
        if st:
            return self.c.exc_vec
        return None

    cdef SegC* seg_ptr(self, int i) except NULL:
        if 0 <= i < 6:
            return &self.c.cpu.seg[i]
        if i == 6:
            return &self.c.cpu.ldtr
        if i == 7:
            return &self.c.cpu.tr
        raise IndexError(i)

    def get_dtr(self, int which):
        cdef DtrC* d = &self.c.cpu.gdtr if which == 0 else &self.c.cpu.idtr
        return (d.base, d.limit)

    def set_dtr(self, int which, unsigned int base, unsigned int limit):
        cdef DtrC* d = &self.c.cpu.gdtr if which == 0 else &self.c.cpu.idtr
        d.base = base
        d.limit = limit

    def get_dr(self, int i):
        return self.c.cpu.dr[i]

    def set_dr(self, int i, unsigned int v):
        self.c.cpu.dr[i] = v

    def get_msrs(self):
        cpu = &self.c.cpu
        return {"tsc": cpu.tsc, "sysenter_cs": cpu.msr_sysenter_cs,
                "sysenter_esp": cpu.msr_sysenter_esp, "sysenter_eip": cpu.msr_sysenter_eip,
                "apic_base": cpu.msr_apic_base}

    def set_msrs(self, d):
        cpu = &self.c.cpu
        cpu.tsc = d["tsc"]
        cpu.msr_sysenter_cs = d["sysenter_cs"]
        cpu.msr_sysenter_esp = d["sysenter_esp"]
        cpu.msr_sysenter_eip = d["sysenter_eip"]
        cpu.msr_apic_base = d["apic_base"]

    # ---- x87
    def fpu_init(self):
        """The x87 after RESET as bt models it: the FNINIT state, registers +0.0,
        MXCSR 0x1F80."""
        fpu_reset(&self.c.cpu.fpu)
        memset(self.c.cpu.fpu.r, 0, 80)
        self.c.cpu.fpu.mxcsr = 0x1F80

    def get_fpu(self):
        """The x87 state: words, pointers, and ``st``, the 8 registers in ST(i)
        order as 10-byte little-endian bytes (``tw`` is the full tag word, its
        non-empty tags computed from the contents)."""
        cdef FpuC* f = &self.c.cpu.fpu
        cdef int top = (f.sw >> 11) & 7
        return {"cw": f.cw, "sw": f.sw, "tw": fpu_full_tag(f), "fop": f.fop,
                "fip": f.fip, "fcs": f.fcs, "fdp": f.fdp, "fds": f.fds,
                "mxcsr": f.mxcsr, "ferr": f.ferr,
                "st": [bytes(<u8[:10]>(f.r + 10 * ((top + i) & 7))) for i in range(8)]}

    def set_fpu(self, d):
        """Set the x87 state from a dict like get_fpu()'s (missing keys keep
        their value; ``st`` is in ST(i) order for the new TOP; only the empty
        tags of ``tw`` matter)."""
        cdef FpuC* f = &self.c.cpu.fpu
        cdef int top, i
        cdef bytes r
        for k in d:
            if k not in ("cw", "sw", "tw", "fop", "fip", "fcs", "fdp", "fds", "mxcsr", "ferr", "st"):
                raise KeyError(f"unknown x87 state key {k!r}")
        f.cw = d.get("cw", f.cw)
        f.sw = d.get("sw", f.sw)
        f.fop = d.get("fop", f.fop) & 0x7FF
        f.fip = d.get("fip", f.fip)
        f.fcs = d.get("fcs", f.fcs)
        f.fdp = d.get("fdp", f.fdp)
        f.fds = d.get("fds", f.fds)
        f.mxcsr = d.get("mxcsr", f.mxcsr)
        top = (f.sw >> 11) & 7
        if "st" in d:
            if len(d["st"]) != 8:
                raise ValueError("st must hold 8 registers")
            for i in range(8):
                r = bytes(d["st"][i])
                if len(r) != 10:
                    raise ValueError("each x87 register is 10 bytes")
                memcpy(f.r + 10 * ((top + i) & 7), <const u8*>r, 10)
        fpu_set_tags(f, d.get("tw", f.tw))
        fpu_update_es(f)
        if "ferr" in d:
            f.ferr = d["ferr"]

    property shadow:
        def __get__(self):
            return self.c.cpu.shadow
        def __set__(self, int v):
            self.c.cpu.shadow = v

    def set_cpuid(self, unsigned int leaf, unsigned int a, unsigned int b, unsigned int c_,
                  unsigned int d):
        cdef int n = leaf if leaf < 8 else 8 + (leaf & 7)
        self.c.cpuid[n][0] = a
        self.c.cpuid[n][1] = b
        self.c.cpuid[n][2] = c_
        self.c.cpuid[n][3] = d

    # ---- counters
    def counters(self):
        c = self.c
        d = {
            "insns": c.insns,
            "blocks_translated": c.blocks_translated,
            "insns_translated": c.insns_translated,
            "cache_hits": c.cache_hits,
            "cache_misses": c.cache_misses,
            "jc_hits": c.jc_hits,
            "chain_hits": c.chain_hits,
            "chain_links": c.chain_links,
            "cache_invalidations": c.invalidations,
            "smc_page_invalidations": c.page_invalidations,
            "smc_range_invalidations": c.range_invalidations,
            "smc_fine_pages": c.fine_pages,
            "smc_fine_misses": c.fine_misses,
            "cache_flushes": c.flushes,
            "cache_blocks": c.nblocks,
            "mmio_accesses": c.mmio_accesses,
            "io_fast": c.io_fast,
            "tlb_entries": c.tlb_n,
            "tlb_hits": {"read": c.tlb_hits[0], "write": c.tlb_hits[1], "fetch": c.tlb_hits[2]},
            "tlb_misses": {"read": c.tlb_misses[0], "write": c.tlb_misses[1],
                           "fetch": c.tlb_misses[2]},
            "tlb_slow": {"read": c.tlb_slow[0], "write": c.tlb_slow[1], "fetch": c.tlb_slow[2]},
            "tlb_walks": c.tlb_walks,
            "tlb_page_faults": c.tlb_faults,
            "tlb_flushes": c.tlb_flushes,
            "tlb_flushes_cr3": c.tlb_flushes_cr3,
            "tlb_invlpg": c.tlb_invlpg,
            "tlb_code_scans": c.tlb_code_scans,
            "translate_ns": int(c.translate_cycles / _tsc_per_ns()),
            "native": {"blocks": c.nat_blocks, "insns_compiled": c.nat_insns_compiled,
                       "runs": c.nat_runs, "insns": c.nat_insns, "partial": c.nat_partial,
                       "code_bytes": c.nat_used, "buffer_resets": c.nat_resets,
                       "paged_blocks": c.nat_paged_blocks, "link_hits": c.nat_link_hits,
                       "ret_link_hits": c.nat_ret_link_hits,
                       "available": c.nat_buf != NULL},
        }
        d["exceptions"] = {v: c.exc_count[v] for v in range(32) if c.exc_count[v]}
        d["vectors_delivered"] = {v: c.vec_count[v] for v in range(256) if c.vec_count[v]}
        d["callouts"] = {op: c.callouts[op] for op in range(<int>OP_COUNT) if c.callouts[op]}
        return d

    property insns:
        def __get__(self):
            return self.c.insns
        def __set__(self, unsigned long long v):
            self.c.insns = v


def fpu_struct_size():
    return sizeof(FpuC)


def uop_struct_size():
    return sizeof(UopC)
