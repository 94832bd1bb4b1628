# Port I/O: IN and OUT reach a device written in C (Cython) through a handler
# table without leaving the loop; every other port, and INS/OUTS, leave the
# loop with EXIT_IO and the Python bus completes the instruction from the
# access described in c.io_* (no decoding on the Python side).

cdef enum:
    PORT_PY = 0          # port_map value: the Python bus
    PORT_POST = 1        # the POST-code port (0x80) in C


cdef int post_read(CtxC* c, u32 port, int size, u32* v) noexcept nogil:
    v[0] = c.post_last if c.post_count else 0xFF
    return 0


cdef int post_write(CtxC* c, u32 port, int size, u32 v) noexcept nogil:
    c.post_last = v & 0xFF
    c.post_ring[c.post_count & (POST_RING - 1)] = <u8>v
    c.post_count += 1
    return 0


cdef int port_io(CtxC* c, UopC* u, int op, u32 port, int size) noexcept nogil:
    cdef u32 v
    cdef int h = c.port_map[port] if (op == OP_IN or op == OP_OUT) else PORT_PY
    if h == PORT_POST and size == 1:
        c.io_fast += 1
        if op == OP_OUT:
            return post_write(c, port, size, c.cpu.regs[0] & 0xFF)
        post_read(c, port, size, &v)
        setreg(c, 0, 1, v)
        return 0
    c.io_port = port
    c.io_size = size
    c.io_write = op == OP_OUT or op == OP_OUTS
    c.io_string = op == OP_INS or op == OP_OUTS
    c.io_len = u.d.len
    c.exit_kind = EXIT_IO
    return ST_STOP_BEFORE
