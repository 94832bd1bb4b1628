/* Checks that need whole control of EBP and ESP (cdecl functions). */
        .text

/* void enter_leave_test(u32 out[13], u32 *frame_top)
   out[0..1]  ESP, EBP after ENTER $12, $3 (with EBP = frame_top)
   out[2..5]  the 4 dwords ENTER pushed, from the highest address down
   out[6..7]  ESP, EBP after LEAVE
   out[8]     ESP before ENTER
   out[9..12] ESP, EBP after ENTER $8, $0; ESP, EBP after LEAVE */
        .globl enter_leave_test
        .type enter_leave_test, @function
enter_leave_test:
        push    %ebp
        push    %ebx
        push    %esi
        push    %edi
        mov     20(%esp), %edi
        mov     24(%esp), %ebp
        mov     %esp, %esi
        enter   $12, $3
        mov     %esp, 0(%edi)
        mov     %ebp, 4(%edi)
        mov     -4(%esi), %eax
        mov     %eax, 8(%edi)
        mov     -8(%esi), %eax
        mov     %eax, 12(%edi)
        mov     -12(%esi), %eax
        mov     %eax, 16(%edi)
        mov     -16(%esi), %eax
        mov     %eax, 20(%edi)
        leave
        mov     %esp, 24(%edi)
        mov     %ebp, 28(%edi)
        mov     %esi, 32(%edi)
        enter   $8, $0
        mov     %esp, 36(%edi)
        mov     %ebp, 40(%edi)
        leave
        mov     %esp, 44(%edi)
        mov     %ebp, 48(%edi)
        pop     %edi
        pop     %esi
        pop     %ebx
        pop     %ebp
        ret
        .size enter_leave_test, . - enter_leave_test

/* void pusha_popa_test(u32 out[17])
   out[0..7]   the PUSHA image from the lowest address: EDI ESI EBP ESP EBX EDX ECX EAX
   out[8]      the ESP that PUSHA should have saved
   out[9..15]  EAX ECX EDX EBX EBP ESI EDI after POPA of a rewritten image
   out[16]     ESP after POPA */
        .globl pusha_popa_test
        .type pusha_popa_test, @function
pusha_popa_test:
        push    %ebp
        push    %ebx
        push    %esi
        push    %edi
        pushl   20(%esp)                /* out, at 0(%esp) across PUSHA/POPA */
        mov     $0x11111111, %eax
        mov     $0x22222222, %ecx
        mov     $0x33333333, %edx
        mov     $0x44444444, %ebx
        mov     $0x55555555, %ebp
        mov     $0x66666666, %esi
        mov     $0x77777777, %edi
        pusha
        mov     32(%esp), %eax
        mov     0(%esp), %ecx
        mov     %ecx, 0(%eax)
        mov     4(%esp), %ecx
        mov     %ecx, 4(%eax)
        mov     8(%esp), %ecx
        mov     %ecx, 8(%eax)
        mov     12(%esp), %ecx
        mov     %ecx, 12(%eax)
        mov     16(%esp), %ecx
        mov     %ecx, 16(%eax)
        mov     20(%esp), %ecx
        mov     %ecx, 20(%eax)
        mov     24(%esp), %ecx
        mov     %ecx, 24(%eax)
        mov     28(%esp), %ecx
        mov     %ecx, 28(%eax)
        lea     32(%esp), %ecx
        mov     %ecx, 32(%eax)
        movl    $0xa0a0a0a0, 28(%esp)   /* EAX */
        movl    $0xa1a1a1a1, 24(%esp)   /* ECX */
        movl    $0xa2a2a2a2, 20(%esp)   /* EDX */
        movl    $0xa3a3a3a3, 16(%esp)   /* EBX */
        movl    $0xdeadbeef, 12(%esp)   /* ESP: POPA skips it */
        movl    $0xa5a5a5a5, 8(%esp)    /* EBP */
        movl    $0xa6a6a6a6, 4(%esp)    /* ESI */
        movl    $0xa7a7a7a7, 0(%esp)    /* EDI */
        popa
        push    %eax
        mov     4(%esp), %eax           /* out */
        mov     %ecx, 40(%eax)
        mov     %edx, 44(%eax)
        mov     %ebx, 48(%eax)
        mov     %ebp, 52(%eax)
        mov     %esi, 56(%eax)
        mov     %edi, 60(%eax)
        lea     4(%esp), %ecx
        mov     %ecx, 64(%eax)
        pop     %ecx
        mov     %ecx, 36(%eax)
        add     $4, %esp
        pop     %edi
        pop     %esi
        pop     %ebx
        pop     %ebp
        ret
        .size pusha_popa_test, . - pusha_popa_test
