/* The real-hardware oracle for systest's checks that qemu-system-i386 (TCG) does
 * not emulate: limits and rights on data accesses, a stack segment's limit, and
 * alignment checking.  A static i386 Linux program (musl): it makes LDT
 * segments like systest's GDT ones with modify_ldt(2), does the same accesses
 * at CPL 3, and prints the vector and error code the CPU reported (the kernel
 * passes them in the signal context as trapno and err):
 *     <check name> <vector> <error code>      or      <check name> none
 * tests/test_sys_guests.py builds it with zig and compares with systest's
 * expectations. */
#define _GNU_SOURCE
#include <asm/ldt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

static sigjmp_buf jb;
static volatile long trapno, err;
static unsigned buf[1024];
static volatile unsigned ro_target;

static void handler(int sig, siginfo_t *si, void *ucv)
{
    /* Linux leaves EFLAGS.AC as it was: clear it before anything misaligned. */
    __asm__ volatile("pushf\n\tandl $~0x40000, (%%esp)\n\tpopf" ::: "memory", "cc");
    ucontext_t *uc = ucv;
    (void)sig;
    (void)si;
    trapno = uc->uc_mcontext.gregs[REG_TRAPNO];
    err = uc->uc_mcontext.gregs[REG_ERR];
    siglongjmp(jb, 1);
}

static int ldt_entry(int n, unsigned base, unsigned limit, int pages, int read_only)
{
    struct user_desc d;
    memset(&d, 0, sizeof d);
    d.entry_number = n;
    d.base_addr = base;
    d.limit = limit;
    d.seg_32bit = 1;
    d.contents = 0;                     /* data, expand-up */
    d.read_exec_only = read_only;
    d.limit_in_pages = pages;
    d.useable = 1;
    return (int)syscall(SYS_modify_ldt, 1, &d, sizeof d);
}

static void report(const char *name, int faulted)
{
    if (faulted)
        printf("%s %ld %ld\n", name, trapno, err);
    else
        printf("%s none\n", name);
}

/* Run the statement; report the exception it raised, or none. */
#define TRY(name, stmt)                         \
    do {                                        \
        if (sigsetjmp(jb, 1)) {                 \
            report(name, 1);                    \
        } else {                                \
            stmt;                               \
            report(name, 0);                    \
        }                                       \
    } while (0)

#define SMALL 0x07                      /* LDT 0, RPL 3: limit 0xFFF */
#define RO 0x0F                         /* LDT 1, RPL 3: read-only, 4 GiB */

int main(void)
{
    static char altstack[65536];
    stack_t ss = { .ss_sp = altstack, .ss_size = sizeof altstack };
    struct sigaction sa;
    setvbuf(stdout, NULL, _IONBF, 0);
    sigaltstack(&ss, NULL);
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    if (ldt_entry(0, (unsigned)buf, 0xFFF, 0, 0) != 0 || ldt_entry(1, 0, 0xFFFFF, 1, 1) != 0) {
        printf("modify_ldt unavailable\n");
        return 2;
    }
    ro_target = 0x1234;
    TRY("gp_write_readonly_segment",
        __asm__ volatile("mov %0, %%fs\n\tmovl $1, %%fs:(%1)" : : "r"(RO), "r"(&ro_target) : "memory"));
    printf("readonly_segment_unchanged %#x\n", ro_target);
    TRY("gp_beyond_limit",
        __asm__ volatile("mov %0, %%fs\n\tmovl %%fs:0x1000, %%eax" : : "r"(SMALL) : "eax"));
    TRY("gp_dword_straddles_limit",
        __asm__ volatile("mov %0, %%fs\n\tmovl %%fs:0xFFE, %%eax" : : "r"(SMALL) : "eax"));
    TRY("limit_last_dword_ok",
        __asm__ volatile("mov %0, %%fs\n\tmovl %%fs:0xFFC, %%eax" : : "r"(SMALL) : "eax"));
    TRY("ss_ring3_stack_limit",
        __asm__ volatile("mov %%ss, %%ecx\n\tmov %%esp, %%edx\n\tmov %0, %%ss\n\tmov $0x2000, %%esp\n\t"
                             "push %%eax\n\tmov %%ecx, %%ss\n\tmov %%edx, %%esp"
                             : : "r"(SMALL) : "ecx", "edx", "memory"));
    TRY("ac_ring3_misaligned_load",
        __asm__ volatile("pushf\n\torl $0x40000, (%%esp)\n\tpopf\n\tmovl 1(%0), %%eax\n\t"
                             "pushf\n\tandl $~0x40000, (%%esp)\n\tpopf" : : "r"(buf) : "eax", "memory", "cc"));
    return 0;
}
