/* The interface of a benchmark workload (bench/workloads/<name>.c).
 *
 * Each workload is compiled once, for i386, into one object file, then linked
 * with a driver (driver.c) and a platform: the Multiboot runtime of guests/rt
 * (bt, qemu-system-i386), the static Linux runtime (native, qemu-i386) or the
 * flat runtime (flat.S, flat.c: Unicorn).  The driver calls workload_run(n)
 * with the size n the harness linked in (n = 0: the empty run that measures
 * start-up) and prints the checksum it returns.  Integer code, except nbody
 * (double: x87 code under -march=i686).  No libc: only the freestanding helpers of guests/rt/rt.h.
 */
#ifndef BT_BENCH_WORKLOAD_H
#define BT_BENCH_WORKLOAD_H

#include "rt.h"

extern const char workload_name[];
u32 workload_run(u32 n);

/* A small LCG for input data: the same numbers on every platform. */
static inline u32 lcg(u32 *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s;
}

#endif
