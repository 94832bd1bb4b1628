"""Unit tests of bt.decoder: capstone's detail mapped onto bt's InsnC, and the
forms where bt corrects capstone."""
import random

import pytest

from bt import ExitKind, Machine
from bt._jit import uop_struct_size
from bt.decoder import OP_NAMES, Decoder, insn_struct_size

OP = {name: num for num, name in OP_NAMES.items()}
# OpKind / Prefix values (bt/_insn.pxd)
K_REG, K_MEM, K_IMM, K_SREG, K_CREG, K_DREG, K_REL = 1, 2, 3, 4, 5, 6, 7
PF_LOCK, PF_REP, PF_REPNE, PF_SEGOVR, PF_OPSIZE, PF_ADSIZE = 1, 2, 4, 8, 16, 32
ES, CS, SS, DS, FS, GS = range(6)


@pytest.fixture(scope="module")
def dec():
    return Decoder()


def D(dec, hexstr, bits=32):
    return dec.decode(bytes.fromhex(hexstr.replace(" ", "")), bits)


def opname(d):
    return OP_NAMES[d["op"]]


def test_struct_sizes():
    # the compact layout: InsnC is 40 bytes, a micro-op (InsnC + handler + offset) 44
    assert insn_struct_size() == 40
    assert uop_struct_size() == 44


@pytest.mark.parametrize("hexstr,bits,flags", [
    ("f0 01 03", 32, PF_LOCK),
    ("f3 a4", 32, PF_REP),
    ("f2 ae", 32, PF_REPNE),
    ("f3 ab", 16, PF_REP),
    ("66 01 d8", 32, PF_OPSIZE),
    ("67 8b 07", 32, PF_ADSIZE),
    ("26 8b 07", 16, PF_SEGOVR),
    ("f0 66 67 64 01 07", 32, PF_LOCK | PF_OPSIZE | PF_ADSIZE | PF_SEGOVR),
    ("66 f2 a5", 16, PF_REPNE | PF_OPSIZE),     # capstone drops this F2
    ("f2 66 a5", 16, PF_REPNE | PF_OPSIZE),
    ("66 f3 a5", 32, PF_REP | PF_OPSIZE),
    ("f2 f3 a4", 32, PF_REP),                   # the last of F2/F3 wins
    ("f3 f2 a4", 32, PF_REPNE),
])
def test_prefix_bits(dec, hexstr, bits, flags):
    assert D(dec, hexstr, bits)["prefix"] == flags


@pytest.mark.parametrize("hexstr,bits,seg", [
    ("8b 03", 32, DS),              # [ebx]
    ("8b 45 00", 32, SS),           # [ebp+0]
    ("8b 04 24", 32, SS),           # [esp]
    ("8b 44 24 04", 32, SS),        # [esp+4]
    ("8b 04 2c", 32, SS),           # [esp+ebp]: the base decides
    ("8b 04 28", 32, DS),           # [eax+ebp]: index ebp is not a base
    ("8b 04 2d 00 00 00 00", 32, DS),   # [ebp*1+disp32]: no base
    ("8b 05 00 10 00 00", 32, DS),  # [disp32]
    ("8b 46 02", 16, SS),           # [bp+2]
    ("8b 02", 16, SS),              # [bp+si]
    ("8b 03", 16, SS),              # [bp+di]
    ("8b 00", 16, DS),              # [bx+si]
    ("8b 06 34 12", 16, DS),        # [disp16], not [bp]
    ("26 8b 46 00", 16, ES),        # override beats the SS default
    ("2e 8b 07", 16, CS),
    ("36 8b 07", 16, SS),
    ("3e 8b 45 00", 32, DS),
    ("64 8b 03", 32, FS),
    ("65 8b 03", 32, GS),
    ("26 a4", 32, ES),              # MOVS source override
    ("26 d7", 32, ES),              # XLAT override
])
def test_segment_of_memory_operand(dec, hexstr, bits, seg):
    assert D(dec, hexstr, bits)["seg"] == seg


