/* Quicksort (recursive, middle pivot, Hoare partition) of n pseudo-random u32s:
   n = 262144 is 1 MiB.  The sort is checked; checksum: a hash of the sorted array. */
#include "workload.h"

#define MAX_N (1u << 20)
static u32 a[MAX_N];

const char workload_name[] = "qsort";

static void quicksort(u32 *v, int lo, int hi)
{
    while (lo < hi) {
        u32 p = v[lo + (hi - lo) / 2];
        int i = lo - 1, j = hi + 1;
        for (;;) {
            do i++; while (v[i] < p);
            do j--; while (v[j] > p);
            if (i >= j)
                break;
            u32 t = v[i];
            v[i] = v[j];
            v[j] = t;
        }
        /* recurse into the smaller half, loop on the larger: O(log n) stack */
        if (j - lo < hi - j) {
            quicksort(v, lo, j);
            lo = j + 1;
        } else {
            quicksort(v, j + 1, hi);
            hi = j;
        }
    }
}

u32 workload_run(u32 n)
{
    if (n > MAX_N)
        n = MAX_N;
    u32 s = 4242;
    for (u32 i = 0; i < n; i++)
        a[i] = lcg(&s);
    if (n)
        quicksort(a, 0, (int)n - 1);
    u32 h = 0x811C9DC5u;
    for (u32 i = 0; i < n; i++) {
        if (i && a[i - 1] > a[i])
            return 0xBAD50000u;          /* not sorted */
        h = (h ^ a[i]) * 0x01000193u;
    }
    return h;
}
