/* Naive recursive Fibonacci (calls, returns, stack traffic).  Checksum: fib(n). */
#include "workload.h"

const char workload_name[] = "fib";

__attribute__((noinline)) static u32 fib(u32 n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

u32 workload_run(u32 n)
{
    return fib(n);
}
