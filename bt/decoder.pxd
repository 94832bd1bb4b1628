# bt.decoder: capstone's C API turned into bt's InsnC (see _insn.pxd).
from bt._types cimport u8, u32
from bt._insn cimport InsnC

cdef void* decoder_new() except NULL
cdef void decoder_free(void* dec) noexcept
cdef int bt_decode(void* dec, const u8* code, size_t n, u32 eip, bint code32, InsnC* out) noexcept nogil
