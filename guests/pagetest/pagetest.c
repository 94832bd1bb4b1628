/* pagetest: bt's paging test kernel (two-level 32-bit paging, SDM vol. 3 ch. 4).
 * Identity map of the first 4 MiB and a higher-half alias at 0xC0000000; demand
 * paging and copy-on-write from the #PF handler; U/S, R/W and CR0.WP; A and D
 * bits; INVLPG, CR3 reload and CR4.PGE toggles making new mappings visible;
 * 4 MiB pages (CR4.PSE); global pages; an instruction straddling into a
 * not-present page; a dword store straddling into a read-only page; REP MOVSB
 * faulting mid-copy and resuming.  Only architecturally guaranteed behaviour
 * is checked: never that a stale TLB entry survives.  One line per check on
 * COM1; the exit code (isa-debug-exit) is the number of failures. */
#include "sys.h"

#define P 0x001
#define RW 0x002
#define US 0x004
#define A 0x020
#define D 0x040
#define PS 0x080
#define G 0x100
#define COW 0x200                           /* an ignored bit (available to software) */

#define TEST_BASE 0x40000000u               /* pt_test: 0x40000000-0x403FFFFF */
#define V(i) (TEST_BASE + ((u32)(i) << 12))
#define I_DEMAND 0                          /* pages 0-15: demand (fresh frames) */
#define I_COW 16
#define I_COW_ALIAS 17
#define I_SUP 18
#define I_RO 19
#define I_TLB 20
#define I_GLOBAL 21
#define I_CODE 22                           /* 22 present, 23 demand with given bytes */
#define I_STR 24                            /* 24 RW, 25 read-only */
#define I_REP 26                            /* 26 RW, 27 demand */
#define AD_BASE 0x40400000u                 /* pt_ad: a fresh page table for the A/D checks */
#define BIG_BASE 0x80000000u                /* a 4 MiB page onto physical 0 */
#define HIGH_BASE 0xC0000000u               /* the higher-half alias of the first 4 MiB */
#define NOPDE_BASE 0x50000000u              /* a directory entry that is not present */

static u32 pd[1024] __attribute__((aligned(4096)));
static u32 pt_id[1024] __attribute__((aligned(4096)));
static u32 pt_test[1024] __attribute__((aligned(4096)));
static u32 pt_ad[1024] __attribute__((aligned(4096)));
#define NFRAMES 24
static u8 pool[NFRAMES][4096] __attribute__((aligned(4096)));
static u32 next_frame;
static u32 demand[1024];                    /* pt_test index -> frame to map on a fault (0: fresh) */
static u32 demand_ok[1024];

extern char pu_exit[], pu_cow[], pu_cow_insn[], pu_sup[], pu_sup_insn[], pu_demand[],
    pu_demand_insn[], where_am_i[];

static u8 *frame(void)
{
    if (next_frame >= NFRAMES) {
        print("FAIL out_of_frames got=0 want=1\n");
        n_fail++;
        exit(finish("pagetest"));
    }
    u8 *f = pool[next_frame++];
    memset(f, 0, 4096);
    return f;
}

static volatile u32 pf_n, pf_cr2, pf_err, pf_eip, pf_ecx, pf_esi, pf_edi, pf_cs;

static int pf(struct frame *f)
{
    if (f->vec != 14)
        return 0;
    u32 cr2 = RDCR(2);
    pf_n++;
    pf_cr2 = cr2;
    pf_err = f->err;
    pf_eip = f->eip;
    pf_cs = f->cs;
    pf_ecx = f->ecx;
    pf_esi = f->esi;
    pf_edi = f->edi;
    if (cr2 - TEST_BASE >= 0x400000)
        return 0;
    u32 i = (cr2 - TEST_BASE) >> 12, pte = pt_test[i];
    if (!(f->err & P) && demand_ok[i]) {
        /* Demand paging: a not-present entry becomes present.  No INVLPG: a
           not-present translation is not cached (SDM 4.10.2.3), and the #PF
           itself invalidates the faulting address (4.10.4.1). */
        u32 fr = demand[i] ? demand[i] : (u32)frame();
        pt_test[i] = fr | P | RW | US;
        demand_ok[i] = 0;
        return 1;
    }
    if ((f->err & 7) == 7 && (pte & COW)) {
        /* Copy-on-write: private copy, writable, and the old translation flushed. */
        u8 *fr = frame();
        memcpy(fr, (void *)(pte & ~0xFFFu), 4096);
        pt_test[i] = (u32)fr | P | RW | US;
        invlpg(cr2 & ~0xFFFu);
        return 1;
    }
    return 0;
}

