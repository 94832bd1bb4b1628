/* The host's x87 as bt's x87 arithmetic unit (bt/fpu.pxi).
 *
 * x86-64 hosts have the same x87 as the guest's P6 (80-bit registers, the same
 * control and status words, the same exception rules), so bt runs each guest
 * x87 instruction that computes on the host itself: a stub loads the guest's
 * whole x87 state (FRSTOR of a 108-byte image), runs the very instruction
 * (memory operands rewritten to [rdi], a buffer bt fills or reads), and saves
 * the state back (FNSAVE, which also reinitialises the host x87 to the state
 * the C runtime expects: control word 0x37F, no pending exception).  Results,
 * C0-C3, TOP, tags, exception flags, masked responses, denormal and NaN
 * rules all come from the hardware.
 *
 * One 16-byte stub per instruction form: 512 register forms (escape D8-DF x
 * ModRM C0-FF) and 64 memory forms (escape x ModRM.reg with [rdi]); the live
 * table (fpu.pxi's live mode) has the instruction alone, with the EFLAGS
 * transfers only where FCMOVcc/FCOMI need them:
 *     push rdx; popfq          the guest's arithmetic flags (FCMOVcc reads them)
 *     frstor [rsi]
 *     <escape> <modrm>
 *     pushfq; pop rax          FCOMI & co. set ZF PF CF
 *     fnsave [rsi]
 *     ret
 * The stub page is mapped writable, filled, then made read+exec (never both).
 */
#ifndef BT_FPU_HOST_H
#define BT_FPU_HOST_H
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define BT_FPU_NSTUBS 576
#define BT_FPU_STUB 16
/* the live stubs follow the full ones: the same 576 forms without FRSTOR/FNSAVE */
#define BT_FPU_LIVE_OFF (BT_FPU_NSTUBS * BT_FPU_STUB)

typedef uint64_t (*bt_fpu_stub_fn)(void* mem, void* image, uint64_t flags);

static unsigned char* bt_fpu_code = 0;

static int bt_fpu_host_init(void)
{
    size_t size = 2 * BT_FPU_NSTUBS * BT_FPU_STUB;
    unsigned char* p;
    int i;
    if (bt_fpu_code)
        return 0;
    p = (unsigned char*)mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    for (i = 0; i < BT_FPU_NSTUBS; i++) {
        unsigned char* s = p + i * BT_FPU_STUB;
        unsigned char esc, modrm;
        if (i < 512) {
            esc = (unsigned char)(0xD8 + (i >> 6));
            modrm = (unsigned char)(0xC0 | (i & 63));
        } else {
            int k = i - 512;
            esc = (unsigned char)(0xD8 + (k >> 3));
            modrm = (unsigned char)(((k & 7) << 3) | 7);     /* mod 00, rm 111: [rdi] */
        }
        memset(s, 0xCC, BT_FPU_STUB);
        s[0] = 0x52; s[1] = 0x9D;                 /* push rdx; popfq */
        s[2] = 0xDD; s[3] = 0x26;                 /* frstor [rsi] */
        s[4] = esc; s[5] = modrm;
        s[6] = 0x9C; s[7] = 0x58;                 /* pushfq; pop rax */
        s[8] = 0xDD; s[9] = 0x36;                 /* fnsave [rsi] */
        s[10] = 0xC3;                             /* ret */
        /* live form: the state already sits in the host x87; EFLAGS in only for
           FCMOVcc (POPFQ is slow), out only for FCOMI & co. */
        s = p + BT_FPU_LIVE_OFF + i * BT_FPU_STUB;
        memset(s, 0xCC, BT_FPU_STUB);
        {
            int k = 0;
            int fcmov = i < 512 && (esc == 0xDA || esc == 0xDB) && modrm < 0xE0;
            int fcomi = i < 512 && (esc == 0xDB || esc == 0xDF) && modrm >= 0xE8 && modrm < 0xF8;
            if (fcmov) { s[k++] = 0x52; s[k++] = 0x9D; }      /* push rdx; popfq */
            s[k++] = esc; s[k++] = modrm;
            if (fcomi) { s[k++] = 0x9C; s[k++] = 0x58; }      /* pushfq; pop rax */
            s[k++] = 0xC3;
        }
    }
    if (mprotect(p, size, PROT_READ | PROT_EXEC) != 0) {
        munmap(p, size);
        return -1;
    }
    bt_fpu_code = p;
    return 0;
}

/* Run stub idx (0..511: register form (escape-0xD8)*64 + (modrm & 63);
 * 512 + (escape-0xD8)*8 + reg: memory form on [mem]) over the 108-byte
 * FRSTOR/FNSAVE image; flags: the arithmetic EFLAGS to run with.  Returns the
 * host EFLAGS after the instruction. */
static inline uint64_t bt_fpu_host_run(int idx, void* mem, void* image, uint64_t flags)
{
    return ((bt_fpu_stub_fn)(void*)(bt_fpu_code + idx * BT_FPU_STUB))(mem, image, flags & 0x8D5);
}

/* The live mode (see fpu.pxi): while the guest's state is held in the host x87
 * between guest instructions, each one runs without the FRSTOR/FNSAVE pair. */
static inline uint64_t bt_fpu_host_run_live(int idx, void* mem, uint64_t flags)
{
    return ((bt_fpu_stub_fn)(void*)(bt_fpu_code + BT_FPU_LIVE_OFF + idx * BT_FPU_STUB))(mem, 0, flags & 0x8D5);
}

static inline void bt_fpu_host_load(void* image)
{
    __asm__ volatile("frstor %0" : : "m"(*(unsigned char (*)[108])image));
}

/* FNSAVE: the state out, and the host x87 back to its FNINIT state */
static inline void bt_fpu_host_save(void* image)
{
    __asm__ volatile("fnsave %0" : "=m"(*(unsigned char (*)[108])image));
}

#endif
