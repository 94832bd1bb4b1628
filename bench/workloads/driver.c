/* The benchmark driver: runs one workload with the size the harness linked in
 * (the absolute symbol bench_n, defined by a one-line object the harness
 * generates per size) and prints
 * "<name> n=<n> checksum=<hex>".  n = 0 is the empty run. */
#include "workload.h"

/* The value of an absolute symbol, hidden from the optimizer: the address of an
   object may not be null, so it would otherwise assume n != 0. */
static inline u32 link_const(const char *sym)
{
    u32 v;
    __asm__("" : "=r"(v) : "0"(sym));
    return v;
}

extern char bench_n[];          /* an absolute symbol: its address is the size */

int kmain(u32 magic, struct mb_info *mbi)
{
    (void)magic;
    (void)mbi;
    u32 n = link_const(bench_n);
    u32 c = workload_run(n);
    print(workload_name);
    print(" n=");
    print_dec(n);
    print(" checksum=");
    print_hex(c);
    print("\n");
    return 0;
}
