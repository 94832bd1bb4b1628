/* pagetest's ring-3 snippets and position-independent helpers. */
#define EXIT    movl $0xE0, %eax; int $0x80

        .text
        .globl pu_exit
pu_exit: EXIT
1:      jmp     1b

/* Copy-on-write: ring 3 writes a read-only user page (0x40010000), then reads it
   back into ESI. */
        .globl pu_cow, pu_cow_insn
pu_cow:
        mov     $0x600DC0DE, %eax
pu_cow_insn:
        mov     %eax, 0x40010010
        mov     0x40010010, %esi
        jmp     pu_exit

/* Ring 3 reads a supervisor page (0x40012000). */
        .globl pu_sup, pu_sup_insn
pu_sup:
pu_sup_insn:
        mov     0x40012000, %eax
        jmp     pu_exit

/* Ring 3 reads a not-present user page (demand-mapped by the handler). */
        .globl pu_demand, pu_demand_insn
pu_demand:
pu_demand_insn:
        mov     0x40002000, %esi
        jmp     pu_exit

/* EAX = the address this function runs at (position independent). */
        .globl where_am_i
where_am_i:
        call    1f
1:      pop     %eax
        sub     $(1b - where_am_i), %eax
        ret
