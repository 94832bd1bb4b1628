# The translated-block cache: a hash table on (physical address, mode), per-page
# chains for invalidation, a size bound with a flush, and deferred freeing.

cdef inline u32 block_hash(u32 pa, u32 mode) noexcept nogil:
    return ((pa ^ (pa >> HT_BITS) ^ (mode * 0x9E3779B1U)) * 0x85EBCA6BU) >> (32 - HT_BITS)


cdef BlockC* block_install(CtxC* c, BlockC* tmp, u32 mode) noexcept nogil:
    """Copy a translated block out of the scratch area into the cache."""
    cdef size_t sz = sizeof(BlockC) + (tmp.nuops - 1) * sizeof(UopC)
    cdef BlockC* b = <BlockC*>malloc(sz)
    cdef u32 h, page
    if b == NULL:
        return NULL
    memcpy(b, tmp, sz)
    b.mode = mode
    h = block_hash(b.pa, mode)
    b.hnext = c.htab[h]
    c.htab[h] = b
    page = b.pa >> 12
    b.pnext = c.page_blocks[page]
    c.page_blocks[page] = b
    c.code_map[page] = 1
    if c.fine[page] != NULL:
        fine_mark(c.fine[page], b.pa & 0xFFF, (b.pa & 0xFFF) + b.nbytes)
    tlb_code_page(c, page)     # write tags pointing here must go to the slow path now
    b.gprev = NULL
    b.gnext = c.all_blocks
    if c.all_blocks != NULL:
        c.all_blocks.gprev = b
    c.all_blocks = b
    c.nblocks += 1
    c.blocks_translated += 1
    return b


cdef inline BlockC* block_find(CtxC* c, u32 pa, u32 mode) noexcept nogil:
    cdef BlockC* b = c.htab[block_hash(pa, mode)]
    while b != NULL:
        if b.pa == pa and b.mode == mode:
            return b
        b = b.hnext
    return NULL


cdef void block_unlink(CtxC* c, BlockC* b) noexcept nogil:
    # from its hash chain and the list of all blocks; the caller handles pages
    cdef u32 h = block_hash(b.pa, b.mode)
    cdef BlockC** pp = &c.htab[h]
    while pp[0] != NULL:
        if pp[0] == b:
            pp[0] = b.hnext
            break
        pp = &pp[0].hnext
    if b.gprev != NULL:
        b.gprev.gnext = b.gnext
    else:
        c.all_blocks = b.gnext
    if b.gnext != NULL:
        b.gnext.gprev = b.gprev
    c.nblocks -= 1
    # freed at the next block boundary: the loop may still be running it
    b.hnext = c.graveyard
    c.graveyard = b


cdef void invalidate_page(CtxC* c, u32 page) noexcept nogil:
    cdef BlockC* b = c.page_blocks[page]
    cdef BlockC* nx
    c.page_blocks[page] = NULL
    c.code_map[page] = 0
    while b != NULL:
        nx = b.pnext
        block_unlink(c, b)
        c.invalidations += 1
        b = nx
    c.jc_epoch += 1       # no jump-cache entry may name a dropped block
    c.smc = 1
    c.page_invalidations += 1
    # a page whose code keeps being dropped (data next to code): track its
    # code bytes from now on, so that stores beside the code cost a bitmap test
    if c.code_inval[page] < 255:
        c.code_inval[page] += 1
    if c.code_inval[page] == FINE_AFTER and c.fine[page] == NULL:
        c.fine[page] = <u8*>calloc(512, 1)
        if c.fine[page] != NULL:
            c.fine_pages += 1


cdef inline void fine_mark(u8* bits, u32 lo, u32 hi) noexcept nogil:
    # set the bits of page offsets [lo, hi)
    cdef u32 i
    for i in range(lo, hi):
        bits[i >> 3] |= <u8>(1 << (i & 7))


cdef inline bint fine_hit(u8* bits, u32 lo, u32 hi) noexcept nogil:
    cdef u32 i
    for i in range(lo, hi):
        if bits[i >> 3] & (1 << (i & 7)):
            return True
    return False


cdef void invalidate_range(CtxC* c, u32 page, u32 lo, u32 hi) noexcept nogil:
    """Drop the blocks of a fine-tracked page that overlap page offsets [lo, hi)."""
    cdef BlockC** pp = &c.page_blocks[page]
    cdef BlockC* b
    cdef u8* bits = c.fine[page]
    cdef u32 off
    cdef int k, dropped = 0
    while pp[0] != NULL:
        b = pp[0]
        off = b.pa & 0xFFF
        if off < hi and lo < off + b.nbytes:
            pp[0] = b.pnext
            block_unlink(c, b)
            b.pa = 0xFFFFFFFFU       # marks it dropped for the link scan below
            c.invalidations += 1
            dropped += 1
        else:
            pp = &b.pnext
    if not dropped:
        return
    # links are same-page only: clear those into dropped blocks, rebuild the bitmap
    memset(bits, 0, 512)
    b = c.page_blocks[page]
    while b != NULL:
        for k in range(2):
            if b.link[k] != NULL and b.link[k].pa == 0xFFFFFFFFU:
                b.link[k] = NULL
        off = b.pa & 0xFFF
        fine_mark(bits, off, off + b.nbytes)
        b = b.pnext
    if c.page_blocks[page] == NULL:
        c.code_map[page] = 0
    c.jc_epoch += 1
    c.smc = 1
    c.range_invalidations += 1


cdef void code_written(CtxC* c, u32 page, u32 lo, u32 hi) noexcept nogil:
    """Page offsets [lo, hi) of a page holding translated code were written."""
    cdef u8* bits = c.fine[page]
    if bits == NULL:
        invalidate_page(c, page)
    elif fine_hit(bits, lo, hi):
        invalidate_range(c, page, lo, hi)
    else:
        c.fine_misses += 1


cdef void flush_all(CtxC* c) noexcept nogil:
    cdef BlockC* b = c.all_blocks
    cdef BlockC* nx
    cdef u32 i
    while b != NULL:
        nx = b.gnext
        b.hnext = c.graveyard
        c.graveyard = b
        b = nx
    c.all_blocks = NULL
    c.nblocks = 0
    memset(c.htab, 0, sizeof(BlockC*) << HT_BITS)
    memset(c.page_blocks, 0, sizeof(BlockC*) * c.npages)
    memset(c.code_map, 0, c.npages)
    for i in range(c.npages):
        if c.fine[i] != NULL:
            memset(c.fine[i], 0, 512)
    c.jc_epoch += 1
    c.flushes += 1
    native_reset(c)       # no block is left to run the native code


cdef void free_graveyard(CtxC* c) noexcept nogil:
    cdef BlockC* b = c.graveyard
    cdef BlockC* nx
    while b != NULL:
        nx = b.hnext
        free(b)
        b = nx
    c.graveyard = NULL
