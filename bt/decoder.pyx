# cython: language_level=3
"""Instruction decoder: capstone's C API from Cython, into bt's own InsnC.

capstone decodes lengths, prefixes, ModRM/SIB and operand lists; this module
maps its instruction ids onto bt's operation classes (``Op``), its registers onto
encoding numbers, and corrects the forms where its detail is not what the
semantics need (relative branch displacements are read from the instruction
bytes, string and x87 forms are recognised by opcode, segment and control
register moves get their own operations).  No Python object is made per
instruction on this path.
"""
from libc.stdint cimport uint8_t, uint16_t, uint64_t, int64_t
from libc.stdlib cimport malloc, free
from libc.string cimport memset, memchr

from bt._types cimport u8, u16, u32, i8, i16, i32
from bt._insn cimport *

cdef extern from "capstone/capstone.h" nogil:
    ctypedef size_t csh
    ctypedef enum cs_arch:
        CS_ARCH_X86
    ctypedef enum cs_mode:
        CS_MODE_16
        CS_MODE_32
    ctypedef enum cs_opt_type:
        CS_OPT_DETAIL
    ctypedef enum cs_opt_value:
        CS_OPT_ON
        CS_OPT_OFF
    ctypedef enum cs_err:
        CS_ERR_OK

cdef extern from "capstone/x86.h" nogil:
    ctypedef enum x86_op_type:
        X86_OP_INVALID
        X86_OP_REG
        X86_OP_IMM
        X86_OP_MEM
    ctypedef struct x86_op_mem:
        int segment
        int base
        int index
        int scale
        int64_t disp
    ctypedef struct cs_x86_op:
        x86_op_type type
        int reg
        int64_t imm
        x86_op_mem mem
        uint8_t size
        uint8_t access
    ctypedef struct cs_x86_encoding:
        uint8_t modrm_offset
        uint8_t disp_offset
        uint8_t disp_size
        uint8_t imm_offset
        uint8_t imm_size
    ctypedef struct cs_x86:
        uint8_t prefix[4]
        uint8_t opcode[4]
        uint8_t addr_size
        uint8_t modrm
        uint8_t op_count
        cs_x86_op operands[8]
        cs_x86_encoding encoding
    enum:
        X86_REG_INVALID, X86_REG_AH, X86_REG_AL, X86_REG_AX, X86_REG_BH, X86_REG_BL,
        X86_REG_BP, X86_REG_BPL, X86_REG_BX, X86_REG_CH, X86_REG_CL, X86_REG_CS,
        X86_REG_CX, X86_REG_DH, X86_REG_DI, X86_REG_DIL, X86_REG_DL, X86_REG_DS,
        X86_REG_DX, X86_REG_EAX, X86_REG_EBP, X86_REG_EBX, X86_REG_ECX, X86_REG_EDI,
        X86_REG_EDX, X86_REG_EFLAGS, X86_REG_EIP, X86_REG_EIZ, X86_REG_ES, X86_REG_ESI,
        X86_REG_ESP, X86_REG_FPSW, X86_REG_FS, X86_REG_GS, X86_REG_IP, X86_REG_SI,
        X86_REG_SP, X86_REG_SS,
        X86_REG_CR0, X86_REG_CR1, X86_REG_CR2, X86_REG_CR3, X86_REG_CR4, X86_REG_CR5,
        X86_REG_CR6, X86_REG_CR7,
        X86_REG_DR0, X86_REG_DR1, X86_REG_DR2, X86_REG_DR3, X86_REG_DR4, X86_REG_DR5,
        X86_REG_DR6, X86_REG_DR7,
        X86_REG_ENDING
    enum:
        X86_INS_INVALID, X86_INS_AAA, X86_INS_AAD, X86_INS_AAM, X86_INS_AAS, X86_INS_ADC,
        X86_INS_ADD, X86_INS_AND, X86_INS_ARPL, X86_INS_BOUND, X86_INS_BSF, X86_INS_BSR,
        X86_INS_BSWAP, X86_INS_BT, X86_INS_BTC, X86_INS_BTR, X86_INS_BTS, X86_INS_CALL,
        X86_INS_CBW, X86_INS_CDQ, X86_INS_CLC, X86_INS_CLD, X86_INS_CLI, X86_INS_CLTS,
        X86_INS_CMC, X86_INS_CMOVA, X86_INS_CMOVAE, X86_INS_CMOVB, X86_INS_CMOVBE,
        X86_INS_CMOVE, X86_INS_CMOVG, X86_INS_CMOVGE, X86_INS_CMOVL, X86_INS_CMOVLE,
        X86_INS_CMOVNE, X86_INS_CMOVNO, X86_INS_CMOVNP, X86_INS_CMOVNS, X86_INS_CMOVO,
        X86_INS_CMOVP, X86_INS_CMOVS, X86_INS_CMP, X86_INS_CMPSB, X86_INS_CMPSD,
        X86_INS_CMPSW, X86_INS_CMPXCHG, X86_INS_CMPXCHG8B, X86_INS_CPUID, X86_INS_CWD,
        X86_INS_CWDE, X86_INS_DAA, X86_INS_DAS, X86_INS_DEC, X86_INS_DIV, X86_INS_ENTER,
        X86_INS_HLT, X86_INS_IDIV, X86_INS_IMUL, X86_INS_IN, X86_INS_INC, X86_INS_INSB,
        X86_INS_INSD, X86_INS_INSW, X86_INS_INT, X86_INS_INT1, X86_INS_INT3, X86_INS_INTO,
        X86_INS_INVD, X86_INS_INVLPG, X86_INS_IRET, X86_INS_IRETD, X86_INS_JA, X86_INS_JAE,
        X86_INS_JB, X86_INS_JBE, X86_INS_JCXZ, X86_INS_JE, X86_INS_JECXZ, X86_INS_JG,
        X86_INS_JGE, X86_INS_JL, X86_INS_JLE, X86_INS_JMP, X86_INS_JNE, X86_INS_JNO,
        X86_INS_JNP, X86_INS_JNS, X86_INS_JO, X86_INS_JP, X86_INS_JS, X86_INS_LAHF,
        X86_INS_LAR, X86_INS_LDS, X86_INS_LEA, X86_INS_LEAVE, X86_INS_LES, X86_INS_LFS,
        X86_INS_LGDT, X86_INS_LGS, X86_INS_LIDT, X86_INS_LJMP, X86_INS_LCALL, X86_INS_LLDT,
        X86_INS_LMSW, X86_INS_LODSB, X86_INS_LODSD, X86_INS_LODSW, X86_INS_LOOP,
        X86_INS_LOOPE, X86_INS_LOOPNE, X86_INS_LSL, X86_INS_LSS, X86_INS_LTR, X86_INS_MOV,
        X86_INS_MOVSB, X86_INS_MOVSD, X86_INS_MOVSW, X86_INS_MOVSX, X86_INS_MOVZX,
        X86_INS_MUL, X86_INS_NEG, X86_INS_NOP, X86_INS_NOT, X86_INS_OR, X86_INS_OUT,
        X86_INS_OUTSB, X86_INS_OUTSD, X86_INS_OUTSW, X86_INS_POP, X86_INS_POPAL,
        X86_INS_POPAW, X86_INS_POPF, X86_INS_POPFD, X86_INS_PUSH, X86_INS_PUSHAL,
        X86_INS_PUSHAW, X86_INS_PUSHF, X86_INS_PUSHFD, X86_INS_RCL, X86_INS_RCR,
        X86_INS_RDMSR, X86_INS_RDTSC, X86_INS_RET, X86_INS_RETF, X86_INS_ROL, X86_INS_ROR,
        X86_INS_RSM, X86_INS_SAHF, X86_INS_SAL, X86_INS_SALC, X86_INS_SAR, X86_INS_SBB,
        X86_INS_SCASB, X86_INS_SCASD, X86_INS_SCASW, X86_INS_SETA, X86_INS_SETAE,
        X86_INS_SETB, X86_INS_SETBE, X86_INS_SETE, X86_INS_SETG, X86_INS_SETGE,
        X86_INS_SETL, X86_INS_SETLE, X86_INS_SETNE, X86_INS_SETNO, X86_INS_SETNP,
        X86_INS_SETNS, X86_INS_SETO, X86_INS_SETP, X86_INS_SETS, X86_INS_SGDT, X86_INS_SHL,
        X86_INS_SHLD, X86_INS_SHR, X86_INS_SHRD, X86_INS_SIDT, X86_INS_SLDT, X86_INS_SMSW,
        X86_INS_STC, X86_INS_STD, X86_INS_STI, X86_INS_STOSB, X86_INS_STOSD, X86_INS_STOSW,
        X86_INS_STR, X86_INS_SUB, X86_INS_SYSENTER, X86_INS_SYSEXIT, X86_INS_TEST,
        X86_INS_UD2, X86_INS_VERR, X86_INS_VERW, X86_INS_WAIT, X86_INS_WBINVD, X86_INS_WRMSR, X86_INS_XADD,
        X86_INS_XCHG, X86_INS_XLATB, X86_INS_XOR, X86_INS_PAUSE, X86_INS_FNOP,
        X86_INS_ENDING

