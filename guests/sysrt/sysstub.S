/* Entry stubs of all 256 vectors, the common path to isr_dispatch (sys.c), and
   run_user: enter ring 3 by IRET and come back when the dispatcher says so. */
        .text

/* Vectors whose exception pushes an error code (SDM vol. 3 table 6-1). */
#define HAS_ERR(n) ((n) == 8 || ((n) >= 10 && (n) <= 14) || (n) == 17 || (n) == 21 || (n) == 29 || (n) == 30)

        .macro STUB n
        .balign 16
stub\n:
        .if HAS_ERR(\n)
        .else
        pushl   $0
        .endif
        pushl   $\n
        jmp     isr_common
        .endm

        .balign 16
        .globl isr_stubs_start
isr_stubs_start:
        .altmacro
        .set i, 0
        .rept 256
        STUB %i
        .set i, i + 1
        .endr

/* The frame (struct frame in sys.h) is built here, from the lowest address:
   GS FS ES DS, the PUSHA image, vector, error code, then the CPU's frame. */
isr_common:
        pusha
        push    %ds
        push    %es
        push    %fs
        push    %gs
        mov     $0x10, %ax
        mov     %ax, %ds
        mov     %ax, %es
        cld
        push    %esp
        call    isr_dispatch
        add     $4, %esp
        cmpl    $0, sys_return
        jne     back_to_kernel
        .globl isr_return
isr_return:
        pop     %gs
        pop     %fs
        pop     %es
        pop     %ds
        popa
        add     $8, %esp
        iret

/* Abandon the handler's frame: back to run_user's caller on the kernel stack. */
back_to_kernel:
        cli                             /* INT 0x80 is a trap gate: IF may be the user's */
        movl    $0, sys_return
        mov     kctx_esp, %esp
        pop     %ebp
        pop     %edi
        pop     %esi
        pop     %ebx
        ret

/* void run_user(struct frame *f): IRET to the frame (ring 3: it has uesp and uss). */
        .globl run_user
        .type run_user, @function
run_user:
        push    %ebx
        push    %esi
        push    %edi
        push    %ebp
        mov     %esp, kctx_esp
        mov     20(%esp), %esp
        jmp     isr_return
        .size run_user, . - run_user

        .section .bss
        .balign 4
kctx_esp:
        .skip 4
        .balign 16
        .globl kstack0_top
        .skip 8192
kstack0_top:
        .globl ustack_top
        .balign 16
        .skip 8192
ustack_top:
