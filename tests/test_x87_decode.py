"""bt's own decoding of the x87 escapes and FXSAVE/FXRSTOR (decoder.pyx,
_x87_decode) against capstone's: length, memory operand (base, index, scale,
displacement, segment) in 16- and 32-bit code, with prefixes."""
import random

import capstone
import pytest
from capstone import x86_const as X

from bt.decoder import OP_NAMES, Decoder

REG = {X.X86_REG_EAX: 0, X.X86_REG_ECX: 1, X.X86_REG_EDX: 2, X.X86_REG_EBX: 3, X.X86_REG_ESP: 4,
       X.X86_REG_EBP: 5, X.X86_REG_ESI: 6, X.X86_REG_EDI: 7, X.X86_REG_AX: 0, X.X86_REG_CX: 1,
       X.X86_REG_DX: 2, X.X86_REG_BX: 3, X.X86_REG_SP: 4, X.X86_REG_BP: 5, X.X86_REG_SI: 6,
       X.X86_REG_DI: 7}
SEG = {X.X86_REG_ES: 0, X.X86_REG_CS: 1, X.X86_REG_SS: 2, X.X86_REG_DS: 3, X.X86_REG_FS: 4,
       X.X86_REG_GS: 5}


@pytest.mark.parametrize("bits", [16, 32])
def test_x87_memory_forms_match_capstone(bits):
    rng = random.Random(bits)
    md = capstone.Cs(capstone.CS_ARCH_X86, capstone.CS_MODE_32 if bits == 32 else capstone.CS_MODE_16)
    md.detail = True
    dec = Decoder()
    checked = 0
    for _ in range(20000):
        prefixes = bytes(rng.choice([0x26, 0x2E, 0x36, 0x3E, 0x64, 0x65, 0x67, 0x66])
                         for _ in range(rng.choice((0, 0, 1, 2))))
        if rng.randrange(8) == 0:
            op = b"\x0f\xae" + bytes([rng.choice((0, 8)) | (rng.randrange(0, 0xC0) & 0xC7)])
        else:
            op = bytes([rng.randrange(0xD8, 0xE0), rng.randrange(0, 0x100)])
        code = prefixes + op + rng.randbytes(6)
        got = dec.decode(code, bits)
        assert got is not None
        name = OP_NAMES[got["op"]]
        assert name in ("FPU", "FXSAVE", "FXRSTOR")
        ins = next(md.disasm(code, 0), None)
        if ins is None:
            continue            # capstone rejects some encodings bt runs or answers #UD
        assert got["len"] == ins.size, (code.hex(), ins.mnemonic, ins.op_str)
        mems = [o for o in ins.operands if o.type == X.X86_OP_MEM]
        if not mems:
            assert got["ops"] == [], code.hex()
            continue
        m = mems[0].mem
        want = (REG.get(m.base), REG.get(m.index),
                {0: 0, 1: 0, 2: 1, 4: 2, 8: 3}[m.scale] if m.index else 0,
                m.disp & (0xFFFFFFFF if got["asz"] == 4 else 0xFFFF))
        assert (got["base"], got["index"], got["scale"] if got["index"] is not None else 0,
                got["disp"]) == want, (code.hex(), ins.mnemonic, ins.op_str)
        if m.segment:
            assert got["seg"] == SEG[m.segment], (code.hex(), ins.op_str)
        else:
            assert got["seg"] == (2 if got["base"] in (4, 5) else 3), (code.hex(), ins.op_str)
        checked += 1
    assert checked > 5000