cdef extern from "capstone/capstone.h" nogil:
    ctypedef struct cs_detail:
        cs_x86 x86
    ctypedef struct cs_insn:
        unsigned int id
        uint64_t address
        uint16_t size
        uint8_t bytes[24]
        char mnemonic[32]
        char op_str[160]
        cs_detail* detail
    cs_err cs_open(cs_arch arch, cs_mode mode, csh* handle)
    cs_err cs_close(csh* handle)
    cs_err cs_option(csh handle, cs_opt_type type, size_t value)
    cs_insn* cs_malloc(csh handle)
    void cs_free(cs_insn* insn, size_t count)
    bint cs_disasm_iter(csh handle, const uint8_t** code, size_t* size, uint64_t* address,
                        cs_insn* insn)


ctypedef struct DecoderC:
    csh h[2]            # [0] 16-bit code, [1] 32-bit code
    cs_insn* insn[2]    # one reusable instruction buffer per handle


# Register classes for regmap
cdef enum:
    RC_NONE = 0
    RC_GPR = 1
    RC_SREG = 2
    RC_CREG = 3
    RC_DREG = 4

cdef u8 reg_class[X86_REG_ENDING]
cdef u8 reg_num[X86_REG_ENDING]
cdef u8 reg_size[X86_REG_ENDING]
cdef u16 id_op[X86_INS_ENDING]


cdef void _r(int cs_reg, u8 cls, u8 num, u8 size):
    reg_class[cs_reg] = cls
    reg_num[cs_reg] = num
    reg_size[cs_reg] = size


