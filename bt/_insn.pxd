# The decoded instruction: bt's own compact form of one IA-32 instruction.
# Produced by bt.decoder from capstone's detail, consumed by the translator.
from bt._types cimport u8, u16, u32

cdef enum OpKind:
    OK_NONE = 0
    OK_REG = 1      # general register: reg = encoding index, size 1/2/4 (size 1: 4-7 = AH..BH)
    OK_MEM = 2      # the instruction's memory operand (InsnC.seg/base/index/scale/disp)
    OK_IMM = 3      # immediate, already sign/zero-extended to the operand size
    OK_SREG = 4     # segment register: ES CS SS DS FS GS = 0..5
    OK_CREG = 5     # control register n
    OK_DREG = 6     # debug register n
    OK_REL = 7      # relative branch displacement (sign-extended), from the end of the insn

cdef enum Prefix:
    PF_LOCK = 1
    PF_REP = 2      # F3
    PF_REPNE = 4    # F2
    PF_SEGOVR = 8   # explicit segment override present
    PF_OPSIZE = 16  # 66
    PF_ADSIZE = 32  # 67

cdef enum:
    REG_NONE = 0xFF

# Operation classes. One per instruction (or family member) bt implements; the
# translator picks a handler from op plus operand kinds and sizes.
cdef enum Op:
    OP_INVALID = 0   # capstone could not decode it, or bt does not know it: #UD
    OP_MOV
    OP_MOVZX
    OP_MOVSX
    OP_XCHG
    OP_XADD
    OP_CMPXCHG
    OP_CMPXCHG8B
    OP_BSWAP
    OP_LEA
    OP_PUSH
    OP_POP
    OP_PUSHA
    OP_POPA
    OP_PUSHF
    OP_POPF
    OP_LAHF
    OP_SAHF
    OP_CBW          # CBW / CWDE by operand size
    OP_CWD          # CWD / CDQ by operand size
    # ALU family in x86 /digit order: the order matters (ALU_OP - OP_ADD == digit)
    OP_ADD
    OP_OR
    OP_ADC
    OP_SBB
    OP_AND
    OP_SUB
    OP_XOR
    OP_CMP
    OP_TEST
    OP_INC
    OP_DEC
    OP_NEG
    OP_NOT
    OP_MUL
    OP_IMUL1        # one operand: EDX:EAX = EAX * r/m
    OP_IMUL         # two and three operand forms
    OP_DIV
    OP_IDIV
    # shift family in x86 /digit order
    OP_ROL
    OP_ROR
    OP_RCL
    OP_RCR
    OP_SHL
    OP_SHR
    OP_SAL
    OP_SAR
    OP_SHLD
    OP_SHRD
    OP_BT
    OP_BTS
    OP_BTR
    OP_BTC
    OP_BSF
    OP_BSR
    OP_SETCC
    OP_CMOVCC
    OP_JCC
    OP_JMP          # relative
    OP_JMP_IND      # r/m
    OP_CALL         # relative
    OP_CALL_IND     # r/m
    OP_RET          # near, optional imm16
    OP_LOOP
    OP_LOOPE
    OP_LOOPNE
    OP_JCXZ         # JCXZ / JECXZ by address size
    OP_ENTER
    OP_LEAVE
    OP_MOVS
    OP_CMPS
    OP_SCAS
    OP_LODS
    OP_STOS
    OP_DAA
    OP_DAS
    OP_AAA
    OP_AAS
    OP_AAM
    OP_AAD
    OP_XLAT
    OP_CLC
    OP_STC
    OP_CMC
    OP_CLD
    OP_STD
    OP_NOP
    OP_SALC
    OP_UD2
    OP_WAIT
    OP_FPU          # x87 escape D8-DF: cc = escape & 7, ops[0].reg = ModRM,
                    # ops[0].kind = OK_MEM for memory forms (bt/fpu.pxi decodes the rest)
    OP_FXSAVE       # 0F AE /0 m512
    OP_FXRSTOR      # 0F AE /1 m512
    # --- system / sensitive: hypervisor callouts ---
    OP_HLT
    OP_CLI
    OP_STI
    OP_CPUID
    OP_RDTSC
    OP_IN
    OP_OUT
    OP_INS
    OP_OUTS
    OP_INT
    OP_INT3
    OP_INTO
    OP_IRET
    OP_MOV_TO_SREG
    OP_MOV_FROM_SREG
    OP_PUSH_SREG
    OP_POP_SREG
    OP_LDS
    OP_LES
    OP_LFS
    OP_LGS
    OP_LSS
    OP_JMPF
    OP_CALLF
    OP_RETF
    OP_MOV_CR
    OP_MOV_DR
    OP_LGDT
    OP_LIDT
    OP_SGDT
    OP_SIDT
    OP_LLDT
    OP_SLDT
    OP_LTR
    OP_STR
    OP_LMSW
    OP_SMSW
    OP_CLTS
    OP_INVLPG
    OP_INVD
    OP_WBINVD
    OP_RDMSR
    OP_WRMSR
    OP_LAR
    OP_LSL
    OP_VERR
    OP_VERW
    OP_ARPL
    OP_BOUND
    OP_SYSENTER
    OP_SYSEXIT
    OP_RSM
    OP_COUNT

ctypedef struct OperandC:
    u8 kind             # OpKind
    u8 size             # bytes
    u8 reg              # register number for register kinds
    u8 pad
    u32 imm             # OK_IMM value / OK_REL displacement

ctypedef struct InsnC:
    u16 op              # Op
    u8 len              # bytes, 1..15; 0 when undecodable
    u8 nops             # explicit operands used
    u8 osz              # effective operand size: 2 or 4
    u8 asz              # effective address size: 2 or 4
    u8 prefix           # Prefix bits
    u8 seg              # segment of the memory operand (0..5)
    u8 base             # base register 0..7 or REG_NONE
    u8 index            # index register 0..7 or REG_NONE
    u8 scale            # index shift 0..3
    u8 cc               # condition code 0..15 for Jcc/SETcc/CMOVcc
    u32 disp            # displacement of the memory operand
    OperandC ops[3]
