# C state of a bt machine: CPU registers, translated blocks and the run context.
# Python sees these through views (bt.machine.Cpu) and never per instruction.
from bt._types cimport u8, u16, u32, u64, i32
from bt._insn cimport InsnC

# EFLAGS bits
cdef enum:
    F_CF = 0x0001
    F_PF = 0x0004
    F_AF = 0x0010
    F_ZF = 0x0040
    F_SF = 0x0080
    F_TF = 0x0100
    F_IF = 0x0200
    F_DF = 0x0400
    F_OF = 0x0800
    F_IOPL = 0x3000
    F_NT = 0x4000
    F_RF = 0x10000
    F_VM = 0x20000
    F_AC = 0x40000
    F_VIF = 0x80000
    F_VIP = 0x100000
    F_ID = 0x200000
    F_ARITH = 0x08D5      # OF SF ZF AF PF CF

# segment register numbers (x86 encoding order)
cdef enum:
    S_ES = 0
    S_CS = 1
    S_SS = 2
    S_DS = 3
    S_FS = 4
    S_GS = 5

# SegC.flags: what the hidden part allows, precomputed at load time
cdef enum:
    SF_VALID = 1      # usable (not a null selector in protected mode)
    SF_READ = 2
    SF_WRITE = 4
    SF_EXPDOWN = 8
    SF_BIG = 16       # D/B bit: 32-bit code / 32-bit stack / 4 GiB expand-down top
    SF_FLAT = 32      # base 0, limit 4 GiB, expand-up, readable and writable: no checks
    SF_EXEC = 64

ctypedef struct SegC:
    u32 base
    u32 limit         # effective byte limit (granularity applied)
    u16 sel
    u16 attr          # descriptor byte 5 | (byte 6 high nibble << 8): type S DPL P | AVL L DB G
    u8 flags          # SF_* bits
    u8 pad[3]

ctypedef struct DtrC:
    u32 base
    u32 limit

# The x87 FPU (issue 8).  Registers are kept in physical order R0..R7 as raw
# 80-bit values (10 bytes, little-endian: 64-bit significand then sign+exponent);
# ST(i) is R[(TOP + i) & 7] with TOP = (sw >> 11) & 7.
ctypedef struct FpuC:
    u8 r[80]          # R0..R7, 10 bytes each
    u16 cw            # control word
    u16 sw            # status word: IE DE ZE OE UE PE SF ES C0 C1 C2 TOP C3 B
    u16 tw            # full tag word, 2 bits per physical register (11 = empty);
                      # the non-empty tags are recomputed from the contents when stored
    u16 fop           # last non-control opcode, 11 bits: (escape & 7) << 8 | ModRM
    u32 fip           # last non-control instruction: offset (real mode: offset too)
    u32 fdp           # last memory operand: offset
    u16 fcs           # ... and its CS selector
    u16 fds           # ... and the memory operand's segment selector
    u32 mxcsr         # kept for FXSAVE/FXRSTOR (no SSE: 0x1F80 unless FXRSTOR sets it)
    u8 ferr           # CR0.NE=0 and an unmasked exception signalled: FERR# asserted
                      # (IRQ 13 through the PIC: not wired yet)
    u8 pad[3]

ctypedef struct CpuStateC:
    u32 regs[8]       # EAX ECX EDX EBX ESP EBP ESI EDI
    u32 eip
    u32 eflags
    SegC seg[6]       # ES CS SS DS FS GS
    SegC ldtr
    SegC tr
    DtrC gdtr
    DtrC idtr
    u32 cr[5]         # CR0..CR4 (CR1 reserved)
    u32 dr[8]
    u8 cpl
    u8 halted         # stopped by HLT, waiting for an interrupt
    u8 shadow         # interrupt shadow after STI / MOV SS / POP SS
    u8 pad
    u64 tsc           # virtual time stamp counter base
    u64 msr_sysenter_cs
    u64 msr_sysenter_esp
    u64 msr_sysenter_eip
    u64 msr_apic_base
    u64 reserved[8]   # room for the system issues
    FpuC fpu          # the x87 unit (appended last: nothing above moves)

# One micro-op: a decoded instruction plus the handler the translator chose.
ctypedef struct UopC:
    InsnC d
    u16 h             # handler (Handler enum in _jit.pyx)
    u16 eoff          # offset of this instruction from the block's first byte

# A translated block. Blocks never span a 4 KiB page.
ctypedef struct BlockC:
    u32 pa            # guest physical address of the first instruction
    u32 mode          # translation mode bits (MB_* in _jit.pyx)
    u32 nuops
    u32 ninsns        # guest instructions (== nuops today)
    u32 nbytes
    u32 hits
    u32 exit_delta[2] # static exits as EIP offsets from the block start (NO_EXIT: none)
    BlockC* link[2]   # chained successor for each static exit (same page only)
    BlockC* hnext     # hash chain
    BlockC* pnext     # chain of blocks on the same physical page
    BlockC* gnext     # chain of every live block (for flushes)
    BlockC* gprev
    void* native      # native code (native.pxi) for a prefix of the block, or NULL
    UopC uops[1]      # nuops entries follow (allocated with the block)