cdef void _init_tables():
    cdef int i
    memset(reg_class, 0, sizeof(reg_class))
    memset(id_op, 0, sizeof(id_op))
    # general registers in encoding order
    _r(X86_REG_EAX, RC_GPR, 0, 4); _r(X86_REG_ECX, RC_GPR, 1, 4); _r(X86_REG_EDX, RC_GPR, 2, 4)
    _r(X86_REG_EBX, RC_GPR, 3, 4); _r(X86_REG_ESP, RC_GPR, 4, 4); _r(X86_REG_EBP, RC_GPR, 5, 4)
    _r(X86_REG_ESI, RC_GPR, 6, 4); _r(X86_REG_EDI, RC_GPR, 7, 4)
    _r(X86_REG_AX, RC_GPR, 0, 2); _r(X86_REG_CX, RC_GPR, 1, 2); _r(X86_REG_DX, RC_GPR, 2, 2)
    _r(X86_REG_BX, RC_GPR, 3, 2); _r(X86_REG_SP, RC_GPR, 4, 2); _r(X86_REG_BP, RC_GPR, 5, 2)
    _r(X86_REG_SI, RC_GPR, 6, 2); _r(X86_REG_DI, RC_GPR, 7, 2)
    _r(X86_REG_AL, RC_GPR, 0, 1); _r(X86_REG_CL, RC_GPR, 1, 1); _r(X86_REG_DL, RC_GPR, 2, 1)
    _r(X86_REG_BL, RC_GPR, 3, 1); _r(X86_REG_AH, RC_GPR, 4, 1); _r(X86_REG_CH, RC_GPR, 5, 1)
    _r(X86_REG_DH, RC_GPR, 6, 1); _r(X86_REG_BH, RC_GPR, 7, 1)
    _r(X86_REG_ES, RC_SREG, 0, 2); _r(X86_REG_CS, RC_SREG, 1, 2); _r(X86_REG_SS, RC_SREG, 2, 2)
    _r(X86_REG_DS, RC_SREG, 3, 2); _r(X86_REG_FS, RC_SREG, 4, 2); _r(X86_REG_GS, RC_SREG, 5, 2)
    _r(X86_REG_CR0, RC_CREG, 0, 4); _r(X86_REG_CR1, RC_CREG, 1, 4); _r(X86_REG_CR2, RC_CREG, 2, 4)
    _r(X86_REG_CR3, RC_CREG, 3, 4); _r(X86_REG_CR4, RC_CREG, 4, 4); _r(X86_REG_CR5, RC_CREG, 5, 4)
    _r(X86_REG_CR6, RC_CREG, 6, 4); _r(X86_REG_CR7, RC_CREG, 7, 4)
    _r(X86_REG_DR0, RC_DREG, 0, 4); _r(X86_REG_DR1, RC_DREG, 1, 4); _r(X86_REG_DR2, RC_DREG, 2, 4)
    _r(X86_REG_DR3, RC_DREG, 3, 4); _r(X86_REG_DR4, RC_DREG, 4, 4); _r(X86_REG_DR5, RC_DREG, 5, 4)
    _r(X86_REG_DR6, RC_DREG, 6, 4); _r(X86_REG_DR7, RC_DREG, 7, 4)

    id_op[X86_INS_MOV] = OP_MOV
    id_op[X86_INS_MOVZX] = OP_MOVZX
    id_op[X86_INS_MOVSX] = OP_MOVSX
    id_op[X86_INS_XCHG] = OP_XCHG
    id_op[X86_INS_XADD] = OP_XADD
    id_op[X86_INS_CMPXCHG] = OP_CMPXCHG
    id_op[X86_INS_CMPXCHG8B] = OP_CMPXCHG8B
    id_op[X86_INS_BSWAP] = OP_BSWAP
    id_op[X86_INS_LEA] = OP_LEA
    id_op[X86_INS_PUSH] = OP_PUSH
    id_op[X86_INS_POP] = OP_POP
    id_op[X86_INS_PUSHAW] = OP_PUSHA
    id_op[X86_INS_PUSHAL] = OP_PUSHA
    id_op[X86_INS_POPAW] = OP_POPA
    id_op[X86_INS_POPAL] = OP_POPA
    id_op[X86_INS_PUSHF] = OP_PUSHF
    id_op[X86_INS_PUSHFD] = OP_PUSHF
    id_op[X86_INS_POPF] = OP_POPF
    id_op[X86_INS_POPFD] = OP_POPF
    id_op[X86_INS_LAHF] = OP_LAHF
    id_op[X86_INS_SAHF] = OP_SAHF
    id_op[X86_INS_CBW] = OP_CBW
    id_op[X86_INS_CWDE] = OP_CBW
    id_op[X86_INS_CWD] = OP_CWD
    id_op[X86_INS_CDQ] = OP_CWD
    id_op[X86_INS_ADD] = OP_ADD
    id_op[X86_INS_OR] = OP_OR
    id_op[X86_INS_ADC] = OP_ADC
    id_op[X86_INS_SBB] = OP_SBB
    id_op[X86_INS_AND] = OP_AND
    id_op[X86_INS_SUB] = OP_SUB
    id_op[X86_INS_XOR] = OP_XOR
    id_op[X86_INS_CMP] = OP_CMP
    id_op[X86_INS_TEST] = OP_TEST
    id_op[X86_INS_INC] = OP_INC
    id_op[X86_INS_DEC] = OP_DEC
    id_op[X86_INS_NEG] = OP_NEG
    id_op[X86_INS_NOT] = OP_NOT
    id_op[X86_INS_MUL] = OP_MUL
    id_op[X86_INS_IMUL] = OP_IMUL
    id_op[X86_INS_DIV] = OP_DIV
    id_op[X86_INS_IDIV] = OP_IDIV
    id_op[X86_INS_ROL] = OP_ROL
    id_op[X86_INS_ROR] = OP_ROR
    id_op[X86_INS_RCL] = OP_RCL
    id_op[X86_INS_RCR] = OP_RCR
    id_op[X86_INS_SHL] = OP_SHL
    id_op[X86_INS_SAL] = OP_SHL
    id_op[X86_INS_SHR] = OP_SHR
    id_op[X86_INS_SAR] = OP_SAR
    id_op[X86_INS_SHLD] = OP_SHLD
    id_op[X86_INS_SHRD] = OP_SHRD
    id_op[X86_INS_BT] = OP_BT
    id_op[X86_INS_BTS] = OP_BTS
    id_op[X86_INS_BTR] = OP_BTR
    id_op[X86_INS_BTC] = OP_BTC
    id_op[X86_INS_BSF] = OP_BSF
    id_op[X86_INS_BSR] = OP_BSR
    for i in (X86_INS_SETA, X86_INS_SETAE, X86_INS_SETB, X86_INS_SETBE, X86_INS_SETE,
              X86_INS_SETG, X86_INS_SETGE, X86_INS_SETL, X86_INS_SETLE, X86_INS_SETNE,
              X86_INS_SETNO, X86_INS_SETNP, X86_INS_SETNS, X86_INS_SETO, X86_INS_SETP,
              X86_INS_SETS):
        id_op[i] = OP_SETCC
    for i in (X86_INS_CMOVA, X86_INS_CMOVAE, X86_INS_CMOVB, X86_INS_CMOVBE, X86_INS_CMOVE,
              X86_INS_CMOVG, X86_INS_CMOVGE, X86_INS_CMOVL, X86_INS_CMOVLE, X86_INS_CMOVNE,
              X86_INS_CMOVNO, X86_INS_CMOVNP, X86_INS_CMOVNS, X86_INS_CMOVO, X86_INS_CMOVP,
              X86_INS_CMOVS):
        id_op[i] = OP_CMOVCC
    for i in (X86_INS_JA, X86_INS_JAE, X86_INS_JB, X86_INS_JBE, X86_INS_JE, X86_INS_JG,
              X86_INS_JGE, X86_INS_JL, X86_INS_JLE, X86_INS_JNE, X86_INS_JNO, X86_INS_JNP,
              X86_INS_JNS, X86_INS_JO, X86_INS_JP, X86_INS_JS):
        id_op[i] = OP_JCC
    id_op[X86_INS_JMP] = OP_JMP
    id_op[X86_INS_CALL] = OP_CALL
    id_op[X86_INS_RET] = OP_RET
    id_op[X86_INS_LOOP] = OP_LOOP
    id_op[X86_INS_LOOPE] = OP_LOOPE
    id_op[X86_INS_LOOPNE] = OP_LOOPNE
    id_op[X86_INS_JCXZ] = OP_JCXZ
    id_op[X86_INS_JECXZ] = OP_JCXZ
    id_op[X86_INS_ENTER] = OP_ENTER
    id_op[X86_INS_LEAVE] = OP_LEAVE
    id_op[X86_INS_MOVSB] = OP_MOVS
    id_op[X86_INS_MOVSW] = OP_MOVS
    id_op[X86_INS_MOVSD] = OP_MOVS
    id_op[X86_INS_CMPSB] = OP_CMPS
    id_op[X86_INS_CMPSW] = OP_CMPS
    id_op[X86_INS_CMPSD] = OP_CMPS
    id_op[X86_INS_SCASB] = OP_SCAS
    id_op[X86_INS_SCASW] = OP_SCAS
    id_op[X86_INS_SCASD] = OP_SCAS
    id_op[X86_INS_LODSB] = OP_LODS
    id_op[X86_INS_LODSW] = OP_LODS
    id_op[X86_INS_LODSD] = OP_LODS
    id_op[X86_INS_STOSB] = OP_STOS
    id_op[X86_INS_STOSW] = OP_STOS
    id_op[X86_INS_STOSD] = OP_STOS
    id_op[X86_INS_DAA] = OP_DAA
    id_op[X86_INS_DAS] = OP_DAS
    id_op[X86_INS_AAA] = OP_AAA
    id_op[X86_INS_AAS] = OP_AAS
    id_op[X86_INS_AAM] = OP_AAM
    id_op[X86_INS_AAD] = OP_AAD
    id_op[X86_INS_XLATB] = OP_XLAT
    id_op[X86_INS_CLC] = OP_CLC
    id_op[X86_INS_STC] = OP_STC
    id_op[X86_INS_CMC] = OP_CMC
    id_op[X86_INS_CLD] = OP_CLD
    id_op[X86_INS_STD] = OP_STD
    id_op[X86_INS_NOP] = OP_NOP
    id_op[X86_INS_PAUSE] = OP_NOP
    id_op[X86_INS_SALC] = OP_SALC
    id_op[X86_INS_UD2] = OP_UD2
    id_op[X86_INS_WAIT] = OP_WAIT
    id_op[X86_INS_HLT] = OP_HLT
    id_op[X86_INS_CLI] = OP_CLI
    id_op[X86_INS_STI] = OP_STI
    id_op[X86_INS_CPUID] = OP_CPUID
    id_op[X86_INS_RDTSC] = OP_RDTSC
    id_op[X86_INS_IN] = OP_IN
    id_op[X86_INS_OUT] = OP_OUT
    id_op[X86_INS_INSB] = OP_INS
    id_op[X86_INS_INSW] = OP_INS
    id_op[X86_INS_INSD] = OP_INS
    id_op[X86_INS_OUTSB] = OP_OUTS
    id_op[X86_INS_OUTSW] = OP_OUTS
    id_op[X86_INS_OUTSD] = OP_OUTS
    id_op[X86_INS_INT] = OP_INT
    id_op[X86_INS_INT1] = OP_INT      # F1 (ICEBP): a #DB trap; operand fixed up below
    id_op[X86_INS_INT3] = OP_INT3
    id_op[X86_INS_INTO] = OP_INTO
    id_op[X86_INS_IRET] = OP_IRET
    id_op[X86_INS_IRETD] = OP_IRET
    id_op[X86_INS_LDS] = OP_LDS
    id_op[X86_INS_LES] = OP_LES
    id_op[X86_INS_LFS] = OP_LFS
    id_op[X86_INS_LGS] = OP_LGS
    id_op[X86_INS_LSS] = OP_LSS
    id_op[X86_INS_LJMP] = OP_JMPF
    id_op[X86_INS_LCALL] = OP_CALLF
    id_op[X86_INS_RETF] = OP_RETF
    id_op[X86_INS_LGDT] = OP_LGDT
    id_op[X86_INS_LIDT] = OP_LIDT
    id_op[X86_INS_SGDT] = OP_SGDT
    id_op[X86_INS_SIDT] = OP_SIDT
    id_op[X86_INS_LLDT] = OP_LLDT
    id_op[X86_INS_SLDT] = OP_SLDT
    id_op[X86_INS_LTR] = OP_LTR
    id_op[X86_INS_STR] = OP_STR
    id_op[X86_INS_LMSW] = OP_LMSW
    id_op[X86_INS_SMSW] = OP_SMSW
    id_op[X86_INS_CLTS] = OP_CLTS
    id_op[X86_INS_INVLPG] = OP_INVLPG
    id_op[X86_INS_INVD] = OP_INVD
    id_op[X86_INS_WBINVD] = OP_WBINVD
    id_op[X86_INS_RDMSR] = OP_RDMSR
    id_op[X86_INS_WRMSR] = OP_WRMSR
    id_op[X86_INS_LAR] = OP_LAR
    id_op[X86_INS_LSL] = OP_LSL
    id_op[X86_INS_VERR] = OP_VERR
    id_op[X86_INS_VERW] = OP_VERW
    id_op[X86_INS_ARPL] = OP_ARPL
    id_op[X86_INS_BOUND] = OP_BOUND
    id_op[X86_INS_SYSENTER] = OP_SYSENTER
    id_op[X86_INS_SYSEXIT] = OP_SYSEXIT
    id_op[X86_INS_RSM] = OP_RSM


