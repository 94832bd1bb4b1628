/* paging: a self-checking guest for two-level paging (kernel build only: it
 * needs ring 0).  Every expected value follows from the SDM's rules (vol. 3
 * ch. 4), never from an emulator; qemu-system-i386 runs it as a cross-check.
 * Only architecturally guaranteed behaviour is checked: no stale translation is
 * ever required.  What needs a #PF handler (demand paging, copy-on-write, ring 3
 * faults, CR0.WP=1 faults) waits for IDT delivery.
 *
 * Output: "PASS name" or "FAIL name got=G want=W" per check, then
 * "paging: N passed, M failed"; exit code 0 if all passed, else 1.
 */
#include "rt.h"

#define P 1u
#define RW 2u
#define US 4u
#define A 0x20u
#define D 0x40u
#define PS 0x80u
#define G 0x100u

static u32 pd[1024] __attribute__((aligned(4096)));
static u32 pd2[1024] __attribute__((aligned(4096)));
static u32 pt_low[2][1024] __attribute__((aligned(4096)));   /* identity 0..8 MiB */
static u32 pt_test[1024] __attribute__((aligned(4096)));     /* linear 0x40000000.. */
static u8 pages[4][4096] __attribute__((aligned(4096)));     /* test data pages */

#define TEST_LIN 0x40000000u
#define HIGH_LIN 0xC0000000u
#define BIG_LIN 0x80000000u

static u32 npass, nfail;
static u32 g_got, g_want;

#define EXPECT(got, want) do { u32 got_ = (got), want_ = (want); \
        if (got_ != want_) { g_got = got_; g_want = want_; return 1; } } while (0)

static void run(const char *name, int (*fn)(void))
{
    if (!fn()) {
        print("PASS ");
        print(name);
        print("\n");
        npass++;
        return;
    }
    print("FAIL ");
    print(name);
    print(" got=");
    print_hex(g_got);
    print(" want=");
    print_hex(g_want);
    print("\n");
    nfail++;
}

static inline u32 rd_cr0(void) { u32 v; __asm__ volatile("mov %%cr0, %0" : "=r"(v)); return v; }
static inline u32 rd_cr3(void) { u32 v; __asm__ volatile("mov %%cr3, %0" : "=r"(v)); return v; }
static inline u32 rd_cr4(void) { u32 v; __asm__ volatile("mov %%cr4, %0" : "=r"(v)); return v; }
static inline void wr_cr0(u32 v) { __asm__ volatile("mov %0, %%cr0" :: "r"(v) : "memory"); }
static inline void wr_cr3(u32 v) { __asm__ volatile("mov %0, %%cr3" :: "r"(v) : "memory"); }
static inline void wr_cr4(u32 v) { __asm__ volatile("mov %0, %%cr4" :: "r"(v) : "memory"); }
static inline void invlpg(u32 a) { __asm__ volatile("invlpg (%0)" :: "r"(a) : "memory"); }
static inline u32 peek(u32 a) { return *(volatile u32 *)a; }
static inline void poke(u32 a, u32 v) { *(volatile u32 *)a = v; }

/* the CPU writes A and D behind the compiler's back: read entries as volatile */
static u32 pte_of(u32 lin) { return ((volatile u32 *)pt_test)[(lin >> 12) & 0x3FF]; }
static u32 pde_of(u32 lin) { return ((volatile u32 *)pd)[lin >> 22]; }

static int check_cpuid(void)
{
    u32 a = 1, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    EXPECT(d & ((1u << 3) | (1u << 13)), (1u << 3) | (1u << 13));   /* PSE, PGE */
    return 0;
}

static int check_identity(void)
{
    /* the kernel runs on after CR0.PG=1: its code, stack and data are mapped 1:1 */
    static volatile u32 x = 0x1234;
    EXPECT(rd_cr0() >> 31, 1);
    EXPECT(x, 0x1234);
    EXPECT(peek((u32)&x), 0x1234);
    return 0;
}

static int check_higher_half(void)
{
    u32 phys = (u32)pages[0];
    poke(phys + 8, 0xA5A5F00D);
    EXPECT(peek(HIGH_LIN + 0x2008), 0xA5A5F00D);       /* mapped at boot, see kmain */
    poke(HIGH_LIN + 0x200C, 0x600DCAFE);
    EXPECT(peek(phys + 12), 0x600DCAFE);
    return 0;
}

static int check_accessed_dirty(void)
{
    u32 lin = TEST_LIN + 0x1000;
    pt_test[1] = (u32)pages[1] | P | RW;
    invlpg(lin);
    EXPECT(pte_of(lin) & (A | D), 0);
    (void)peek(lin + 4);
    EXPECT(pte_of(lin) & (A | D), A);                   /* a read: Accessed only */
    EXPECT(pde_of(TEST_LIN) & A, A);                    /* the directory entry used */
    poke(lin + 4, 7);
    EXPECT(pte_of(lin) & (A | D), A | D);               /* a write: Dirty too */
    return 0;
}

static int check_invlpg(void)
{
    u32 lin = TEST_LIN + 0x2000;
    ((volatile u32 *)pages[2])[0] = 0x22222222;
    ((volatile u32 *)pages[3])[0] = 0x33333333;
    pt_test[2] = (u32)pages[2] | P | RW;
    invlpg(lin);
    EXPECT(peek(lin), 0x22222222);
    pt_test[2] = (u32)pages[3] | P | RW;
    invlpg(lin);
    EXPECT(peek(lin), 0x33333333);                      /* the new mapping is visible */
    return 0;
}

