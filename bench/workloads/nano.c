/* Privileged nanobenchmarks (Multiboot guest, bt and qemu-system-i386).
 * Runs operation bench_op (an absolute symbol set at link time) bench_n times
 * in an unrolled-by-one loop; the harness times runs with n and with 0 and
 * divides.  Op 0 is the bare loop (dec/jnz), subtracted from the others.
 * Only operations that need neither IDT delivery nor paging: bt has neither yet. */
#include "rt.h"

/* The value of an absolute symbol, hidden from the optimizer: the address of an
   object may not be null, so it would otherwise assume n != 0. */
static inline u32 link_const(const char *sym)
{
    u32 v;
    __asm__("" : "=r"(v) : "0"(sym));
    return v;
}

extern char bench_n[], bench_op[];

static const char *const names[] = {
    "loop", "out+in", "cli+sti", "call+ret", "pushf+popf", "cpuid", "rdtsc",
};

__attribute__((noinline)) static void leaf(void)
{
    __asm__ volatile("");
}

int kmain(u32 magic, struct mb_info *mbi)
{
    (void)magic;
    (void)mbi;
    u32 n = link_const(bench_n), op = link_const(bench_op);
    u32 a, b, c, d;
    /* Mask both PICs: under QEMU the BIOS left the timer unmasked, and an
       interrupt in the STI window would find no IDT (bt ignores these ports). */
    __asm__ volatile("outb %%al, $0x21\n\toutb %%al, $0xA1" : : "a"(0xFF));
    switch (op) {
    case 0:
        for (u32 i = n; i; i--)
            __asm__ volatile("" ::: "memory");
        break;
    case 1:
        for (u32 i = n; i; i--) {
            u8 v;
            __asm__ volatile("outb %%al, $0x80\n\tinb $0x80, %%al" : "=a"(v) : "a"(0) : "memory");
        }
        break;
    case 2:
        for (u32 i = n; i; i--)
            __asm__ volatile("cli\n\tsti" ::: "memory");
        __asm__ volatile("cli");
        break;
    case 3:
        for (u32 i = n; i; i--)
            leaf();
        break;
    case 4:
        for (u32 i = n; i; i--)
            __asm__ volatile("pushfl\n\tpopfl" ::: "memory");
        break;
    case 5:
        for (u32 i = n; i; i--)
            __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0) : "memory");
        break;
    case 6:
        for (u32 i = n; i; i--)
            __asm__ volatile("rdtsc" : "=a"(a), "=d"(d) : : "memory");
        break;
    default:
        print("nano: unknown op\n");
        return 1;
    }
    print("nano ");
    print(op < sizeof names / sizeof names[0] ? names[op] : "?");
    print(" n=");
    print_dec(n);
    print(" done\n");
    return 0;
}