_init_tables()


cdef u8 _seg_of_prefix(u8 p) noexcept nogil:
    if p == 0x26: return 0
    if p == 0x2E: return 1
    if p == 0x36: return 2
    if p == 0x3E: return 3
    if p == 0x64: return 4
    if p == 0x65: return 5
    return 3


cdef inline u32 _read_le(const u8* p, int n) noexcept nogil:
    # sign-extended little-endian read of an n-byte displacement
    if n == 1:
        return <u32><i32>(<i8>p[0])
    if n == 2:
        return <u32><i32>(<i16>(p[0] | (p[1] << 8)))
    return <u32>p[0] | (<u32>p[1] << 8) | (<u32>p[2] << 16) | (<u32>p[3] << 24)


cdef inline int _prefix_len(const u8* p, size_t n) noexcept nogil:
    # number of legacy prefix bytes before the opcode (at most 14)
    cdef int i = 0
    while <size_t>i < n and i < 14:
        if p[i] == 0x66 or p[i] == 0x67 or p[i] == 0xF0 or p[i] == 0xF2 or p[i] == 0xF3 or \
                p[i] == 0x26 or p[i] == 0x2E or p[i] == 0x36 or p[i] == 0x3E or p[i] == 0x64 or \
                p[i] == 0x65:
            i += 1
        else:
            break
    return i