static u32 rd(u32 va) { return *(volatile u32 *)va; }
static void wr(u32 va, u32 v) { *(volatile u32 *)va = v; }

static void setup_paging(void)
{
    for (u32 i = 0; i < 1024; i++)
        pt_id[i] = (i << 12) | P | RW | US;                 /* 0-4 MiB identity, user too */
    pd[0] = (u32)pt_id | P | RW | US;
    pd[HIGH_BASE >> 22] = (u32)pt_id | P | RW;              /* supervisor-only alias */
    pd[TEST_BASE >> 22] = (u32)pt_test | P | RW | US;
    pd[AD_BASE >> 22] = (u32)pt_ad | P | RW | US;           /* A = 0 */
    pd[BIG_BASE >> 22] = 0 | PS | P | RW;                   /* 4 MiB page at physical 0 */
    WRCR(4, RDCR(4) | 0x10);                                /* PSE */
    WRCR(3, (u32)pd);
    WRCR(0, RDCR(0) | 0x80010000);                          /* PG, WP */
}

static void test_basic(void)
{
    check("paging_enabled", RDCR(0) >> 31, 1);
    static volatile u32 cell = 0x12345678;
    check("identity_map_reads", rd((u32)&cell), 0x12345678);
    check("high_alias_reads", rd(HIGH_BASE + (u32)&cell), 0x12345678);
    wr(HIGH_BASE + (u32)&cell, 0x9ABCDEF0);
    check("high_alias_write_seen_at_identity", cell, 0x9ABCDEF0);
    u32 (*alias_fn)(void) = (u32 (*)(void))(HIGH_BASE + (u32)where_am_i);
    check("code_runs_through_high_alias", alias_fn(), HIGH_BASE + (u32)where_am_i);
    /* 4 MiB page (CR4.PSE): physical = PDE[31:22] | linear[21:0]. */
    cell = 0x600D0004;
    check("pse_4mib_page_reads", rd(BIG_BASE + (u32)&cell), 0x600D0004);
    wr(BIG_BASE + (u32)&cell + 0, 0x4A4A4A4A);
    check("pse_4mib_page_writes", cell, 0x4A4A4A4A);
    check("pse_4mib_pde_accessed_dirty", pd[BIG_BASE >> 22] & (A | D), A | D);
    u32 (*big_fn)(void) = (u32 (*)(void))(BIG_BASE + (u32)where_am_i);
    check("code_runs_through_4mib_page", big_fn(), BIG_BASE + (u32)where_am_i);
}

