/* Byte sieve of Eratosthenes below n (integer work and branches).
   Checksum: the number of primes below n times 2^20 plus the sum of the primes. */
#include "workload.h"

#define MAX_N (8u << 20)
static u8 composite[MAX_N];

const char workload_name[] = "sieve";

u32 workload_run(u32 n)
{
    if (n > MAX_N)
        n = MAX_N;
    u32 count = 0, sum = 0;
    for (u32 i = 2; i < n; i++) {
        if (composite[i])
            continue;
        count++;
        sum += i;
        if (i < 65536)
            for (u32 j = i * i; j < n; j += i)
                composite[j] = 1;
    }
    return (count << 20) + sum;
}