cdef int _modrm_len(const u8* p, size_t n, bint a32) noexcept nogil:
    # bytes of ModRM + SIB + displacement at p, or 0 when they do not fit in n
    cdef int mod, rm, ln
    if n < 1:
        return 0
    mod = p[0] >> 6
    rm = p[0] & 7
    ln = 1
    if mod == 3:
        return 1
    if a32:
        if rm == 4:
            if n < 2:
                return 0
            ln = 2
            if mod == 0 and (p[1] & 7) == 5:
                ln += 4
        elif mod == 0 and rm == 5:
            ln += 4
        if mod == 1:
            ln += 1
        elif mod == 2:
            ln += 4
    else:
        if mod == 0 and rm == 6:
            ln += 2
        elif mod == 1:
            ln += 1
        elif mod == 2:
            ln += 2
    if <size_t>ln > n:
        return 0
    return ln


cdef int _hint_nop(const u8* code, size_t n, bint code32, InsnC* out) noexcept nogil:
    """0F 19..0F 1F /r: the reserved-NOP (hint) space, NOP on every P6 (SDM vol. 2
    NOP; ENDBR32 = F3 0F 1E FB relies on it).  capstone rejects some of it
    (0F 1E FB) and names other forms (F3 0F 1E FB = endbr32) with ids bt does not
    map.  Returns the length, or 0 when code is not such an instruction."""
    cdef int i = _prefix_len(code, n), j, ml, a32
    cdef int osz = 4 if code32 else 2
    a32 = code32
    for j in range(i):
        if code[j] == 0x67:
            a32 = not code32
        elif code[j] == 0x66:
            osz = 2 if code32 else 4
    if <size_t>(i + 2) >= n or code[i] != 0x0F or code[i + 1] < 0x19 or code[i + 1] > 0x1F:
        return 0
    ml = _modrm_len(code + i + 2, n - i - 2, a32)
    if ml == 0 or i + 2 + ml > 15:
        return 0
    memset(out, 0, sizeof(InsnC))
    out.base = REG_NONE
    out.index = REG_NONE
    out.seg = 3
    out.op = OP_NOP
    out.len = <u8>(i + 2 + ml)
    out.osz = <u8>osz
    out.asz = 4 if a32 else 2
    for j in range(i):
        if code[j] == 0xF0:
            out.prefix |= PF_LOCK      # LOCK NOP: #UD (the translator checks)
    return out.len


cdef int _x87_decode(const u8* code, size_t n, bint code32, InsnC* out) noexcept nogil:
    """The x87 escapes D8-DF and FXSAVE/FXRSTOR (0F AE /0 /1), decoded here from
    the bytes: capstone rejects some encodings every P6 runs (the FSTP1/FXCH4
    aliases, FFREEP) and bt's x87 wants the escape and ModRM as they are.
    Returns the length; 0 when code is not such an instruction (or is cut short)."""
    cdef int i = _prefix_len(code, n), j, k, a32, mod, rm, ln, sib, esc
    cdef u8 modrm
    cdef int osz = 4 if code32 else 2
    a32 = code32
    if <size_t>(i + 1) >= n:
        return 0
    esc = code[i]
    if 0xD8 <= esc <= 0xDF:
        j = i + 1
    elif esc == 0x0F and code[i + 1] == 0xAE:
        j = i + 2
        if <size_t>j >= n or (code[j] >> 6) == 3 or ((code[j] >> 3) & 7) > 1:
            return 0
    else:
        return 0
    memset(out, 0, sizeof(InsnC))
    out.base = REG_NONE
    out.index = REG_NONE
    out.seg = 3
    for k in range(i):
        if code[k] == 0x67:
            a32 = not code32
            out.prefix |= PF_ADSIZE
        elif code[k] == 0x66:
            osz = 2 if code32 else 4
            out.prefix |= PF_OPSIZE
        elif code[k] == 0xF0:
            out.prefix |= PF_LOCK
        elif code[k] == 0xF3:
            out.prefix = (out.prefix & ~(<u8>PF_REPNE)) | PF_REP
        elif code[k] == 0xF2:
            out.prefix = (out.prefix & ~(<u8>PF_REP)) | PF_REPNE
        else:
            out.prefix |= PF_SEGOVR
            out.seg = _seg_of_prefix(code[k])
    ln = _modrm_len(code + j, n - j, a32)
    if ln == 0 or j + ln > 15:
        return 0
    modrm = code[j]
    mod = modrm >> 6
    rm = modrm & 7
    out.osz = <u8>osz
    out.asz = 4 if a32 else 2
    out.len = <u8>(j + ln)
    if esc == 0x0F:
        out.op = OP_FXSAVE if ((modrm >> 3) & 7) == 0 else OP_FXRSTOR
        out.cc = 0
    else:
        out.op = OP_FPU
        out.cc = esc & 7
    out.ops[0].reg = modrm
    out.ops[0].imm = (<u32>esc << 8) | modrm
    if mod == 3:
        return out.len
    out.nops = 1
    out.ops[0].kind = OK_MEM
    if a32:
        if rm == 4:
            sib = code[j + 1]
            if (sib & 7) != 5 or mod != 0:
                out.base = sib & 7
            if ((sib >> 3) & 7) != 4:
                out.index = (sib >> 3) & 7
                out.scale = sib >> 6
            if mod == 0 and (sib & 7) == 5:
                out.disp = _read_le(code + j + 2, 4)
            elif mod == 1:
                out.disp = _read_le(code + j + 2, 1)
            elif mod == 2:
                out.disp = _read_le(code + j + 2, 4)
        elif mod == 0 and rm == 5:
            out.disp = _read_le(code + j + 1, 4)
        else:
            out.base = rm
            if mod == 1:
                out.disp = _read_le(code + j + 1, 1)
            elif mod == 2:
                out.disp = _read_le(code + j + 1, 4)
    else:
        # 16-bit forms: BX+SI BX+DI BP+SI BP+DI SI DI BP(disp16 when mod 0) BX
        if mod == 0 and rm == 6:
            out.disp = _read_le(code + j + 1, 2) & 0xFFFF
        else:
            if rm == 0 or rm == 1 or rm == 7:
                out.base = 3
            elif rm == 4:
                out.base = 6
            elif rm == 5:
                out.base = 7
            else:
                out.base = 5
            if rm < 4:
                out.index = 6 if (rm & 1) == 0 else 7
            if mod == 1:
                out.disp = _read_le(code + j + 1, 1) & 0xFFFF
            elif mod == 2:
                out.disp = _read_le(code + j + 1, 2) & 0xFFFF
    if not (out.prefix & PF_SEGOVR) and (out.base == 4 or out.base == 5):
        out.seg = 2
    return out.len


