/* bt's default guest: prints what the Multiboot loader handed it and a few
 * checksums, then exits through the exit port with code 0 (status 1). */
#include "rt.h"

static u8 buf[65536];

/* Bitwise reflected CRC-32 (poly 0xEDB88320), as zlib's crc32(). */
static u32 crc32(const u8 *p, u32 n)
{
    u32 crc = 0xFFFFFFFFu;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static u8 sieve[10000];

static u32 sum_primes_below(u32 n)
{
    u32 sum = 0;
    memset(sieve, 1, n);
    for (u32 i = 2; i < n; i++) {
        if (!sieve[i])
            continue;
        sum += i;
        for (u32 j = i * i; j < n; j += i)
            sieve[j] = 0;
    }
    return sum;
}

static u32 fib(u32 n)
{
    return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

/* An FNV-1a-64 hash of the same buffer: exercises 64-bit multiply. */
static u64 fnv1a64(const u8 *p, u32 n)
{
    u64 h = 0xcbf29ce484222325ull;
    while (n--) {
        h ^= *p++;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void multiboot_banner(u32 magic, struct mb_info *mbi)
{
    if (rt_native) {
        print("bt hello guest (native build, no Multiboot)\n");
        return;
    }
    print("bt hello guest (Multiboot kernel)\n");
    print("multiboot: magic=");
    print_hex(magic);
    print(magic == MB_BOOT_MAGIC ? " (ok: 0x2badb002)\n" : " (BAD: want 0x2badb002)\n");
    if (magic != MB_BOOT_MAGIC || !mbi)
        return;
    print("multiboot: flags=");
    print_hex(mbi->flags);
    print("\n");
    if (mbi->flags & (1u << 0)) {
        print("multiboot: mem_lower=");
        print_dec(mbi->mem_lower);
        print(" KiB mem_upper=");
        print_dec(mbi->mem_upper);
        print(" KiB (");
        print_dec((mbi->mem_upper + 1024) / 1024);
        print(" MiB of memory)\n");
    }
    if (mbi->flags & (1u << 2)) {
        print("multiboot: cmdline=\"");
        print((const char *)mbi->cmdline);
        print("\"\n");
    }
    if (mbi->flags & (1u << 9)) {
        print("multiboot: boot loader=\"");
        print((const char *)mbi->boot_loader_name);
        print("\"\n");
    }
}

int kmain(u32 magic, struct mb_info *mbi)
{
    multiboot_banner(magic, mbi);

    /* A 64 KiB buffer from a 32-bit LCG (Numerical Recipes constants). */
    u32 x = 12345;
    for (u32 i = 0; i < sizeof buf; i++) {
        x = x * 1664525u + 1013904223u;
        buf[i] = (u8)(x >> 24);
    }
    print("crc32 of 64 KiB LCG buffer: ");
    print_hex(crc32(buf, sizeof buf));
    print("\n");
    print("fnv1a64 of the same buffer: ");
    print_hex64(fnv1a64(buf, sizeof buf));
    print("\n");
    print("sum of primes below 10000: ");
    print_dec(sum_primes_below(10000));
    print("\n");
    print("fib(20): ");
    print_dec(fib(20));
    print("\n");
    volatile u64 big = 0xFFFFFFFFFFFFFFFFull;
    print("(2^64-1) / 1000000007 = ");
    print_dec64(big / 1000000007u);
    print(" rem ");
    print_dec64(big % 1000000007u);
    print("\n");
    print("hello: done, exit code 0\n");
    return 0;
}
