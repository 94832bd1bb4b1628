/* Integer matrix multiply C = A x B, A n x n, B n x 16 (u32, wrapping).
   At n = 1024 A alone is 4 MiB, streamed from memory once per call.
   Checksum: a position-weighted sum of C. */
#include "workload.h"

#define MAX_N 1024u
#define M 16u
static u32 A[MAX_N * MAX_N];
static u32 B[MAX_N * M];
static u32 C[MAX_N * M];

const char workload_name[] = "matmul";

u32 workload_run(u32 n)
{
    if (n > MAX_N)
        n = MAX_N;
    u32 s = 777;
    for (u32 i = 0; i < n * n; i++)
        A[i] = lcg(&s) >> 16;
    for (u32 i = 0; i < n * M; i++)
        B[i] = lcg(&s) >> 16;
    for (u32 i = 0; i < n; i++) {
        u32 acc[M];
        for (u32 j = 0; j < M; j++)
            acc[j] = 0;
        const u32 *a = &A[i * n];
        for (u32 k = 0; k < n; k++) {
            u32 x = a[k];
            const u32 *b = &B[k * M];
            for (u32 j = 0; j < M; j++)
                acc[j] += x * b[j];
        }
        for (u32 j = 0; j < M; j++)
            C[i * M + j] = acc[j];
    }
    u32 sum = 0;
    for (u32 i = 0; i < n * M; i++)
        sum = sum * 31u + C[i];
    return sum;
}
