/* The tiny shared runtime of bt's test guests.
 *
 * The same guest sources build two ways:
 *   - as a Multiboot kernel (platform_mb.c + multiboot.S): output on COM1,
 *     exit through the isa-debug-exit port 0xF4;
 *   - as a static i386 Linux program (platform_linux.c): output with write(2),
 *     exit with exit(2).  This native build is the oracle for the checks.
 * Everything printed goes through rt_putc, so both builds print identical lines
 * except those that mention Multiboot.
 */
#ifndef BT_GUEST_RT_H
#define BT_GUEST_RT_H

typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long long u64;
typedef signed char s8;
typedef short s16;
typedef int s32;
typedef long long s64;
typedef unsigned int size_t;

#define NULL ((void *)0)

/* Multiboot v1 information block (the fields the guests use). */
struct mb_info {
    u32 flags;
    u32 mem_lower, mem_upper;       /* KiB, valid if flags bit 0 */
    u32 boot_device;                /* bit 1 */
    u32 cmdline;                    /* bit 2: physical address of a C string */
    u32 mods_count, mods_addr;      /* bit 3 */
    u32 syms[4];                    /* bits 4/5 */
    u32 mmap_length, mmap_addr;     /* bit 6 */
    u32 drives_length, drives_addr; /* bit 7 */
    u32 config_table;               /* bit 8 */
    u32 boot_loader_name;           /* bit 9 */
};

#define MB_BOOT_MAGIC 0x2BADB002u

/* Provided by the platform file. */
extern const int rt_native;         /* 1 in the native Linux build, 0 in the kernel */
void rt_putc(char c);
void exit(int code) __attribute__((noreturn));

/* The guest's entry point: returns the exit code. */
int kmain(u32 magic, struct mb_info *mbi);

/* Output helpers (rt.c). */
void print(const char *s);
void print_hex(u32 v);              /* 0x%08x */
void print_hex64(u64 v);            /* 0x%016llx */
void print_dec(u32 v);
void print_dec64(u64 v);            /* uses compiler_rt's 64-bit division */
void print_sdec(s32 v);

/* Freestanding string functions (rt.c). */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);

#endif