static void test_faults(void)
{
    fault_hook = pf;
    /* Demand paging: a ring-0 read and a ring-0 write of not-present pages. */
    for (int i = 0; i < 16; i++)
        demand_ok[I_DEMAND + i] = 1;
    u32 n = pf_n, v;
    __asm__ volatile("movl $1f, probe_eip\n1:\tmov (%1), %0" : "=r"(v) : "r"(V(I_DEMAND) + 0x24) : "memory");
    check("demand_read_value", v, 0);
    check("demand_read_one_fault", pf_n - n, 1);
    check("demand_read_cr2", pf_cr2, V(I_DEMAND) + 0x24);
    check("demand_read_err", pf_err, 0);                    /* not present, read, supervisor */
    check("demand_read_eip", pf_eip, probe_eip);
    n = pf_n;
    __asm__ volatile("movl $1f, probe_eip\n1:\tmovl $0x5A5A5A5A, (%0)" : : "r"(V(I_DEMAND + 1) + 0x100) : "memory");
    check("demand_write_one_fault", pf_n - n, 1);
    check("demand_write_cr2", pf_cr2, V(I_DEMAND + 1) + 0x100);
    check("demand_write_err", pf_err, 2);                   /* not present, write */
    check("demand_write_eip", pf_eip, probe_eip);
    check("demand_write_value", rd(V(I_DEMAND + 1) + 0x100), 0x5A5A5A5A);
    /* Ring 3: a not-present user page. */
    arm_return();
    n = pf_n;
    user((u32)pu_demand, 0x2);
    disarm();
    check("demand_ring3_one_fault", pf_n - n, 1);
    check("demand_ring3_err", pf_err, 4);                   /* not present, read, user */
    check("demand_ring3_eip_cs", pf_eip ^ (pf_cs << 24), (u32)pu_demand_insn ^ (UCODE << 24));
    check("demand_ring3_completed", uexit.cs, UCODE);

    /* A not-present directory entry: #PF(0), not handled: resume after. */
    PROBE("", "mov (%%eax), %%eax", : : "a"(NOPDE_BASE + 0x123) : "memory");
    check_exc("pf_pde_not_present", 14, 0, probe_eip, KCODE);
    check("pf_pde_not_present_cr2", caught.cr2, NOPDE_BASE + 0x123);

    /* Copy-on-write: a page shared read-only by two mappings; ring 3 writes one. */
    u8 *orig = frame();
    wr((u32)orig + 0x10, 0x0A1A2A3A);
    pt_test[I_COW] = (u32)orig | P | US | COW;
    pt_test[I_COW_ALIAS] = (u32)orig | P | US;
    n = pf_n;
    arm_return();
    user((u32)pu_cow, 0x2);
    disarm();
    check("cow_one_fault", pf_n - n, 1);
    check("cow_err_p_w_u", pf_err, 7);
    check("cow_cr2", pf_cr2, V(I_COW) + 0x10);
    check("cow_eip", pf_eip, (u32)pu_cow_insn);
    check("cow_write_landed", uexit.esi, 0x600DC0DE);
    check("cow_original_unchanged", rd(V(I_COW_ALIAS) + 0x10), 0x0A1A2A3A);

    /* Ring 3 reads a supervisor page: #PF with P and U set. */
    u8 *sup = frame();
    pt_test[I_SUP] = (u32)sup | P | RW;
    arm_return();
    user((u32)pu_sup, 0x2);
    disarm();
    check_exc("pf_ring3_supervisor_page", 14, 5, (u32)pu_sup_insn, UCODE);
    check("pf_ring3_supervisor_cr2", caught.cr2, V(I_SUP));

    /* CR0.WP: a ring-0 write to a read-only page faults with WP = 1 (P|W), not with WP = 0. */
    u8 *ro = frame();
    pt_test[I_RO] = (u32)ro | P;
    PROBE("", "movl $0x11111111, (%%eax)", : : "a"(V(I_RO)) : "memory");
    check_exc("pf_wp1_ring0_write_readonly", 14, 3, probe_eip, KCODE);
    check("pf_wp1_cr2", caught.cr2, V(I_RO));
    check("pf_wp1_nothing_written", rd((u32)ro), 0);
    WRCR(0, RDCR(0) & ~0x10000u);
    n = caught.n;
    PROBE("", "movl $0x22222222, (%%eax)", : : "a"(V(I_RO)) : "memory");
    check_noexc("wp0_ring0_write_readonly_ok", n);
    check("wp0_write_landed", rd((u32)ro), 0x22222222);
    WRCR(0, RDCR(0) | 0x10000u);
}

