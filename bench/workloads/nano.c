/* Privileged nanobenchmarks (Multiboot guest, bt and qemu-system-i386).
 * Runs operation bench_op (an absolute symbol set at link time) bench_n times
 * in an unrolled-by-one loop; the harness times runs with n and with 0 and
 * divides.  Op 0 is the bare loop (dec/jnz), subtracted from the others.
 * Ops 1-6 need neither IDT delivery nor paging; ops 7-13 set up their own GDT,
 * TSS and IDT (guests/sysrt) and, for 9-13, paging (an identity map of the first
 * 4 MiB with 4 KiB pages), and run in ring 0 except SYSENTER/SYSEXIT (ring 3). */
#include "sys.h"

/* nano_sys.S */
extern char nano_iret[], nano_de[], nano_pf[], nano_sysexit[], nano_sysenter_loop[];
extern u32 nano_pte;                    /* address of the PTE the #PF handler sets P in */
static u32 pd[1024] __attribute__((aligned(4096)));
static u32 pt[1024] __attribute__((aligned(4096)));
static u8 test_page[4096] __attribute__((aligned(4096)));
static u8 sysenter_stack[512] __attribute__((aligned(16)));

static void paging_on(void)
{
    for (u32 i = 0; i < 1024; i++)
        pt[i] = (i << 12) | 7;
    pd[0] = (u32)pt | 7;
    WRCR(3, (u32)pd);
    WRCR(0, RDCR(0) | 0x80000000u);
}

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
    "int80+iret", "sysenter+sysexit", "mov cr3", "invlpg", "#PF round trip", "#DE round trip",
    "pte write+invlpg",
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
    case 7:                             /* INT 0x80 to a handler that only IRETs */
        sys_init();
        idt[0x80] = gate_desc(KCODE, (u32)nano_iret, 0x8E, 0);
        for (u32 i = n; i; i--)
            __asm__ volatile("int $0x80" ::: "memory");
        break;
    case 8: {                           /* ring 3: SYSENTER to an entry that only SYSEXITs */
        sys_init();
        wrmsr(0x174, KCODE, 0);
        wrmsr(0x175, (u32)sysenter_stack + sizeof sysenter_stack, 0);
        wrmsr(0x176, (u32)nano_sysexit, 0);
        static struct frame f;
        f.gs = f.fs = f.es = f.ds = f.uss = UDATA;
        f.cs = UCODE;
        f.eip = (u32)nano_sysenter_loop;
        f.eflags = 0x2;
        f.uesp = (u32)ustack_top;
        f.esi = n;
        run_user(&f);
        break;
    }
    case 9:                             /* MOV CR3 reload (paging on, 4 KiB pages) */
        sys_init();
        paging_on();
        for (u32 i = n; i; i--)
            __asm__ volatile("mov %%cr3, %%eax\n\tmov %%eax, %%cr3" ::: "eax", "memory");
        break;
    case 10:                            /* INVLPG of a mapped page, touched each time */
        sys_init();
        paging_on();
        for (u32 i = n; i; i--)
            __asm__ volatile("invlpg (%0)\n\tmovb (%0), %%al" : : "r"(test_page) : "eax", "memory");
        break;
    case 11:                            /* PTE clear + INVLPG + the #PF that sets it again */
        sys_init();
        paging_on();
        idt[14] = gate_desc(KCODE, (u32)nano_pf, 0x8E, 0);
        nano_pte = (u32)&pt[(u32)test_page >> 12];
        for (u32 i = n; i; i--)
            __asm__ volatile("andl $~1, (%1)\n\tinvlpg (%0)\n\tmovb (%0), %%al"
                             : : "r"(test_page), "r"(nano_pte) : "eax", "memory");
        break;
    case 12:                            /* DIV by zero to a handler that skips the DIV */
        sys_init();
        idt[0] = gate_desc(KCODE, (u32)nano_de, 0x8E, 0);
        for (u32 i = n; i; i--)
            __asm__ volatile("xor %%edx, %%edx\n\tdiv %%ecx" : : "a"(1), "c"(0) : "edx", "memory");
        break;
    case 13:                            /* PTE write + INVLPG + a touch (no fault) */
        sys_init();
        paging_on();
        for (u32 i = n; i; i--)
            __asm__ volatile("xorl $0x200, (%1)\n\tinvlpg (%0)\n\tmovb (%0), %%al"
                             : : "r"(test_page), "r"(&pt[(u32)test_page >> 12]) : "eax", "memory");
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
