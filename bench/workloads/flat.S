/* The flat runtime (Unicorn): a raw binary loaded at 0x100000 and entered there.
 * It begins with a header the runner reads: 
 *   +0  magic "BTFL"   +4 entry   +8 done (the address where the run ends)
 *   +12 out_buf        +16 out_len (a u32 count of bytes in out_buf)
 *   +20 end (the first byte past .bss)
 * The guest prints into out_buf (flat.c) and finally jumps to done, which the
 * runner passes to emu_start as `until`: no hooks are needed.           */
        .section .text.start, "ax"
        .globl _start
header:
        .ascii  "BTFL"
        .long   _start
        .long   flat_done
        .long   flat_out
        .long   flat_out_len
        .long   __flat_end

        .section .bss
        .balign 16
stack_bottom:
        .skip 65536
stack_top:

        .section .text.start, "ax"
_start:
        cli
        mov     $stack_top, %esp
        pushl   $0x2
        popfl
        mov     $__bss_start, %edi      /* clear .bss as multiboot.S does */
        mov     $__bss_end, %ecx
        sub     %edi, %ecx
        xor     %eax, %eax
        rep stosb
        pushl   $0
        pushl   $0
        xor     %ebp, %ebp
        call    kmain
        pushl   %eax
        call    exit
        .globl  flat_done
flat_done:
        hlt
        jmp     flat_done