static void test_ad_tlb(void)
{
    /* A and D: the walk sets A in the PDE and PTE it uses; the first write sets D. */
    u8 *fr = frame();
    pt_ad[5] = (u32)fr | P | RW | US;
    u32 va = AD_BASE + (5 << 12);
    check("ad_initially_clear", (pd[AD_BASE >> 22] & A) | (pt_ad[5] & (A | D)), 0);
    (void)rd(va);
    check("ad_pde_accessed_after_read", pd[AD_BASE >> 22] & A, A);
    check("ad_pte_accessed_after_read", pt_ad[5] & A, A);
    check("ad_pte_not_dirty_after_read", pt_ad[5] & D, 0);
    wr(va, 1);
    check("ad_pte_dirty_after_write", pt_ad[5] & D, D);

    /* INVLPG and CR3 reload make a changed translation visible. */
    u8 *f1 = frame(), *f2 = frame(), *f3 = frame();
    wr((u32)f1, 0xF1F1F1F1);
    wr((u32)f2, 0xF2F2F2F2);
    wr((u32)f3, 0xF3F3F3F3);
    pt_test[I_TLB] = (u32)f1 | P | RW;
    check("tlb_first_mapping", rd(V(I_TLB)), 0xF1F1F1F1);
    pt_test[I_TLB] = (u32)f2 | P | RW;
    invlpg(V(I_TLB));
    check("invlpg_new_mapping_visible", rd(V(I_TLB)), 0xF2F2F2F2);
    pt_test[I_TLB] = (u32)f3 | P | RW;
    WRCR(3, RDCR(3));
    check("cr3_reload_new_mapping_visible", rd(V(I_TLB)), 0xF3F3F3F3);
    /* Removing a mapping: after INVLPG the access faults. */
    pt_test[I_TLB] = 0;
    invlpg(V(I_TLB));
    PROBE("", "mov (%%eax), %%eax", : : "a"(V(I_TLB)) : "memory");
    check_exc("invlpg_unmapped_faults", 14, 0, probe_eip, KCODE);

    /* Global pages (CR4.PGE): INVLPG invalidates a global entry too; so does a
       CR4.PGE toggle.  (Whether one survives a CR3 load is not checked.) */
    WRCR(4, RDCR(4) | 0x80);
    pt_test[I_GLOBAL] = (u32)f1 | P | RW | G;
    check("global_page_reads", rd(V(I_GLOBAL)), 0xF1F1F1F1);
    WRCR(3, RDCR(3));
    check("global_page_after_cr3_reload", rd(V(I_GLOBAL)), 0xF1F1F1F1);
    pt_test[I_GLOBAL] = (u32)f2 | P | RW | G;
    invlpg(V(I_GLOBAL));
    check("global_invlpg_new_mapping_visible", rd(V(I_GLOBAL)), 0xF2F2F2F2);
    pt_test[I_GLOBAL] = (u32)f3 | P | RW | G;
    WRCR(4, RDCR(4) & ~0x80u);
    WRCR(4, RDCR(4) | 0x80);
    check("global_pge_toggle_new_mapping_visible", rd(V(I_GLOBAL)), 0xF3F3F3F3);
    WRCR(4, RDCR(4) & ~0x80u);
}

