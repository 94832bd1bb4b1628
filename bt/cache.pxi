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


cdef void flush_all(CtxC* c) noexcept nogil:
    cdef BlockC* b = c.all_blocks
    cdef BlockC* nx
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
    c.jc_epoch += 1
    c.flushes += 1


cdef void free_graveyard(CtxC* c) noexcept nogil:
    cdef BlockC* b = c.graveyard
    cdef BlockC* nx
    while b != NULL:
        nx = b.hnext
        free(b)
        b = nx
    c.graveyard = NULL