@pytest.mark.parametrize("hexstr,bits,osz,asz", [
    ("01 d8", 32, 4, 4), ("66 01 d8", 32, 2, 4), ("67 01 07", 32, 4, 2), ("66 67 01 07", 32, 2, 2),
    ("01 d8", 16, 2, 2), ("66 01 d8", 16, 4, 2), ("67 01 07", 16, 2, 4), ("66 67 01 07", 16, 4, 4),
])
def test_operand_and_address_size(dec, hexstr, bits, osz, asz):
    d = D(dec, hexstr, bits)
    assert (d["osz"], d["asz"]) == (osz, asz)


def test_16bit_addressing_fields(dec):
    d = D(dec, "8b 43 fe", 16)              # mov ax, [bp+di-2]
    assert (d["base"], d["index"], d["disp"]) == (5, 7, 0xFFFE)
    d = D(dec, "8b 06 34 12", 16)           # mov ax, [0x1234]
    assert (d["base"], d["index"], d["disp"]) == (None, None, 0x1234)
    d = D(dec, "8b 84 00 80", 16)           # mov ax, [si-0x8000]: disp kept as 16 bits
    assert (d["base"], d["disp"]) == (6, 0x8000)
    d = D(dec, "8b 44 8d 10", 32)           # mov eax, [ebp+ecx*4+0x10]
    assert (d["base"], d["index"], d["scale"], d["disp"]) == (5, 1, 2, 0x10)


@pytest.mark.parametrize("hexstr,bits,op,rel,size,ln", [
    ("eb 05", 32, "JMP", 5, 4, 2),
    ("eb fe", 16, "JMP", 0xFFFFFFFE, 2, 2),
    ("e9 00 01 00 00", 32, "JMP", 0x100, 4, 5),
    ("e9 00 80", 16, "JMP", 0xFFFF8000, 2, 3),            # rel16, sign-extended
    ("66 e9 00 00 01 00", 16, "JMP", 0x10000, 4, 6),       # rel32 in 16-bit code
    ("66 e9 00 80", 32, "JMP", 0xFFFF8000, 2, 4),          # rel16 in 32-bit code
    ("e8 fb ff ff ff", 32, "CALL", 0xFFFFFFFB, 4, 5),
    ("e8 fd ff", 16, "CALL", 0xFFFFFFFD, 2, 3),
    ("74 80", 32, "JCC", 0xFFFFFF80, 4, 2),
    ("0f 84 00 01", 16, "JCC", 0x100, 2, 4),
    ("0f 8f 00 00 00 80", 32, "JCC", 0x80000000, 4, 6),
    ("e2 fe", 16, "LOOP", 0xFFFFFFFE, 2, 2),
    ("e1 10", 32, "LOOPE", 0x10, 4, 2),
    ("e0 10", 32, "LOOPNE", 0x10, 4, 2),
    ("e3 7f", 32, "JCXZ", 0x7F, 4, 2),
])
def test_relative_branches(dec, hexstr, bits, op, rel, size, ln):
    d = D(dec, hexstr, bits)
    assert opname(d) == op
    assert d["len"] == ln
    kind, sz, _, imm = d["ops"][0]
    assert kind == K_REL and imm == rel


def test_jcc_condition_codes(dec):
    for cc in range(16):
        assert D(dec, bytes([0x70 + cc, 0]).hex())["cc"] == cc
        assert D(dec, bytes([0x0F, 0x80 + cc, 0, 0, 0, 0]).hex())["cc"] == cc
        d = D(dec, bytes([0x0F, 0x90 + cc, 0xC0]).hex())
        assert opname(d) == "SETCC" and d["cc"] == cc
        d = D(dec, bytes([0x0F, 0x40 + cc, 0xC1]).hex())
        assert opname(d) == "CMOVCC" and d["cc"] == cc


def test_jcxz_address_size(dec):
    assert D(dec, "e3 10", 16)["asz"] == 2
    assert D(dec, "67 e3 10", 16)["asz"] == 4      # JECXZ
    assert D(dec, "67 e2 10", 32)["asz"] == 2      # LOOP on CX