cdef void* decoder_new() except NULL:
    cdef DecoderC* d = <DecoderC*>malloc(sizeof(DecoderC))
    if d == NULL:
        raise MemoryError()
    memset(d, 0, sizeof(DecoderC))
    if cs_open(CS_ARCH_X86, CS_MODE_16, &d.h[0]) != CS_ERR_OK or \
       cs_open(CS_ARCH_X86, CS_MODE_32, &d.h[1]) != CS_ERR_OK:
        free(d)
        raise RuntimeError("capstone: cs_open failed for x86")
    cs_option(d.h[0], CS_OPT_DETAIL, CS_OPT_ON)
    cs_option(d.h[1], CS_OPT_DETAIL, CS_OPT_ON)
    d.insn[0] = cs_malloc(d.h[0])
    d.insn[1] = cs_malloc(d.h[1])
    return d


cdef void decoder_free(void* dec) noexcept:
    cdef DecoderC* d = <DecoderC*>dec
    if d == NULL:
        return
    cs_free(d.insn[0], 1)
    cs_free(d.insn[1], 1)
    cs_close(&d.h[0])
    cs_close(&d.h[1])
    free(d)


cdef int bt_decode(void* dec, const u8* code, size_t n, u32 eip, bint code32,
                   InsnC* out) noexcept nogil:
    """Decode one instruction at ``code`` (at most n bytes) into ``out``.

    Returns the length, or 0 when the bytes are no valid instruction (out.op is
    OP_INVALID and out.len 0: the guest gets #UD; a caller that gave fewer than
    15 bytes may fetch more first).
    """
    cdef DecoderC* d = <DecoderC*>dec
    cdef int m = 1 if code32 else 0
    cdef cs_insn* insn = d.insn[m]
    cdef const uint8_t* p = code
    cdef size_t sz = n
    cdef uint64_t addr = 0
    cdef cs_x86* x
    cdef cs_x86_op* o
    cdef OperandC* q
    cdef int i, k, cls, op0, op1, has_mem = 0
    memset(out, 0, sizeof(InsnC))
    out.base = REG_NONE
    out.index = REG_NONE
    out.seg = 3
    if n > 15:
        sz = 15
    i = _x87_decode(code, sz, code32, out)
    if i:
        return i
    if not cs_disasm_iter(d.h[m], &p, &sz, &addr, insn):
        return _hint_nop(code, sz, code32, out)
    x = &insn.detail.x86
    out.len = <u8>insn.size
    out.op = id_op[insn.id] if insn.id < X86_INS_ENDING else OP_INVALID
    out.asz = x.addr_size
    out.osz = 4 if code32 else 2
    if x.prefix[2] == 0x66:
        out.osz = 6 - out.osz
        out.prefix |= PF_OPSIZE
    if x.prefix[3] == 0x67:
        out.prefix |= PF_ADSIZE
    if x.prefix[0] == 0xF0:
        out.prefix |= PF_LOCK
    elif x.prefix[0] == 0xF3:
        out.prefix |= PF_REP
    elif x.prefix[0] == 0xF2:
        out.prefix |= PF_REPNE
    if x.prefix[1] != 0:
        out.prefix |= PF_SEGOVR
        out.seg = _seg_of_prefix(x.prefix[1])
    op0 = x.opcode[0]
    op1 = x.opcode[1]
    if op0 == 0x0F:
        out.cc = op1 & 15
    else:
        out.cc = op0 & 15

    # x87 escapes (and FXSAVE/FXRSTOR) were taken by _x87_decode above; one
    # that did not fit in n bytes is no valid instruction here
    if 0xD8 <= op0 <= 0xDF:
        out.op = OP_INVALID
        return 0
    if out.op == OP_INVALID or out.op == OP_NOP:
        # the hint-NOP space (ENDBR32 among it) is a NOP on P6
        i = _hint_nop(code, n if n < 15 else 15, code32, out)
        if i:
            return i
        i = _prefix_len(code, out.len)
        if out.op == OP_INVALID and code[i] == 0x0F and (code[i + 1] == 0xBC or code[i + 1] == 0xBD) \
                and memchr(code, 0xF3, i) != NULL:
            # capstone calls F3 0F BC/BD TZCNT/LZCNT (BMI/ABM); a P6 ignores the F3
            # and runs BSF/BSR.  GCC emits "rep bsf" for ctz on purpose (the same
            # result on old CPUs).  The operands capstone gave (reg, r/m) are BSF's.
            out.op = OP_BSF if code[i + 1] == 0xBC else OP_BSR

    # operands
    k = 0
    for i in range(x.op_count):
        if k >= 3:
            break
        o = &x.operands[i]
        q = &out.ops[k]
        q.size = o.size
        if o.type == X86_OP_REG:
            if o.reg <= 0 or o.reg >= X86_REG_ENDING:
                continue
            cls = reg_class[o.reg]
            if cls == RC_GPR:
                q.kind = OK_REG
            elif cls == RC_SREG:
                q.kind = OK_SREG
            elif cls == RC_CREG:
                q.kind = OK_CREG
            elif cls == RC_DREG:
                q.kind = OK_DREG
            else:
                continue
            q.reg = reg_num[o.reg]
            q.size = reg_size[o.reg]
        elif o.type == X86_OP_IMM:
            q.kind = OK_IMM
            q.imm = <u32>o.imm
            if o.size == 1:
                q.imm &= 0xFF
            elif o.size == 2:
                q.imm &= 0xFFFF
        elif o.type == X86_OP_MEM:
            q.kind = OK_MEM
            if not has_mem:
                has_mem = 1
                if o.mem.base > 0 and o.mem.base < X86_REG_ENDING and reg_class[o.mem.base] == RC_GPR:
                    out.base = reg_num[o.mem.base]
                if o.mem.index > 0 and o.mem.index < X86_REG_ENDING and reg_class[o.mem.index] == RC_GPR:
                    out.index = reg_num[o.mem.index]
                    out.scale = 0 if o.mem.scale <= 1 else (1 if o.mem.scale == 2 else (2 if o.mem.scale == 4 else 3))
                out.disp = <u32>o.mem.disp
                if out.asz == 2:
                    out.disp &= 0xFFFF
                if not (out.prefix & PF_SEGOVR) and (out.base == 4 or out.base == 5):
                    # ESP/EBP (or BP in 16-bit addressing) based: stack segment
                    out.seg = 2
        else:
            continue
        k += 1
    out.nops = k

    # --- forms whose meaning capstone's id alone does not give ---
    if out.op == OP_MOV:
        if out.ops[0].kind == OK_SREG:
            out.op = OP_MOV_TO_SREG
        elif out.ops[1].kind == OK_SREG:
            out.op = OP_MOV_FROM_SREG
        elif out.ops[0].kind == OK_CREG or out.ops[1].kind == OK_CREG:
            out.op = OP_MOV_CR
        elif out.ops[0].kind == OK_DREG or out.ops[1].kind == OK_DREG:
            out.op = OP_MOV_DR
    elif out.op == OP_PUSH:
        if out.ops[0].kind == OK_SREG:
            out.op = OP_PUSH_SREG
    elif out.op == OP_POP:
        if out.ops[0].kind == OK_SREG:
            out.op = OP_POP_SREG
    elif out.op == OP_IMUL:
        if out.nops == 1:
            out.op = OP_IMUL1
    elif (out.op == OP_JMP or out.op == OP_CALL) and op0 == 0xFF and \
            ((x.modrm >> 3) & 7) >= 3 and ((x.modrm >> 3) & 7) != 4:
        # FF /3 and FF /5 are CALL FAR / JMP FAR m16:16|m16:32 whatever the operand
        # size; capstone names them near CALL/JMP in 32-bit code without 0x66 and
        # in 16-bit code with 0x66 ("jmp ptr [edi]")
        if (x.modrm >> 6) == 3:
            out.op = OP_INVALID
        else:
            out.op = OP_CALLF if ((x.modrm >> 3) & 7) == 3 else OP_JMPF
    elif out.op == OP_JMP or out.op == OP_CALL:
        if op0 == 0xE8 or op0 == 0xE9 or op0 == 0xEB:
            out.ops[0].kind = OK_REL
            out.ops[0].imm = _read_le(code + x.encoding.imm_offset, x.encoding.imm_size)
        else:
            out.op = OP_JMP_IND if out.op == OP_JMP else OP_CALL_IND
    elif out.op == OP_JCC or out.op == OP_LOOP or out.op == OP_LOOPE or \
            out.op == OP_LOOPNE or out.op == OP_JCXZ:
        out.ops[0].kind = OK_REL
        out.ops[0].imm = _read_le(code + x.encoding.imm_offset, x.encoding.imm_size)
    elif out.op == OP_MOVS or out.op == OP_CMPS:
        # MOVSD/CMPSD are also SSE2 mnemonics; only A4-A7 are the string forms here
        if op0 < 0xA4 or op0 > 0xA7:
            out.op = OP_INVALID
    elif out.op == OP_NOP:
        out.nops = 0
    elif out.op == OP_INT and op0 == 0xF1:
        out.nops = 1
        out.ops[0].kind = OK_IMM
        out.ops[0].size = 1
        out.ops[0].imm = 1
    elif out.op == OP_ENTER:
        # ENTER imm16, imm8: capstone gives both the operand size and sign-extends
        # the level byte (c8 10 00 81 -> "enter 0x10, -0x7f")
        out.ops[0].size = 2
        out.ops[0].imm &= 0xFFFF
        out.ops[1].size = 1
        out.ops[1].imm &= 0xFF
    if out.op == OP_MOVS or out.op == OP_CMPS or out.op == OP_SCAS or out.op == OP_LODS or \
            out.op == OP_STOS or out.op == OP_INS or out.op == OP_OUTS:
        # REP/REPNE from the prefix bytes, the last F2/F3 winning: capstone drops
        # an F2 that follows 0x66 ("66 f2 a5" came out as a plain MOVSD)
        i = _prefix_len(code, out.len)
        for k in range(i):
            if code[k] == 0xF3:
                out.prefix = (out.prefix & ~(<u8>PF_REPNE)) | PF_REP
            elif code[k] == 0xF2:
                out.prefix = (out.prefix & ~(<u8>PF_REP)) | PF_REPNE
        # element size from the opcode's low bit (byte forms are even)
        out.ops[0].size = 1 if (op0 & 1) == 0 else out.osz
        out.nops = 0
        if not (out.prefix & (PF_REP | PF_REPNE)):
            # capstone drops F2 on F2 A5 (it takes it for SSE2 MOVSD): read the
            # REP prefixes from the bytes (F2 on MOVS/STOS/LODS repeats like F3)
            for i in range(out.len - 1):
                if code[i] == 0xF2:
                    out.prefix = (out.prefix & ~(<u8>PF_REP)) | PF_REPNE
                elif code[i] == 0xF3:
                    out.prefix = (out.prefix & ~(<u8>PF_REPNE)) | PF_REP
                elif not (code[i] == 0x66 or code[i] == 0x67 or code[i] == 0xF0 or code[i] == 0x26 or
                          code[i] == 0x2E or code[i] == 0x36 or code[i] == 0x3E or code[i] == 0x64 or
                          code[i] == 0x65):
                    break
    return out.len


