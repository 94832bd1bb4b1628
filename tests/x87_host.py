"""The host CPU as the x87 oracle: a tiny x86-64 function in executable memory
that loads a full x87 state, runs one x87 instruction and saves the state.

    push rdx; popfq            EFLAGS for FCMOVcc (arithmetic flags only)
    fxrstor [rcx]              the state, from a 512-byte FXSAVE image
    <the instruction>          memory operand rewritten to [rdi]
    mov [rdi+0x3f0], ax        AX (FNSTSW AX)
    pushfq; pop rax            EFLAGS after it (FCOMI & co.)
    fnsave [rsi]               the state after it (108-byte image), host x87 reset
    ret

The state goes in through FXRSTOR (abridged tags) and comes out through FNSAVE,
so this path shares nothing with bt's own stubs (FRSTOR in, FNSAVE out) except
the instruction under test.  FNSAVE leaves the host x87 initialised (control
word 0x37F, nothing pending), which is what the C runtime expects.
"""
import ctypes
import mmap
import struct

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
_libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]

CODE_SIZE = 1 << 20
_FN = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p)


def _host_bytes(esc, modrm):
    """The guest instruction as the host runs it: a memory form gets [rdi]."""
    if modrm >= 0xC0:
        return bytes([esc, modrm])
    return bytes([esc, (modrm & 0x38) | 7])


class HostX87:
    def __init__(self):
        self.page = _libc.mmap(None, CODE_SIZE, mmap.PROT_READ | mmap.PROT_WRITE,
                               mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS, -1, 0)
        if self.page in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        self._fns = {}
        self._next = 0
        self._fx = ctypes.create_string_buffer(512 + 64)
        self._fx_addr = (ctypes.addressof(self._fx) + 63) & ~63
        self._out = ctypes.create_string_buffer(108)
        self._membuf = ctypes.create_string_buffer(1024 + 64)
        self._mem = (ctypes.addressof(self._membuf) + 63) & ~63

    def _fn(self, esc, modrm):
        return self._fn_bytes(_host_bytes(esc, modrm))

    def _fn_bytes(self, insn):
        key = insn
        f = self._fns.get(key)
        if f is None:
            code = (b"\x52\x9d" + b"\x0f\xae\x09" + insn +
                    b"\x66\x89\x87\xf0\x03\x00\x00" +   # mov [rdi+0x3f0], ax (FNSTSW AX)
                    b"\x9c\x58" + b"\xdd\x36" + b"\xc3")
            off = self._next
            if off + len(code) > CODE_SIZE:
                raise RuntimeError("x87_host: out of stub space")
            self._next += (len(code) + 15) & ~15
            _libc.mprotect(self.page, CODE_SIZE, mmap.PROT_READ | mmap.PROT_WRITE)
            ctypes.memmove(self.page + off, code, len(code))
            if _libc.mprotect(self.page, CODE_SIZE, mmap.PROT_READ | mmap.PROT_EXEC) != 0:
                raise OSError(ctypes.get_errno(), "mprotect")
            f = self._fns[key] = _FN(self.page + off)
        return f

    def run(self, esc, modrm, state, mem=b"", eflags=0):
        """Run escape/modrm from state (see fxsave_image); returns (fnsave image,
        memory operand bytes (112), EFLAGS, AX)."""
        return self.run_bytes(_host_bytes(esc, modrm), state, mem, eflags)

    def run_bytes(self, insn, state, mem=b"", eflags=0, nmem=112):
        """Like run() for host instruction bytes (memory operand [rdi], 64-byte
        aligned, 1 KiB); returns nmem bytes of it."""
        ctypes.memmove(self._fx_addr, fxsave_image(state), 512)
        ctypes.memmove(self._mem, mem.ljust(1024, b"\0"), 1024)
        fl = self._fn_bytes(insn)(self._mem, self._out, eflags & 0x8D5, self._fx_addr)
        raw = ctypes.string_at(self._mem, 1024)
        return self._out.raw, raw[:nmem], fl & 0xFFFFFFFF, struct.unpack_from("<H", raw, 0x3F0)[0]


def fxsave_image(s):
    """512-byte FXRSTOR image of s = {cw, sw, tw (full), st: [10-byte x 8] in ST order}."""
    top = (s["sw"] >> 11) & 7
    ftw = 0
    for phys in range(8):
        if ((s["tw"] >> (2 * phys)) & 3) != 3:
            ftw |= 1 << phys
    b = bytearray(512)
    struct.pack_into("<HHBBH", b, 0, s["cw"], s["sw"], ftw, 0, 0)
    struct.pack_into("<I", b, 24, 0x1F80)
    for i in range(8):
        b[32 + 16 * i:32 + 16 * i + 10] = s["st"][i]
    return bytes(b)


def fnsave_image(s):
    """108-byte FRSTOR image (32-bit protected-mode layout) of the same state."""
    b = bytearray(108)
    struct.pack_into("<HHHHHH", b, 0, s["cw"], 0xFFFF, s["sw"], 0xFFFF, s["tw"], 0xFFFF)
    for i in range(8):
        b[28 + 10 * i:38 + 10 * i] = s["st"][i]
    return bytes(b)


def parse_fnsave(img):
    cw, sw, tw = struct.unpack_from("<H2xH2xH", img, 0)
    return {"cw": cw, "sw": sw, "tw": tw, "st": [img[28 + 10 * i:38 + 10 * i] for i in range(8)]}
