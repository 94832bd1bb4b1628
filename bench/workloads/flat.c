/* The flat platform (Unicorn): output into a memory buffer the runner reads,
   exit by jumping to flat_done (the runner's emu_start `until`). */
#include "rt.h"

const int rt_native = 0;

char flat_out[4096];
u32 flat_out_len;
u32 flat_exit_code;
extern char flat_done[];

void rt_putc(char c)
{
    if (flat_out_len < sizeof flat_out)
        flat_out[flat_out_len++] = c;
}

void exit(int code)
{
    flat_exit_code = (u32)code;
    __asm__ volatile("jmp *%0" : : "r"(flat_done));
    __builtin_unreachable();
}