# ---------------------------------------------------------------- Python API

cdef class Decoder:
    """Python view of the decoder, for tests and ``bt disasm``."""
    cdef void* d

    def __cinit__(self):
        self.d = decoder_new()

    def __dealloc__(self):
        decoder_free(self.d)

    def decode(self, bytes code, int bits=32):
        """Decode the first instruction of ``code``; returns a dict of InsnC fields, or None."""
        cdef InsnC ins
        cdef const u8* p = code
        cdef int n = bt_decode(self.d, p, len(code), 0, bits == 32, &ins)
        if n == 0:
            return None
        return {
            "op": ins.op, "len": ins.len, "osz": ins.osz, "asz": ins.asz,
            "prefix": ins.prefix, "seg": ins.seg,
            "base": None if ins.base == REG_NONE else ins.base,
            "index": None if ins.index == REG_NONE else ins.index,
            "scale": ins.scale, "disp": ins.disp, "cc": ins.cc,
            "ops": [(ins.ops[i].kind, ins.ops[i].size, ins.ops[i].reg, ins.ops[i].imm)
                    for i in range(ins.nops)],
        }

    def disasm(self, bytes code, unsigned int addr=0, int bits=32, int count=0):
        """Disassemble to a list of (address, bytes, text); stops at an undecodable byte."""
        cdef int m = 1 if bits == 32 else 0
        cdef DecoderC* dc = <DecoderC*>self.d
        cdef const uint8_t* p = code
        cdef size_t sz = len(code)
        cdef uint64_t a = addr
        cdef cs_insn* insn = dc.insn[m]
        out = []
        while sz > 0 and (count == 0 or len(out) < count):
            start = a
            if not cs_disasm_iter(dc.h[m], &p, &sz, &a, insn):
                out.append((start, code[start - addr:start - addr + 1], "(bad)"))
                break
            text = (insn.mnemonic.decode() + " " + insn.op_str.decode()).strip()
            out.append((start, code[start - addr:start - addr + insn.size], text))
        return out