static int check_cr3_reload(void)
{
    u32 lin = TEST_LIN + 0x3000;
    pt_test[3] = (u32)pages[2] | P | RW;
    wr_cr3(rd_cr3());
    EXPECT(peek(lin), 0x22222222);
    pt_test[3] = (u32)pages[3] | P | RW;
    wr_cr3(rd_cr3());
    EXPECT(peek(lin), 0x33333333);
    return 0;
}

static int check_4m_page(void)
{
    static volatile u32 y = 0xB16B00B5;
    wr_cr4(rd_cr4() | 0x10);                            /* PSE */
    pd[BIG_LIN >> 22] = 0 | P | RW | PS;                /* 2 GiB -> physical 0, 4 MiB */
    invlpg(BIG_LIN);
    EXPECT(peek(BIG_LIN + (u32)&y), 0xB16B00B5);
    poke(BIG_LIN + (u32)&y, 0x5EED5EED);
    EXPECT(y, 0x5EED5EED);
    EXPECT(pde_of(BIG_LIN) & (A | D), A | D);           /* A and D in the PDE itself */
    return 0;
}

static int check_global_across_cr3_switch(void)
{
    /* global kernel mappings, the same in both directories: switching CR3 and
       back keeps the kernel running, and the other directory's own mapping of the
       test page is the one seen while it is loaded */
    for (int i = 0; i < 1024; i++)
        pd2[i] = pd[i];
    static u32 pt_test2[1024] __attribute__((aligned(4096)));
    for (int i = 0; i < 1024; i++)
        pt_test2[i] = 0;
    pt_test2[4] = (u32)pages[2] | P | RW;
    pt_test[4] = (u32)pages[3] | P | RW;
    pd2[TEST_LIN >> 22] = (u32)pt_test2 | P | RW;
    wr_cr4(rd_cr4() | 0x80);                            /* PGE */
    u32 old = rd_cr3();
    wr_cr3((u32)pd2);
    u32 v2 = peek(TEST_LIN + 0x4000);
    wr_cr3(old);
    u32 v1 = peek(TEST_LIN + 0x4000);
    EXPECT(v2, 0x22222222);
    EXPECT(v1, 0x33333333);
    return 0;
}

static int check_pge_toggle_flushes_globals(void)
{
    u32 lin = TEST_LIN + 0x5000;
    pt_test[5] = (u32)pages[2] | P | RW | G;
    invlpg(lin);
    EXPECT(peek(lin), 0x22222222);
    pt_test[5] = (u32)pages[3] | P | RW | G;
    wr_cr4(rd_cr4() & ~0x80u);                          /* clearing PGE flushes all */
    wr_cr4(rd_cr4() | 0x80u);
    EXPECT(peek(lin), 0x33333333);
    return 0;
}

static int check_wp0_supervisor_write(void)
{
    u32 lin = TEST_LIN + 0x6000;
    pt_test[6] = (u32)pages[1] | P;                     /* read only */
    invlpg(lin);
    wr_cr0(rd_cr0() & ~0x10000u);
    poke(lin + 16, 0xD00DFEED);                         /* CR0.WP=0: ring 0 may write */
    EXPECT(((volatile u32 *)pages[1])[4], 0xD00DFEED);
    EXPECT(pte_of(lin) & D, D);
    return 0;
}

static int check_alias_code(void)
{
    /* code written through one mapping and run through another: a 6-byte
       "mov eax, imm32; ret" in pages[0], executed at HIGH_LIN + 0x2000 */
    volatile u8 *w = (volatile u8 *)(TEST_LIN + 0x7000);
    pt_test[7] = (u32)pages[0] | P | RW;
    invlpg(TEST_LIN + 0x7000);
    u32 (*fn)(void) = (u32 (*)(void))(HIGH_LIN + 0x2000 + 0x100);
    w[0x100] = 0xB8; w[0x101] = 0x11; w[0x102] = 0; w[0x103] = 0; w[0x104] = 0; w[0x105] = 0xC3;
    u32 a = fn();
    w[0x101] = 0x22;
    u32 b = fn();
    EXPECT(a, 0x11);
    EXPECT(b, 0x22);
    return 0;
}

int kmain(u32 magic, struct mb_info *mbi)
{
    (void)magic;
    (void)mbi;
    for (u32 i = 0; i < 2048; i++)
        pt_low[i >> 10][i & 1023] = (i << 12) | P | RW | G;
    pd[0] = (u32)pt_low[0] | P | RW;
    pd[1] = (u32)pt_low[1] | P | RW;
    pd[TEST_LIN >> 22] = (u32)pt_test | P | RW;
    /* HIGH_LIN + 0x2000 -> pages[0], through a table of its own */
    static u32 pt_high[1024] __attribute__((aligned(4096)));
    pt_high[2] = (u32)pages[0] | P | RW;
    pd[HIGH_LIN >> 22] = (u32)pt_high | P | RW;
    wr_cr3((u32)pd);
    wr_cr0(rd_cr0() | 0x80000000u);

    run("cpuid_pse_pge", check_cpuid);
    run("identity", check_identity);
    run("higher_half", check_higher_half);
    run("accessed_dirty", check_accessed_dirty);
    run("invlpg", check_invlpg);
    run("cr3_reload", check_cr3_reload);
    run("4m_page", check_4m_page);
    run("global_across_cr3_switch", check_global_across_cr3_switch);
    run("pge_toggle_flushes_globals", check_pge_toggle_flushes_globals);
    run("wp0_supervisor_write", check_wp0_supervisor_write);
    run("alias_code", check_alias_code);
    print("paging: ");
    print_dec(npass);
    print(" passed, ");
    print_dec(nfail);
    print(" failed\n");
    return nfail ? 1 : 0;
}