@pytest.mark.parametrize("hexstr,bits,op,esize", [
    ("a4", 32, "MOVS", 1), ("a5", 32, "MOVS", 4), ("66 a5", 32, "MOVS", 2), ("a5", 16, "MOVS", 2),
    ("66 a5", 16, "MOVS", 4), ("f3 a5", 32, "MOVS", 4), ("a6", 32, "CMPS", 1),
    ("f2 a7", 32, "CMPS", 4), ("ae", 16, "SCAS", 1), ("ad", 32, "LODS", 4), ("aa", 32, "STOS", 1),
    ("6c", 32, "INS", 1), ("6f", 32, "OUTS", 4),
])
def test_string_forms(dec, hexstr, bits, op, esize):
    d = D(dec, hexstr, bits)
    assert opname(d) == op
    assert d["ops"] == []              # operands are implicit; the element size is kept aside
    ins = Machine(ram_size=1 << 16, mode="prot" if bits == 32 else "real")
    ins.mem.write(0, bytes.fromhex(hexstr.replace(" ", "")))
    assert ins.core.current_insn()["esize"] == esize


@pytest.mark.parametrize("hexstr", [
    "f2 0f 10 c1",          # SSE2 MOVSD xmm, xmm: not string MOVS
    "f2 0f 11 07",          # MOVSD m64, xmm
    "f2 0f c2 c1 00",       # SSE2 CMPSD xmm, xmm, imm8: not string CMPS
    "f3 0f 10 c1",          # MOVSS
])
def test_sse_forms_are_not_strings(dec, hexstr):
    d = D(dec, hexstr)
    assert d is not None and opname(d) == "INVALID"


@pytest.mark.parametrize("hexstr", ["d8 c1", "d9 e8", "dd 07", "df e0", "db e3", "de f9", "da 00", "dc 0d 00 10 00 00"])
def test_x87_escapes(dec, hexstr):
    assert opname(D(dec, hexstr)) == "FPU"
    assert opname(D(dec, hexstr, 16)) == "FPU"


@pytest.mark.parametrize("hexstr,bits,op,kinds", [
    ("8e d8", 16, "MOV_TO_SREG", [(K_SREG, DS), (K_REG, 0)]),
    ("8e 17", 32, "MOV_TO_SREG", [(K_SREG, SS), (K_MEM, 0)]),
    ("8c c8", 32, "MOV_FROM_SREG", [(K_REG, 0), (K_SREG, CS)]),
    ("8c 26 00 10", 16, "MOV_FROM_SREG", [(K_MEM, 0), (K_SREG, FS)]),
    ("0f 22 c0", 32, "MOV_CR", [(K_CREG, 0), (K_REG, 0)]),
    ("0f 20 e3", 32, "MOV_CR", [(K_REG, 3), (K_CREG, 4)]),
    ("0f 23 f8", 32, "MOV_DR", [(K_DREG, 7), (K_REG, 0)]),
    ("0f 21 c1", 32, "MOV_DR", [(K_REG, 1), (K_DREG, 0)]),
    ("06", 16, "PUSH_SREG", [(K_SREG, ES)]),
    ("0f a8", 32, "PUSH_SREG", [(K_SREG, GS)]),
    ("1f", 16, "POP_SREG", [(K_SREG, DS)]),
    ("17", 32, "POP_SREG", [(K_SREG, SS)]),
])
def test_segment_and_control_register_moves(dec, hexstr, bits, op, kinds):
    d = D(dec, hexstr, bits)
    assert opname(d) == op
    assert [(k, r) for k, _, r, _ in d["ops"]] == kinds


@pytest.mark.parametrize("hexstr,ln", [
    ("90", 1), ("66 90", 2), ("0f 1f 00", 3), ("0f 1f 40 00", 4), ("0f 1f 44 00 00", 5),
    ("66 0f 1f 44 00 00", 6), ("0f 1f 80 00 00 00 00", 7), ("0f 1f 84 00 00 00 00 00", 8),
    ("66 0f 1f 84 00 00 00 00 00", 9), ("f3 90", 2),
    ("f3 0f 1e fb", 4),     # ENDBR32: a hint NOP before CET (capstone: "endbr32")
    ("0f 1e fb", 3),        # capstone cannot decode this one
    ("0f 19 04 24", 4), ("0f 1d 00", 3),
])
def test_multibyte_nop(dec, hexstr, ln):
    d = D(dec, hexstr)
    assert opname(d) == "NOP" and d["len"] == ln and d["ops"] == []