def insn_struct_size():
    """sizeof(InsnC), asserted by the tests to keep the decoded form compact."""
    return sizeof(InsnC)


# Python mirror of the Op enum, for tests and tooling (names without OP_).
OP_NAMES = {
    OP_INVALID: "INVALID",
    OP_MOV: "MOV",
    OP_MOVZX: "MOVZX",
    OP_MOVSX: "MOVSX",
    OP_XCHG: "XCHG",
    OP_XADD: "XADD",
    OP_CMPXCHG: "CMPXCHG",
    OP_CMPXCHG8B: "CMPXCHG8B",
    OP_BSWAP: "BSWAP",
    OP_LEA: "LEA",
    OP_PUSH: "PUSH",
    OP_POP: "POP",
    OP_PUSHA: "PUSHA",
    OP_POPA: "POPA",
    OP_PUSHF: "PUSHF",
    OP_POPF: "POPF",
    OP_LAHF: "LAHF",
    OP_SAHF: "SAHF",
    OP_CBW: "CBW",
    OP_CWD: "CWD",
    OP_ADD: "ADD",
    OP_OR: "OR",
    OP_ADC: "ADC",
    OP_SBB: "SBB",
    OP_AND: "AND",
    OP_SUB: "SUB",
    OP_XOR: "XOR",
    OP_CMP: "CMP",
    OP_TEST: "TEST",
    OP_INC: "INC",
    OP_DEC: "DEC",
    OP_NEG: "NEG",
    OP_NOT: "NOT",
    OP_MUL: "MUL",
    OP_IMUL1: "IMUL1",
    OP_IMUL: "IMUL",
    OP_DIV: "DIV",
    OP_IDIV: "IDIV",
    OP_ROL: "ROL",
    OP_ROR: "ROR",
    OP_RCL: "RCL",
    OP_RCR: "RCR",
    OP_SHL: "SHL",
    OP_SHR: "SHR",
    OP_SAL: "SAL",
    OP_SAR: "SAR",
    OP_SHLD: "SHLD",
    OP_SHRD: "SHRD",
    OP_BT: "BT",
    OP_BTS: "BTS",
    OP_BTR: "BTR",
    OP_BTC: "BTC",
    OP_BSF: "BSF",
    OP_BSR: "BSR",
    OP_SETCC: "SETCC",
    OP_CMOVCC: "CMOVCC",
    OP_JCC: "JCC",
    OP_JMP: "JMP",
    OP_JMP_IND: "JMP_IND",
    OP_CALL: "CALL",
    OP_CALL_IND: "CALL_IND",
    OP_RET: "RET",
    OP_LOOP: "LOOP",
    OP_LOOPE: "LOOPE",
    OP_LOOPNE: "LOOPNE",
    OP_JCXZ: "JCXZ",
    OP_ENTER: "ENTER",
    OP_LEAVE: "LEAVE",
    OP_MOVS: "MOVS",
    OP_CMPS: "CMPS",
    OP_SCAS: "SCAS",
    OP_LODS: "LODS",
    OP_STOS: "STOS",
    OP_DAA: "DAA",
    OP_DAS: "DAS",
    OP_AAA: "AAA",
    OP_AAS: "AAS",
    OP_AAM: "AAM",
    OP_AAD: "AAD",
    OP_XLAT: "XLAT",
    OP_CLC: "CLC",
    OP_STC: "STC",
    OP_CMC: "CMC",
    OP_CLD: "CLD",
    OP_STD: "STD",
    OP_NOP: "NOP",
    OP_SALC: "SALC",
    OP_UD2: "UD2",
    OP_WAIT: "WAIT",
    OP_FPU: "FPU",
    OP_FXSAVE: "FXSAVE",
    OP_FXRSTOR: "FXRSTOR",
    OP_HLT: "HLT",
    OP_CLI: "CLI",
    OP_STI: "STI",
    OP_CPUID: "CPUID",
    OP_RDTSC: "RDTSC",
    OP_IN: "IN",
    OP_OUT: "OUT",
    OP_INS: "INS",
    OP_OUTS: "OUTS",
    OP_INT: "INT",
    OP_INT3: "INT3",
    OP_INTO: "INTO",
    OP_IRET: "IRET",
    OP_MOV_TO_SREG: "MOV_TO_SREG",
    OP_MOV_FROM_SREG: "MOV_FROM_SREG",
    OP_PUSH_SREG: "PUSH_SREG",
    OP_POP_SREG: "POP_SREG",
    OP_LDS: "LDS",
    OP_LES: "LES",
    OP_LFS: "LFS",
    OP_LGS: "LGS",
    OP_LSS: "LSS",
    OP_JMPF: "JMPF",
    OP_CALLF: "CALLF",
    OP_RETF: "RETF",
    OP_MOV_CR: "MOV_CR",
    OP_MOV_DR: "MOV_DR",
    OP_LGDT: "LGDT",
    OP_LIDT: "LIDT",
    OP_SGDT: "SGDT",
    OP_SIDT: "SIDT",
    OP_LLDT: "LLDT",
    OP_SLDT: "SLDT",
    OP_LTR: "LTR",
    OP_STR: "STR",
    OP_LMSW: "LMSW",
    OP_SMSW: "SMSW",
    OP_CLTS: "CLTS",
    OP_INVLPG: "INVLPG",
    OP_INVD: "INVD",
    OP_WBINVD: "WBINVD",
    OP_RDMSR: "RDMSR",
    OP_WRMSR: "WRMSR",
    OP_LAR: "LAR",
    OP_LSL: "LSL",
    OP_VERR: "VERR",
    OP_VERW: "VERW",
    OP_ARPL: "ARPL",
    OP_BOUND: "BOUND",
    OP_SYSENTER: "SYSENTER",
    OP_SYSEXIT: "SYSEXIT",
    OP_RSM: "RSM",
}