static void test_straddle(void)
{
    /* An instruction whose last bytes are on a not-present page: MOV EAX, imm32
       (B8 + 4 bytes) at offset 0xFFE: #PF with CR2 = the start of the second
       page and the saved EIP = the instruction; after the handler maps it, the
       instruction restarts and completes. */
    u8 *c1 = frame(), *c2 = frame();
    c1[0xFFE] = 0xB8;
    c1[0xFFF] = 0x78;
    c2[0] = 0x56; c2[1] = 0x34; c2[2] = 0x12; c2[3] = 0xC3;      /* ..., RET */
    pt_test[I_CODE] = (u32)c1 | P | RW;
    demand[I_CODE + 1] = (u32)c2;
    demand_ok[I_CODE + 1] = 1;
    u32 n = pf_n;
    u32 (*fn)(void) = (u32 (*)(void))(V(I_CODE) + 0xFFE);
    u32 r = fn();
    check("insn_straddle_result", r, 0x12345678);
    check("insn_straddle_one_fault", pf_n - n, 1);
    check("insn_straddle_cr2", pf_cr2, V(I_CODE + 1));
    check("insn_straddle_err", pf_err, 0);                  /* not present, fetch = read, supervisor */
    check("insn_straddle_eip", pf_eip, V(I_CODE) + 0xFFE);

    /* A dword store across a page boundary, second page read-only (WP = 1). */
    u8 *s1 = frame(), *s2 = frame();
    memset(s1 + 0xF00, 0x11, 0x100);
    memset(s2, 0x22, 0x100);
    pt_test[I_STR] = (u32)s1 | P | RW;
    pt_test[I_STR + 1] = (u32)s2 | P;
    PROBE("", "movl $0xAABBCCDD, (%%eax)", : : "a"(V(I_STR) + 0xFFE) : "memory");
    check_exc("store_straddle_readonly_fault", 14, 3, probe_eip, KCODE);
    /* CR2 = the first byte of the access on the faulting page (the SDM says only
       "the linear address that generated the exception"; see README). */
    check("store_straddle_cr2", caught.cr2, V(I_STR + 1));
    check("store_straddle_first_page_unchanged", s1[0xFFE] | (s1[0xFFF] << 8), 0x1111);
    check("store_straddle_second_page_unchanged", s2[0] | (s2[1] << 8), 0x2222);
    pt_test[I_STR + 1] |= RW;
    invlpg(V(I_STR + 1));
    n = caught.n;
    PROBE("", "movl $0xAABBCCDD, (%%eax)", : : "a"(V(I_STR) + 0xFFE) : "memory");
    check_noexc("store_straddle_writable_ok", n);
    check("store_straddle_bytes", s1[0xFFE] | (s1[0xFFF] << 8) | (s2[0] << 16) | ((u32)s2[1] << 24),
          0xAABBCCDD);

    /* REP MOVSB across into a not-present page: faults mid-copy with ECX/ESI/EDI
       showing the progress, then resumes and finishes after the handler maps it. */
    u8 *src = frame(), *r1 = frame(), *r2 = frame();
    for (int i = 0; i < 0x100; i++)
        src[i] = (u8)(i * 7 + 3);
    pt_test[I_REP] = (u32)r1 | P | RW;
    demand[I_REP + 1] = (u32)r2;
    demand_ok[I_REP + 1] = 1;
    u32 dst = V(I_REP) + 0xF80, esi = (u32)src, edi = dst, ecx = 0x100;
    n = pf_n;
    __asm__ volatile("cld\n\tmovl $1f, probe_eip\n1:\trep movsb"
                     : "+S"(esi), "+D"(edi), "+c"(ecx) : : "memory");
    check("rep_movsb_one_fault", pf_n - n, 1);
    check("rep_movsb_fault_cr2", pf_cr2, V(I_REP + 1));
    check("rep_movsb_fault_err", pf_err, 2);
    check("rep_movsb_fault_eip", pf_eip, probe_eip);
    u32 done = 0x100 - pf_ecx;
    check("rep_movsb_fault_progress_le_first_page", done <= 0x80, 1);
    check("rep_movsb_fault_esi_edi_match_ecx",
          (pf_esi - (u32)src == done) && (pf_edi - dst == done), 1);
    check("rep_movsb_final_regs", (ecx == 0) && (esi == (u32)src + 0x100) && (edi == dst + 0x100), 1);
    check("rep_movsb_data", memcmp(r1 + 0xF80, src, 0x80) == 0 && memcmp(r2, src + 0x80, 0x80) == 0, 1);
}

int kmain(u32 magic, struct mb_info *mbi)
{
    (void)mbi;
    sys_guest = "pagetest";
    print("pagetest: paging checks\n");
    check("multiboot_magic", magic, MB_BOOT_MAGIC);
    sys_init();
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    check("cpuid_1_edx_pse", d & 0x8, 0x8);                 /* the features used here */
    check("cpuid_1_edx_pge", d & 0x2000, 0x2000);
    setup_paging();
    test_basic();
    test_faults();
    test_ad_tlb();
    test_straddle();
    return finish("pagetest");
}
