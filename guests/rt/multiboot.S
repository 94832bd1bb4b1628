/* Multiboot v1 header and kernel entry for bt's test guests (GNU as syntax). */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003     /* bit 0: page-align modules, bit 1: memory info */

        .section .multiboot, "a"
        .balign 4
        .long MB_MAGIC
        .long MB_FLAGS
        .long -(MB_MAGIC + MB_FLAGS)

        .section .bss
        .balign 16
stack_bottom:
        .skip 16384
stack_top:

        .section .text.start, "ax"
        .globl _start
        .type _start, @function
/* Multiboot entry: EAX = 0x2BADB002, EBX = physical address of the info block,
   32-bit flat protected mode, paging off, interrupts off. */
_start:
        cli
        mov     $stack_top, %esp
        mov     %eax, %esi              /* keep magic and info across the clear */
        mov     %ebx, %ebp
        pushl   $0x2                    /* EFLAGS: IF=0, DF=0, arithmetic flags clear */
        popfl
        /* Clear .bss (the loader should have, but a real kernel doesn't trust it). */
        mov     $__bss_start, %edi
        mov     $__bss_end, %ecx
        sub     %edi, %ecx
        xor     %eax, %eax
        rep stosb
        xor     %ebx, %ebx
        pushl   %ebp                    /* kmain(magic, mbinfo) */
        pushl   %esi
        xor     %ebp, %ebp              /* terminate frame-pointer chains */
        call    kmain
        pushl   %eax
        call    exit                    /* exit(kmain's return value); never returns */
1:      cli
        hlt
        jmp     1b
        .size _start, . - _start
