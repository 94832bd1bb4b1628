/* systest's ring-3 snippets and the ring-0 targets they reach.  Each snippet
   ends with the exit system call (INT 0x80, EAX = 0xE0) unless an armed
   exception took the kernel back first; `u_X_insn` labels the instruction a
   check expects to fault. */
#define EXIT    movl $0xE0, %eax; int $0x80

        .text
        .globl u_exit
u_exit: EXIT
1:      jmp     1b

/* Privileged or IOPL-sensitive instructions at CPL 3, IOPL 0: #GP(0). */
        .globl u_hlt, u_cli, u_sti, u_movcr0, u_lgdt, u_rdtsc, u_int20, u_lidt, u_movcr3w
u_hlt:  hlt
        jmp     u_exit
u_cli:  cli
        jmp     u_exit
u_sti:  sti
        jmp     u_exit
u_movcr0:
        mov     %cr0, %eax
        jmp     u_exit
u_movcr3w:
        mov     %cr3, %eax              /* the read faults too; nothing is written */
        jmp     u_exit
u_lgdt: lgdt    saved_gdtr              /* if it did not fault it would reload the same GDT */
        jmp     u_exit
u_lidt: lidt    saved_idtr
        jmp     u_exit
u_rdtsc:
        rdtsc
        mov     %eax, %esi
        mov     $0x600D, %ebx
        jmp     u_exit
u_int20:
        int     $0x20                   /* gate DPL 0 < CPL 3: #GP(0x20 * 8 + 2) */
        jmp     u_exit

/* More instructions only CPL 0 may execute: #GP(0).  Each is harmless if it
   wrongly ran (reads, or a cache/TLB flush). */
        .globl u_rdmsr, u_wrmsr, u_clts, u_invlpg, u_wbinvd, u_movdr7, u_sysexit, u_sysenter_cs0
u_rdmsr:
        mov     $0x10, %ecx
        rdmsr_insn:
        rdmsr
        jmp     u_exit
u_wrmsr:
        mov     $0x175, %ecx            /* IA32_SYSENTER_ESP: rewritten before use */
        xor     %eax, %eax
        xor     %edx, %edx
        wrmsr_insn:
        wrmsr
        jmp     u_exit
u_clts: clts
        jmp     u_exit
u_invlpg:
        invlpg  u_exit
        jmp     u_exit
u_wbinvd:
        wbinvd
        jmp     u_exit
u_movdr7:
        mov     %dr7, %eax
        jmp     u_exit
u_sysexit:
        mov     %esp, %ecx
        mov     $u_exit, %edx
        sysexit_insn:
        sysexit
        jmp     u_exit
/* SYSENTER with IA32_SYSENTER_CS = 0: #GP(0). */
u_sysenter_cs0:
        mov     %esp, %ecx
        mov     $u_exit, %edx
        sysenter_cs0_insn:
        sysenter
        jmp     u_exit
        .globl rdmsr_insn, wrmsr_insn, sysexit_insn, sysenter_cs0_insn

/* #SS(0): a ring-3 stack segment (0x7B, limit 0xFFF) and a PUSH beyond its limit. */
        .globl u_ss_limit, u_ss_limit_insn
u_ss_limit:
        mov     $0x7B, %ax
        mov     %ax, %ss
        mov     $0x2000, %esp
u_ss_limit_insn:
        push    %eax
        jmp     u_exit

/* #AC: a misaligned dword load at CPL 3 with CR0.AM = 1 and EFLAGS.AC = 1. */
        .globl u_ac, u_ac_insn
u_ac:   mov     $g_gate_cs, %ebx
u_ac_insn:
        mov     1(%ebx), %eax
        jmp     u_exit

/* INT3 at CPL 3 through the DPL 3 gate: a trap, saved EIP after it. */
        .globl u_int3, u_int3_next
u_int3: int3
u_int3_next:
        jmp     u_exit

/* I/O: port 0x80 is allowed by the TSS bitmap, 0x84 is not. */
        .globl u_in_denied, u_in_denied_insn, u_out_denied, u_out_denied_insn, u_io_allowed
u_in_denied:
        mov     $0x84, %dx
u_in_denied_insn:
        inb     %dx, %al
        jmp     u_exit
u_out_denied:
        mov     $0x84, %dx
        mov     $0x55, %al
u_out_denied_insn:
        outb    %al, %dx
        jmp     u_exit
