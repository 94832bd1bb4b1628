# Research hooks: Python callables told about translations, callouts and
# exceptions.  Each site tests one bit of c.hook_mask, so a run without hooks
# pays a load and a branch on paths that are already slow (translation, a
# callout, an exception) and nothing on the hot path.  Hooks are looked at when
# the event happens, never baked into translated code, so a hook added in the
# middle of a run sees code translated before it.  A hook that raises stops the
# run; Machine.run() re-raises its exception.

cdef enum:
    HOOK_BLOCK = 1       # a block was translated: (eip, pa, ninsns, uops)
    HOOK_CALLOUT = 2     # a callout is about to run: (op, eip)
    HOOK_EXCEPTION = 4   # an exception is about to be delivered or intercepted: (vector, eip, error)


cdef int hook_py(CtxC* c, int kind, u32 a, u32 b, u32 d, BlockC* blk) noexcept with gil:
    core = <object>c.owner
    cdef u32 i
    fpu_spill(c)         # the hook may look at the x87 state
    try:
        if kind == HOOK_BLOCK:
            uops = [(<u32>(a + blk.uops[i].eoff), blk.uops[i].d.op, blk.uops[i].d.len)
                    for i in range(blk.nuops)]
            core._hook(kind, (a, b, blk.ninsns, uops))
        elif kind == HOOK_CALLOUT:
            core._hook(kind, (a, b))
        else:
            core._hook(kind, (a, b, None if d == 0xFFFFFFFFU else d))
    except BaseException as e:
        core._pending_error = e
        c.stop_request = 2           # the loop ends the run with EXIT_ERROR
        return -1
    return 0
