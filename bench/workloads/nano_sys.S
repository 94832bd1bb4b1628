/* Minimal handlers for nano.c's ops 7-13 (no C, no register frame). */
        .text
        .globl nano_iret, nano_de, nano_pf, nano_sysexit, nano_sysenter_loop, nano_pte
nano_iret:
        iret
nano_de:                                /* skip the 2-byte DIV ECX (F7 F1) */
        addl    $2, (%esp)
        iret
nano_pf:                                /* set P in the PTE again, drop the error code */
        push    %eax
        mov     nano_pte, %eax
        orl     $1, (%eax)
        pop     %eax
        add     $4, %esp
        iret
nano_sysexit:                           /* EDX = return EIP, ECX = return ESP */
        sysexit
/* Ring 3: ESI = n round trips, then the exit system call. */
nano_sysenter_loop:
        test    %esi, %esi
        jz      2f
1:      mov     %esp, %ecx
        mov     $3f, %edx
        sysenter
3:      dec     %esi
        jnz     1b
2:      mov     $0xE0, %eax
        int     $0x80
4:      jmp     4b
        .section .bss
        .balign 4
nano_pte:
        .skip 4