u_io_allowed:
        inb     $0x80, %al
        outb    %al, $0x80
        mov     $0x80, %dx
        inb     %dx, %al
        outb    %al, %dx
        mov     $0x600D, %ebx
        jmp     u_exit

/* IOPL 3: CLI, STI and IN from a bitmap-denied port are allowed (CPL <= IOPL).
   EBX = EFLAGS after CLI, ECX = after STI, EDX = after a POPF that tries to
   clear IOPL (ignored at CPL > 0), ESI = marker. */
        .globl u_iopl3
u_iopl3:
        cli
        pushf
        pop     %ebx
        sti
        pushf
        pop     %ecx
        cli
        inb     $0x84, %al
        pushl   $0x0002
        popf
        pushf
        pop     %edx
        mov     $0x600D, %esi
        jmp     u_exit

/* IOPL 0: a POPF that tries to set IF and IOPL changes neither, without a fault.
   EBX = EFLAGS before, ECX = after. */
        .globl u_popf_iopl0
u_popf_iopl0:
        pushf
        pop     %ebx
        mov     %ebx, %eax
        or      $0x3200, %eax
        push    %eax
        popf
        pushf
        pop     %ecx
        jmp     u_exit

/* INT 0x80 system call: EAX = 1 (add), EBX + ECX -> EAX.  ESI = result, EDI = ESP. */
        .globl u_syscall
u_syscall:
        mov     $1, %eax
        mov     $40, %ebx
        mov     $2, %ecx
        int     $0x80
        mov     %eax, %esi
        mov     %esp, %edi
        jmp     u_exit

/* SYSENTER with EDX = return EIP, ECX = return ESP (the convention sysenter_entry
   follows for SYSEXIT).  ESI = result (EAX * 3 + 1), EDI = ESP after. */
        .globl u_sysenter
u_sysenter:
        mov     $7, %eax
        mov     %esp, %ecx
        mov     $1f, %edx
        sysenter
1:      mov     %eax, %esi
        mov     %esp, %edi
        jmp     u_exit

/* Ring 0 side of SYSENTER: ESP = IA32_SYSENTER_ESP, CS = IA32_SYSENTER_CS. */
        .globl sysenter_entry
sysenter_entry:
        push    %ecx
        push    %edx
        push    %eax
        call    sysenter_c
        add     $4, %esp
        pop     %edx
        pop     %ecx
        sysexit

/* Far call through the DPL 3 call gate 0x48 (RPL 3: 0x4B) with 2 dword
   parameters; gate_target runs at CPL 0 on the TSS stack and returns with
   RETF 8.  ESI = its result, EDI = ESP after, EBP = ESP before. */
        .globl u_callgate
u_callgate:
        mov     %esp, %ebp
        pushl   $5
        pushl   $100
        lcall   $0x4B, $0
        mov     %eax, %esi
        mov     %esp, %edi
        jmp     u_exit

        .globl gate_target
gate_target:
        mov     %cs, %eax
        mov     %eax, g_gate_cs
        mov     %esp, g_gate_esp
        mov     4(%esp), %eax
        mov     %eax, g_gate_ccs
        mov     16(%esp), %eax
        mov     %eax, g_gate_cesp
        mov     20(%esp), %eax
        mov     %eax, g_gate_css
        mov     8(%esp), %eax
        sub     12(%esp), %eax          /* 100 - 5: the parameters in the caller's order */
        lret    $8

/* A preempted task: increments the dword at EBX forever; a watchdog bound ends
   it by the exit system call (ESI = 0xDEAD) if no timer interrupt ever comes. */
        .globl u_task
u_task:
1:      incl    (%ebx)
        cmpl    $3000000, (%ebx)
        jb      1b
        mov     $0xDEAD, %esi
        jmp     u_exit

/* A 16-bit code segment (GDT 0x58, base = code16): B8 01 00 is MOV AX, 1 there
   (MOV EAX, imm32 in a 32-bit segment), then INC AX twice, then O32 RETF. */
        .globl code16
        .balign 16
code16:
        .byte   0xB8, 0x01, 0x00, 0x40, 0x40, 0x66, 0xCB

        .section .bss
        .globl g_gate_cs, g_gate_esp, g_gate_ccs, g_gate_cesp, g_gate_css, saved_gdtr, saved_idtr
        .balign 4
g_gate_cs:   .skip 4
g_gate_esp:  .skip 4
g_gate_ccs:  .skip 4
g_gate_cesp: .skip 4
g_gate_css:  .skip 4
saved_gdtr:  .skip 8
saved_idtr:  .skip 8