def test_multibyte_nop_16bit(dec):
    d = D(dec, "0f 1f 06 34 12", 16)        # [disp16] in 16-bit addressing
    assert opname(d) == "NOP" and d["len"] == 5
    assert D(dec, "0f 1e", 32) is None      # truncated


@pytest.mark.parametrize("hexstr,bits", [
    ("0f 0b", 32),          # UD2 is decoded (as UD2), the rest are not
])
def test_ud2(dec, hexstr, bits):
    assert opname(D(dec, hexstr, bits)) == "UD2"


@pytest.mark.parametrize("hexstr,bits", [
    ("8d c0", 32),          # LEA with a register source
    ("ff 38", 32),          # FF /7
    ("fe 38", 32),          # FE /7
    ("8f c8", 32),          # POP /1
    ("0f c7 c8", 32),       # CMPXCHG8B with a register
    ("ff e8", 32),          # JMP FAR with a register
    ("0f", 32), ("66", 16), ("", 32),
])
def test_undecodable(dec, hexstr, bits):
    assert D(dec, hexstr, bits) is None


def test_unknown_instructions_are_invalid(dec):
    # decodable by capstone, but nothing a P6 runs: OP_INVALID (#UD)
    for h in ("0f 05", "f3 0f b8 c1", "0f ff", "c6 f8 00"):
        assert opname(D(dec, h)) == "INVALID", h


# ---------------------------------------------------------------- capstone corrections

@pytest.mark.parametrize("hexstr,bits,op", [
    ("ff 2f", 32, "JMPF"),          # capstone: near "jmp ptr [edi]"
    ("ff 1f", 32, "CALLF"),         # capstone: near "call ptr [edi]"
    ("66 ff 2f", 16, "JMPF"),       # capstone: near "jmp ptr [bx]"
    ("66 ff 1f", 16, "CALLF"),
    ("ff 2f", 16, "JMPF"),
    ("ff 1f", 16, "CALLF"),
    ("66 ff 2f", 32, "JMPF"),
    ("ff 27", 32, "JMP_IND"),       # FF /4 stays near
    ("ff 17", 16, "CALL_IND"),      # FF /2 stays near
])
def test_far_indirect_is_far(dec, hexstr, bits, op):
    assert opname(D(dec, hexstr, bits)) == op


@pytest.mark.parametrize("hexstr,op,ops", [
    ("f3 0f bc c1", "BSF", [(K_REG, 4, 0), (K_REG, 4, 1)]),     # capstone: tzcnt
    ("f3 0f bd c1", "BSR", [(K_REG, 4, 0), (K_REG, 4, 1)]),     # capstone: lzcnt
    ("66 f3 0f bc 07", "BSF", [(K_REG, 2, 0), (K_MEM, 2, 0)]),
])
def test_rep_bsf_is_bsf(dec, hexstr, op, ops):
    d = D(dec, hexstr)
    assert opname(d) == op
    assert [(k, s, r) for k, s, r, _ in d["ops"]] == ops


def test_enter_operand_sizes(dec):
    # capstone gives both operands the operand size and sign-extends the level
    d = D(dec, "c8 10 00 81", 16)
    assert d["ops"] == [(K_IMM, 2, 0, 0x10), (K_IMM, 1, 0, 0x81)]
    d = D(dec, "c8 ff ff 01", 32)
    assert d["ops"] == [(K_IMM, 2, 0, 0xFFFF), (K_IMM, 1, 0, 1)]


@pytest.mark.parametrize("hexstr,bits,ops", [
    ("6a fd", 16, [(K_IMM, 2, 0, 0xFFFD)]),                  # PUSH imm8, sign-extended to osz
    ("6a fd", 32, [(K_IMM, 4, 0, 0xFFFFFFFD)]),
    ("66 6a fd", 32, [(K_IMM, 2, 0, 0xFFFD)]),
    ("68 34 12", 16, [(K_IMM, 2, 0, 0x1234)]),
    ("e4 60", 32, [(K_REG, 1, 0, 0), (K_IMM, 1, 0, 0x60)]),   # IN AL, imm8
    ("66 ed", 32, [(K_REG, 2, 0, 0), (K_REG, 2, 2, 0)]),      # IN AX, DX
    ("ef", 16, [(K_REG, 2, 2, 0), (K_REG, 2, 0, 0)]),         # OUT DX, AX
    ("0f b6 07", 32, [(K_REG, 4, 0, 0), (K_MEM, 1, 0, 0)]),   # MOVZX r32, m8
    ("66 0f bf c1", 32, [(K_REG, 2, 0, 0), (K_REG, 2, 1, 0)]),
    ("0f ba e0 21", 16, [(K_REG, 2, 0, 0), (K_IMM, 1, 0, 0x21)]),   # BT r16, imm8
    ("d4 0a", 32, [(K_IMM, 1, 0, 10)]),                       # AAM
    ("d5 07", 16, [(K_IMM, 1, 0, 7)]),                        # AAD imm8
    ("83 c0 ff", 16, [(K_REG, 2, 0, 0), (K_IMM, 2, 0, 0xFFFF)]),
    ("6b c3 80", 32, [(K_REG, 4, 0, 0), (K_REG, 4, 3, 0), (K_IMM, 4, 0, 0xFFFFFF80)]),
])
def test_operand_sizes(dec, hexstr, bits, ops):
    assert D(dec, hexstr, bits)["ops"] == ops


def test_misc_ops(dec):
    assert opname(D(dec, "d6")) == "SALC"
    assert opname(D(dec, "62 07", 16)) == "BOUND"
    assert opname(D(dec, "f7 e9")) == "IMUL1"
    assert opname(D(dec, "0f af c1")) == "IMUL"
    assert opname(D(dec, "9b")) == "WAIT"
    assert opname(D(dec, "cd 80")) == "INT"
    assert opname(D(dec, "cc")) == "INT3"
    assert opname(D(dec, "ea 00 10 00 f0", 16)) == "JMPF"
    assert opname(D(dec, "f3 c3")) == "RET"           # "rep ret"


def test_decode_never_reads_past_the_buffer(dec):
    # random byte strings of every length: no crash, lengths within the buffer
    rng = random.Random(5)
    for _ in range(3000):
        b = bytes(rng.getrandbits(8) for _ in range(rng.randrange(1, 16)))
        for bits in (16, 32):
            d = dec.decode(b, bits)
            if d is not None:
                assert 1 <= d["len"] <= len(b)


def test_rep_bsf_runs_as_bsf(strategy):
    # F3 0F BC C3 = rep bsf eax, ebx; a zero source sets ZF and keeps EAX
    m = Machine(ram_size=1 << 16, strategy=strategy)
    m.mem.write(0x1000, bytes.fromhex("f30fbcc3 f30fbdcb f4"))
    m.cpu.eip, m.cpu.ebx, m.cpu.eax = 0x1000, 0x00F0_0100, 0x1234
    assert m.run(10).kind == ExitKind.HLT
    assert (m.cpu.eax, m.cpu.ecx) == (8, 23)
    m.mem.write(0x1000, bytes.fromhex("f30fbcc3 f4"))
    m.cpu.eip, m.cpu.ebx = 0x1000, 0
    m.run(10)
    assert m.cpu.eax == 8 and m.cpu.eflags & 0x40


def test_endbr32_runs_as_nop(strategy):
    m = Machine(ram_size=1 << 16, strategy=strategy)
    m.mem.write(0x1000, bytes.fromhex("f30f1efb 0f1efb 40 f4"))
    m.cpu.eip = 0x1000
    ex = m.run(10)
    assert ex.kind == ExitKind.HLT and m.cpu.eax == 1 and m.stats["insns"] == 4
