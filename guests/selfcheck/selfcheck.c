/* selfcheck: a self-checking guest for the IA-32 integer ISA.
 *
 * Every check runs the instruction under test with inline asm (or in ops.S)
 * and compares what it got with a value that does not come from any emulator:
 * a pure-C model of the instruction (Intel SDM pseudocode), or a constant.
 * The native build (static i386 Linux program) runs the same checks on real
 * hardware, which proves the models.  Flags an instruction leaves undefined are
 * masked out of every comparison.
 *
 * Output: one line per check, "PASS name" or
 * "FAIL name got=G want=W in=I,..." (the first mismatch; G and W are
 * (flags << 32) | result where the check has flags), then
 * "selfcheck: N passed, M failed".  Exit code 0 if all passed, else 1.
 */
#include "rt.h"

/* ------------------------------------------------------------ framework */

static u32 npass, nfail;
static u64 g_got, g_want;
static u32 g_in[4];
static int g_nin;

#define IN(...) do { u32 in_[] = {__VA_ARGS__}; g_nin = sizeof in_ / sizeof in_[0]; \
                     for (int i_ = 0; i_ < g_nin; i_++) g_in[i_] = in_[i_]; } while (0)

/* Record a mismatch and make the calling check return 1. */
#define EXPECT(got, want) do { u64 got_ = (got), want_ = (want); \
        if (got_ != want_) { g_got = got_; g_want = want_; return 1; } } while (0)

#define RF(r, f) (((u64)(f) << 32) | (u32)(r))

static void run(const char *name, int (*fn)(void))
{
    g_nin = 0;
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
    print_hex64(g_got);
    print(" want=");
    print_hex64(g_want);
    for (int i = 0; i < g_nin; i++) {
        print(i ? "," : " in=");
        print_hex(g_in[i]);
    }
    print("\n");
    nfail++;
}

#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define ARITH (CF | PF | AF | ZF | SF | OF)

static const u32 V[] = {
    0, 1, 2, 0x7f, 0x80, 0x81, 0xfe, 0xff, 0x100, 0x7fff, 0x8000, 0x8001, 0xfffe,
    0xffff, 0x10000, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff,
    0x12345678, 0x9abcdef0, 0xdeadbeef, 0x0f0f0f0f, 0xf0f0f0f0, 0x55555555,
    0xaaaaaaaa, 0x00ff00ff, 0x13579bdf, 0x2468ace0, 0x0000000f, 0x00000010,
    0x3c6ef35f, 0x47502932, 0xd1a5e5c8, 0x6b1e2c4e,
};
#define NV (sizeof V / sizeof V[0])

static const u32 COUNTS[] = {0, 1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 31, 32, 33};
#define NCOUNTS (sizeof COUNTS / sizeof COUNTS[0])

static const int WIDTHS[3] = {8, 16, 32};

static u32 mask(int bits) { return bits == 32 ? 0xffffffffu : (1u << bits) - 1; }
static u32 msb(u32 v, int bits) { return (v >> (bits - 1)) & 1; }

static u32 parity(u32 v)
{
    v &= 0xff;
    v ^= v >> 4;
    v ^= v >> 2;
    v ^= v >> 1;
    return (v & 1) ? 0 : PF;
}

static u32 szp(u32 r, int bits)
{
    r &= mask(bits);
    return (r == 0 ? ZF : 0) | (msb(r, bits) ? SF : 0) | parity(r);
}

/* The input flags of a run: all arithmetic flags set, or none. */
static u32 flags_in(int k) { return k ? 0x2 | ARITH : 0x2; }

/* ------------------------------------------------------------ C models */

static u32 m_add(u32 a, u32 b, u32 c, int bits, u32 *f)
{
    u32 m = mask(bits);
    a &= m; b &= m;
    u64 w = (u64)a + b + c;
    u32 r = (u32)w & m;
    *f = szp(r, bits) | ((w >> bits) & 1 ? CF : 0) | (msb((a ^ r) & (b ^ r), bits) ? OF : 0)
         | ((a ^ b ^ r) & AF);
    return r;
}

static u32 m_sub(u32 a, u32 b, u32 c, int bits, u32 *f)
{
    u32 m = mask(bits);
    a &= m; b &= m;
    u32 r = (a - b - c) & m;
    *f = szp(r, bits) | ((u64)a < (u64)b + c ? CF : 0) | (msb((a ^ b) & (a ^ r), bits) ? OF : 0)
         | ((a ^ b ^ r) & AF);
    return r;
}

enum { ADD, ADC, SUB, SBB, AND, OR, XOR, CMP, TEST, INC, DEC, NEG, NOT };

/* Result and flags of ALU op on a, b with input flags fin; *def = defined flags. */
static u32 m_alu(int op, u32 a, u32 b, u32 fin, int bits, u32 *f, u32 *def)
{
    u32 m = mask(bits), r, cin = fin & CF;
    *def = ARITH;
    switch (op) {
    case ADD: return m_add(a, b, 0, bits, f);
    case ADC: return m_add(a, b, cin, bits, f);
    case SUB: return m_sub(a, b, 0, bits, f);
    case SBB: return m_sub(a, b, cin, bits, f);
    case CMP: m_sub(a, b, 0, bits, f); return a & m;
    case AND: case OR: case XOR: case TEST:
        r = op == OR ? a | b : op == XOR ? a ^ b : a & b;
        *f = szp(r, bits);
        *def = ARITH & ~AF;
        return op == TEST ? a & m : r & m;
    case INC: r = m_add(a, 1, 0, bits, f); *f = (*f & ~CF) | cin; return r;
    case DEC: r = m_sub(a, 1, 0, bits, f); *f = (*f & ~CF) | cin; return r;
    case NEG: return m_sub(0, a, 0, bits, f);
    case NOT: *f = fin & ARITH; return ~a & m;
    }
    return 0;
}

/* ------------------------------------------------------------ asm under test */

typedef u32 (*op_fn)(u32 a, u32 b, u32 fin, u32 *fout);

#define FLAGS_PRE  "pushl %[fi]\n\tpopfl\n\t"
#define FLAGS_POST "\n\tpushfl\n\tpopl %[f]"

#define ASM2(fn, insn, T, cons)                                                      \
    static u32 fn(u32 a, u32 b, u32 fin, u32 *fo)                                    \
    {                                                                                \
        T x = (T)a, y = (T)b;                                                        \
        u32 f;                                                                       \
        __asm__ volatile(FLAGS_PRE insn " %[y], %[x]" FLAGS_POST                     \
                         : [x] "+" cons(x), [f] "=&r"(f)                             \
                         : [y] cons(y), [fi] "r"(fin)                                \
                         : "cc");                                                    \
        *fo = f;                                                                     \
        return x;                                                                    \
    }
#define ASM1(fn, insn, T, cons)                                                      \
    static u32 fn(u32 a, u32 b, u32 fin, u32 *fo)                                    \
    {                                                                                \
        T x = (T)a;                                                                  \
        u32 f;                                                                       \
        (void)b;                                                                     \
        __asm__ volatile(FLAGS_PRE insn " %[x]" FLAGS_POST                           \
                         : [x] "+" cons(x), [f] "=&r"(f)                             \
                         : [fi] "r"(fin)                                             \
                         : "cc");                                                    \
        *fo = f;                                                                     \
        return x;                                                                    \
    }
/* Shift-like ops: b is the count, in CL. */
#define ASMCL(fn, insn, T)                                                           \
    static u32 fn(u32 a, u32 b, u32 fin, u32 *fo)                                    \
    {                                                                                \
        T x = (T)a;                                                                  \
        u32 f;                                                                       \
        __asm__ volatile(FLAGS_PRE insn " %%cl, %[x]" FLAGS_POST                     \
                         : [x] "+q"(x), [f] "=&r"(f)                                 \
                         : "c"(b), [fi] "r"(fin)                                     \
                         : "cc");                                                    \
        *fo = f;                                                                     \
        return x;                                                                    \
    }

#define ALL2(op) ASM2(op##8, #op "b", u8, "q") ASM2(op##16, #op "w", u16, "r") \
                 ASM2(op##32, #op "l", u32, "r")
#define ALL1(op) ASM1(op##8, #op "b", u8, "q") ASM1(op##16, #op "w", u16, "r") \
                 ASM1(op##32, #op "l", u32, "r")
#define ALLCL(op) ASMCL(op##8, #op "b", u8) ASMCL(op##16, #op "w", u16) ASMCL(op##32, #op "l", u32)

ALL2(add) ALL2(adc) ALL2(sub) ALL2(sbb) ALL2(and) ALL2(or) ALL2(xor) ALL2(cmp) ALL2(test)
ALL1(inc) ALL1(dec) ALL1(neg) ALL1(not)
ALLCL(shl) ALLCL(shr) ALLCL(sar) ALLCL(rol) ALLCL(ror) ALLCL(rcl) ALLCL(rcr)

/* cmp and test store nothing: the asm above "writes" x back unchanged. */

static int alu_check(int op, op_fn f8, op_fn f16, op_fn f32)
{
    op_fn fns[3] = {f8, f16, f32};
    for (int w = 0; w < 3; w++)
        for (u32 i = 0; i < NV; i++)
            for (u32 j = 0; j < NV; j++)
                for (int k = 0; k < 2; k++) {
                    u32 fin = flags_in(k), gf, wf, def;
                    u32 got = fns[w](V[i], V[j], fin, &gf);
                    u32 want = m_alu(op, V[i], V[j], fin, WIDTHS[w], &wf, &def);
                    IN(WIDTHS[w], V[i], V[j], fin);
                    EXPECT(RF(got, gf & def), RF(want, wf & def));
                }
    return 0;
}

#define ALU_CHECK(name, OP) \
    static int c_##name(void) { return alu_check(OP, name##8, name##16, name##32); }
ALU_CHECK(add, ADD) ALU_CHECK(adc, ADC) ALU_CHECK(sub, SUB) ALU_CHECK(sbb, SBB)
ALU_CHECK(and, AND) ALU_CHECK(or, OR) ALU_CHECK(xor, XOR) ALU_CHECK(cmp, CMP)
ALU_CHECK(test, TEST) ALU_CHECK(inc, INC) ALU_CHECK(dec, DEC) ALU_CHECK(neg, NEG)
ALU_CHECK(not, NOT)

/* ------------------------------------------------------------ shifts and rotates */

enum { SHL, SHR, SAR, ROL, ROR, RCL, RCR };

static u32 m_shift(int op, u32 a, u32 cnt, u32 fin, int bits, u32 *f, u32 *def)
{
    u32 m = mask(bits), c = cnt & 31, r, cf = fin & CF;
    a &= m;
    *f = fin & ARITH;
    *def = ARITH;
    if (c == 0)
        return a;                       /* no flag changes at all */
    switch (op) {
    case SHL:
        r = (u32)(((u64)a << c) & m);
        cf = c <= (u32)bits ? (u32)(((u64)a >> (bits - c)) & 1) : 0;
        *f = szp(r, bits) | cf | (c == 1 && (msb(r, bits) ^ cf) ? OF : 0);
        *def = ZF | SF | PF | (c < (u32)bits ? CF : 0) | (c == 1 ? OF : 0);
        return r;
    case SHR:
        r = (u32)((u64)a >> c);
        cf = (u32)(((u64)a >> (c - 1)) & 1);
        *f = szp(r, bits) | cf | (c == 1 && msb(a, bits) ? OF : 0);
        *def = ZF | SF | PF | (c < (u32)bits ? CF : 0) | (c == 1 ? OF : 0);
        return r;
    case SAR: {
        s32 sa = (s32)(a << (32 - bits)) >> (32 - bits);
        r = (u32)(sa >> (c > 31 ? 31 : c)) & m;
        cf = (u32)(sa >> (c - 1 > 31 ? 31 : c - 1)) & 1;
        *f = szp(r, bits) | cf;
        *def = ZF | SF | PF | (c < (u32)bits ? CF : 0) | (c == 1 ? OF : 0);
        return r;
    }
    case ROL: case ROR: {
        u32 t = c % bits;
        r = t == 0 ? a : op == ROL ? ((a << t) | (a >> (bits - t))) & m
                                   : ((a >> t) | (a << (bits - t))) & m;
        cf = op == ROL ? (r & 1) : msb(r, bits);
        u32 of = op == ROL ? msb(r, bits) ^ cf : msb(r, bits) ^ msb(r << 1, bits);
        *f = (fin & ARITH & ~(CF | OF)) | cf | (of ? OF : 0);
        *def = ARITH & ~(c == 1 ? 0 : OF);
        return r;
    }
    case RCL: case RCR: {
        u32 t = bits == 8 ? c % 9 : bits == 16 ? c % 17 : c, of = 0;
        r = a;
        if (op == RCR)
            of = msb(r, bits) ^ cf;
        while (t--) {
            u32 ncf;
            if (op == RCL) {
                ncf = msb(r, bits);
                r = ((r << 1) | cf) & m;
            } else {
                ncf = r & 1;
                r = (r >> 1) | (cf << (bits - 1));
            }
            cf = ncf;
        }
        if (op == RCL)
            of = msb(r, bits) ^ cf;
        *f = (fin & ARITH & ~(CF | OF)) | cf | (of ? OF : 0);
        *def = ARITH & ~(c == 1 ? 0 : OF);
        return r;
    }
    }
    return 0;
}

static int shift_check(int op, op_fn f8, op_fn f16, op_fn f32)
{
    op_fn fns[3] = {f8, f16, f32};
    for (int w = 0; w < 3; w++)
        for (u32 i = 0; i < NV; i++)
            for (u32 j = 0; j < NCOUNTS; j++)
                for (int k = 0; k < 2; k++) {
                    u32 fin = flags_in(k), gf, wf, def;
                    u32 got = fns[w](V[i], COUNTS[j], fin, &gf);
                    u32 want = m_shift(op, V[i], COUNTS[j], fin, WIDTHS[w], &wf, &def);
                    IN(WIDTHS[w], V[i], COUNTS[j], fin);
                    EXPECT(RF(got, gf & def), RF(want, wf & def));
                }
    return 0;
}

#define SHIFT_CHECK(name, OP) \
    static int c_##name(void) { return shift_check(OP, name##8, name##16, name##32); }
SHIFT_CHECK(shl, SHL) SHIFT_CHECK(shr, SHR) SHIFT_CHECK(sar, SAR) SHIFT_CHECK(rol, ROL)
SHIFT_CHECK(ror, ROR) SHIFT_CHECK(rcl, RCL) SHIFT_CHECK(rcr, RCR)

/* Shifts by an immediate 1 (the D0/D1 forms) agree with the CL forms' model. */
static int c_shift_by_1(void)
{
    for (u32 i = 0; i < NV; i++)
        for (int k = 0; k < 2; k++) {
            u32 a = V[i], fin = flags_in(k), f[4], r[4] = {a, a, a, a}, wf, def;
            __asm__ volatile(FLAGS_PRE "shll %[x]" FLAGS_POST : [x] "+r"(r[0]), [f] "=&r"(f[0]) : [fi] "r"(fin) : "cc");
            __asm__ volatile(FLAGS_PRE "sarl %[x]" FLAGS_POST : [x] "+r"(r[1]), [f] "=&r"(f[1]) : [fi] "r"(fin) : "cc");
            __asm__ volatile(FLAGS_PRE "rclb %b[x]" FLAGS_POST : [x] "+q"(r[2]), [f] "=&r"(f[2]) : [fi] "r"(fin) : "cc");
            __asm__ volatile(FLAGS_PRE "rorw $5, %w[x]" FLAGS_POST : [x] "+r"(r[3]), [f] "=&r"(f[3]) : [fi] "r"(fin) : "cc");
            static const int ops[4] = {SHL, SAR, RCL, ROR}, bits[4] = {32, 32, 8, 16};
            static const u32 cnt[4] = {1, 1, 1, 5};
            for (int n = 0; n < 4; n++) {
                u32 want = m_shift(ops[n], a, cnt[n], fin, bits[n], &wf, &def);
                IN(n, a, fin);
                EXPECT(RF(r[n] & mask(bits[n]), f[n] & def), RF(want, wf & def));
            }
        }
    return 0;
}

/* SHLD/SHRD: 16-bit with counts up to 16 (larger leave the result undefined), 32-bit. */
#define ASMSHD(fn, insn, T)                                                          \
    static u32 fn(u32 a, u32 b, u32 cnt, u32 fin, u32 *fo)                           \
    {                                                                                \
        T x = (T)a, y = (T)b;                                                        \
        u32 f;                                                                       \
        __asm__ volatile(FLAGS_PRE insn " %%cl, %[y], %[x]" FLAGS_POST               \
                         : [x] "+r"(x), [f] "=&r"(f)                                 \
                         : [y] "r"(y), "c"(cnt), [fi] "r"(fin)                       \
                         : "cc");                                                    \
        *fo = f;                                                                     \
        return x;                                                                    \
    }
ASMSHD(shld16, "shldw", u16) ASMSHD(shld32, "shldl", u32)
ASMSHD(shrd16, "shrdw", u16) ASMSHD(shrd32, "shrdl", u32)

static u32 m_shd(int left, u32 a, u32 b, u32 cnt, u32 fin, int bits, u32 *f, u32 *def)
{
    u32 m = mask(bits), c = cnt & 31;
    a &= m; b &= m;
    *f = fin & ARITH;
    *def = ARITH;
    if (c == 0)
        return a;
    u64 cat, r;
    u32 cf;
    if (left) {
        cat = ((u64)a << bits) | b;             /* a:b, shift left, keep the top */
        r = (cat << c) >> bits;
        cf = (u32)(cat >> (2 * bits - c)) & 1;
    } else {
        cat = ((u64)b << bits) | a;             /* b:a, shift right, keep the bottom */
        r = cat >> c;
        cf = (u32)(cat >> (c - 1)) & 1;
    }
    u32 res = (u32)r & m;
    *f = szp(res, bits) | cf | (msb(res ^ a, bits) ? OF : 0);
    *def = ZF | SF | PF | CF | (c == 1 ? OF : 0);
    return res;
}

static int shd_check(int left)
{
    for (int w = 0; w < 2; w++) {
        int bits = w ? 32 : 16;
        for (u32 i = 0; i < NV; i++)
            for (u32 j = 0; j < NV; j += 3)
                for (u32 n = 0; n < NCOUNTS; n++) {
                    u32 c = COUNTS[n], gf, wf, def, fin = flags_in(n & 1);
                    if (bits == 16 && (c & 31) > 16)
                        continue;
                    u32 got = left ? (w ? shld32 : shld16)(V[i], V[j], c, fin, &gf)
                                   : (w ? shrd32 : shrd16)(V[i], V[j], c, fin, &gf);
                    u32 want = m_shd(left, V[i], V[j], c, fin, bits, &wf, &def);
                    IN(bits, V[i], V[j], c);
                    EXPECT(RF(got, gf & def), RF(want, wf & def));
                }
    }
    return 0;
}
static int c_shld(void) { return shd_check(1); }
static int c_shrd(void) { return shd_check(0); }

/* ------------------------------------------------------------ multiply and divide */

static int c_mul(void)
{
    for (u32 i = 0; i < NV; i++)
        for (u32 j = 0; j < NV; j++) {
            u32 a = V[i], b = V[j], f, eax, edx;
            /* 8-bit: AX = AL * r/m8; CF = OF = (AH != 0) */
            eax = 0x5a5a0000 | (a & 0xff);
            __asm__ volatile("mulb %b[y]\n\tpushfl\n\tpopl %[f]"
                             : "+a"(eax), [f] "=&r"(f) : [y] "q"(b) : "cc");
            u32 p8 = (a & 0xff) * (b & 0xff);
            IN(8, a, b);
            EXPECT(RF(eax, f & (CF | OF)), RF(0x5a5a0000 | p8, p8 >> 8 ? CF | OF : 0));
            /* 16-bit: DX:AX = AX * r/m16 */
            eax = 0x5a5a0000 | (a & 0xffff);
            edx = 0xa5a5a5a5;
            __asm__ volatile("mulw %w[y]\n\tpushfl\n\tpopl %[f]"
                             : "+a"(eax), "+d"(edx), [f] "=&r"(f) : [y] "r"(b) : "cc");
            u32 p16 = (a & 0xffff) * (b & 0xffff);
            IN(16, a, b);
            EXPECT(RF(eax, f & (CF | OF)), RF(0x5a5a0000 | (p16 & 0xffff), p16 >> 16 ? CF | OF : 0));
            EXPECT(edx, 0xa5a50000 | (p16 >> 16));
            /* 32-bit: EDX:EAX = EAX * r/m32 */
            eax = a;
            __asm__ volatile("mull %[y]\n\tpushfl\n\tpopl %[f]"
                             : "+a"(eax), "=d"(edx), [f] "=&r"(f) : [y] "r"(b) : "cc");
            u64 p32 = (u64)a * b;
            IN(32, a, b);
            EXPECT(RF(eax, f & (CF | OF)), RF((u32)p32, p32 >> 32 ? CF | OF : 0));
            EXPECT(edx, (u32)(p32 >> 32));
        }
    return 0;
}

static int c_imul(void)
{
    for (u32 i = 0; i < NV; i++)
        for (u32 j = 0; j < NV; j++) {
            u32 a = V[i], b = V[j], f, eax, edx, r;
            /* one operand, 8-bit */
            eax = a & 0xff;
            __asm__ volatile("imulb %b[y]\n\tpushfl\n\tpopl %[f]"
                             : "+a"(eax), [f] "=&r"(f) : [y] "q"(b) : "cc");
            s32 p8 = (s8)a * (s8)b;
            IN(8, a, b);
            EXPECT(RF(eax, f & (CF | OF)), RF((u32)p8 & 0xffff, p8 != (s8)p8 ? CF | OF : 0));
            /* one operand, 32-bit */
            eax = a;
            __asm__ volatile("imull %[y]\n\tpushfl\n\tpopl %[f]"
                             : "+a"(eax), "=d"(edx), [f] "=&r"(f) : [y] "r"(b) : "cc");
            s64 p32 = (s64)(s32)a * (s32)b;
            IN(32, a, b);
            EXPECT(RF(eax, f & (CF | OF)), RF((u32)p32, p32 != (s32)p32 ? CF | OF : 0));
            EXPECT(edx, (u32)((u64)p32 >> 32));
            /* two operands, 16-bit */
            r = a;
            __asm__ volatile("imulw %w[y], %w[x]\n\tpushfl\n\tpopl %[f]"
                             : [x] "+r"(r), [f] "=&r"(f) : [y] "r"(b) : "cc");
            s32 p16 = (s16)a * (s16)b;
            IN(16, a, b);
            EXPECT(RF(r, f & (CF | OF)),
                   RF((a & 0xffff0000) | ((u32)p16 & 0xffff), p16 != (s16)p16 ? CF | OF : 0));
            /* two operands, 32-bit */
            r = a;
            __asm__ volatile("imull %[y], %[x]\n\tpushfl\n\tpopl %[f]"
                             : [x] "+r"(r), [f] "=&r"(f) : [y] "r"(b) : "cc");
            IN(0x32, a, b);
            EXPECT(RF(r, f & (CF | OF)), RF((u32)p32, p32 != (s32)p32 ? CF | OF : 0));
            /* three operands, imm8 and imm32 */
            __asm__ volatile("imull $-3, %[y], %[x]\n\tpushfl\n\tpopl %[f]"
                             : [x] "=&r"(r), [f] "=&r"(f) : [y] "r"(a) : "cc");
            s64 p3 = (s64)(s32)a * -3;
            IN(0x3, a);
            EXPECT(RF(r, f & (CF | OF)), RF((u32)p3, p3 != (s32)p3 ? CF | OF : 0));
            __asm__ volatile("imull $0x12345, %[y], %[x]\n\tpushfl\n\tpopl %[f]"
                             : [x] "=&r"(r), [f] "=&r"(f) : [y] "r"(a) : "cc");
            p3 = (s64)(s32)a * 0x12345;
            IN(0x33, a);
            EXPECT(RF(r, f & (CF | OF)), RF((u32)p3, p3 != (s32)p3 ? CF | OF : 0));
        }
    return 0;
}

/* Division by shift and subtract: no division operator, no compiler_rt. */
static u64 longdiv(u64 n, u64 d, u64 *rem)
{
    if (n < d) {
        *rem = n;
        return 0;
    }
    if (!(n >> 32)) {                   /* 32-bit fast path: d < 2^32 too */
        u32 n32 = (u32)n, d32 = (u32)d, q = 0, r = 0;
        int top = 31;
        while (!((n32 >> top) & 1))
            top--;
        for (int i = top; i >= 0; i--) {
            u32 carry = r >> 31;
            r = (r << 1) | ((n32 >> i) & 1);
            if (carry || r >= d32) {
                r -= d32;
                q |= 1u << i;
            }
        }
        *rem = r;
        return q;
    }
    u64 q = 0, r = 0;
    int top = 63;
    while (!((n >> top) & 1))
        top--;
    for (int i = top; i >= 0; i--) {
        u32 carry = (u32)(r >> 63);
        r = (r << 1) | ((n >> i) & 1);
        if (carry || r >= d) {
            r -= d;
            q |= 1ull << i;
        }
    }
    *rem = r;
    return q;
}

static int c_div(void)
{
    for (u32 i = 0; i < NV; i++)
        for (u32 j = 0; j < NV; j++)
            for (u32 k = 0; k < NV; k += 12) {
                u32 d = V[j], lo = V[i], hi = V[k], eax, edx;
                u64 q, r;
                if (d & 0xff) {         /* AX / r/m8 -> AL quotient, AH remainder */
                    u32 d8 = d & 0xff, ax = (((hi & 0xff) % d8) << 8) | (lo & 0xff);
                    eax = 0x5a5a0000 | ax;
                    __asm__ volatile("divb %b[y]" : "+a"(eax) : [y] "q"(d8) : "cc");
                    q = longdiv(ax, d8, &r);
                    IN(8, ax, d8);
                    EXPECT(eax, 0x5a5a0000 | ((u32)r << 8) | (u32)q);
                }
                if (d & 0xffff) {       /* DX:AX / r/m16 */
                    u32 d16 = d & 0xffff, n = (((hi & 0xffff) % d16) << 16) | (lo & 0xffff);
                    eax = 0x5a5a0000 | (n & 0xffff);
                    edx = 0xa5a50000 | (n >> 16);
                    __asm__ volatile("divw %w[y]" : "+a"(eax), "+d"(edx) : [y] "r"(d16) : "cc");
                    q = longdiv(n, d16, &r);
                    IN(16, n, d16);
                    EXPECT(RF(eax, edx), RF(0x5a5a0000 | (u32)q, 0xa5a50000 | (u32)r));
                }
                if (d) {                /* EDX:EAX / r/m32 */
                    u64 n = ((u64)(hi % d) << 32) | lo;
                    eax = lo;
                    edx = hi % d;
                    __asm__ volatile("divl %[y]" : "+a"(eax), "+d"(edx) : [y] "r"(d) : "cc");
                    q = longdiv(n, d, &r);
                    IN(32, edx, lo, d);
                    EXPECT(RF(eax, edx), RF((u32)q, (u32)r));
                }
            }
    return 0;
}

/* Signed division modelled on the unsigned long division of the magnitudes. */
static s64 sdiv(s64 n, s64 d, s64 *rem)
{
    u64 un = n < 0 ? 0 - (u64)n : (u64)n, ud = d < 0 ? 0 - (u64)d : (u64)d, ur;
    u64 uq = longdiv(un, ud, &ur);
    *rem = n < 0 ? -(s64)ur : (s64)ur;
    return (n < 0) != (d < 0) ? -(s64)uq : (s64)uq;
}

static int c_idiv(void)
{
    static const s32 K[] = {1, -7, 65537, -1000003};
    for (u32 i = 0; i < NV; i++)
        for (u32 j = 0; j < NV; j++)
            for (u32 k = 0; k < sizeof K / sizeof K[0]; k++) {
                u32 eax, edx;
                s32 d = (s32)V[j];
                s64 q, r;
                if ((s8)d) {            /* AX / r/m8 */
                    s32 n = (s16)(((s8)V[i] * K[k]) & 0xffff), d8 = (s8)d;
                    q = sdiv(n, d8, &r);
                    if (q >= -128 && q <= 127) {
                        eax = 0x5a5a0000 | ((u32)n & 0xffff);
                        __asm__ volatile("idivb %b[y]" : "+a"(eax) : [y] "q"(d8) : "cc");
                        IN(8, (u32)n, (u32)d8);
                        EXPECT(eax, 0x5a5a0000 | (((u32)r & 0xff) << 8) | ((u32)q & 0xff));
                    }
                }
                if ((s16)d) {           /* DX:AX / r/m16 */
                    s32 n = (s16)V[i] * K[k], d16 = (s16)d;
                    q = sdiv(n, d16, &r);
                    if (q >= -32768 && q <= 32767) {
                        eax = 0x5a5a0000 | ((u32)n & 0xffff);
                        edx = 0xa5a50000 | ((u32)n >> 16);
                        __asm__ volatile("idivw %w[y]" : "+a"(eax), "+d"(edx) : [y] "r"(d16) : "cc");
                        IN(16, (u32)n, (u32)d16);
                        EXPECT(RF(eax, edx), RF(0x5a5a0000 | ((u32)q & 0xffff),
                                                0xa5a50000 | ((u32)r & 0xffff)));
                    }
                }
                if (d) {                /* EDX:EAX / r/m32 */
                    s64 n = (s64)(s32)V[i] * K[k];
                    q = sdiv(n, d, &r);
                    if (q >= -2147483647ll - 1 && q <= 2147483647ll) {
                        eax = (u32)n;
                        edx = (u32)((u64)n >> 32);
                        __asm__ volatile("idivl %[y]" : "+a"(eax), "+d"(edx) : [y] "r"(d) : "cc");
                        IN(32, (u32)((u64)n >> 32), (u32)n, (u32)d);
                        EXPECT(RF(eax, edx), RF((u32)q, (u32)r));
                    }
                }
            }
    return 0;
}

/* 64-bit division by compiler_rt (__udivdi3, __umoddi3, __divdi3, __moddi3)
   against the shift-and-subtract model, plus two constants. */
static int c_div64(void)
{
    volatile u64 ones = ~0ull, ten = 10;
    EXPECT(ones / 3, 0x5555555555555555ull);
    EXPECT(ones / ten, 1844674407370955161ull);
    EXPECT(ones % ten, 5);
    for (u32 i = 0; i < NV; i++)
        for (u32 j = 0; j < NV; j += 3)
            for (u32 k = 0; k < NV; k += 12) {
                volatile u64 n = ((u64)V[i] << 32) | V[k], d = ((u64)V[k] << 32 >> (j & 31)) | V[j];
                u64 r, q;
                if (!d)
                    continue;
                q = longdiv(n, d, &r);
                IN(V[i], V[k], V[j]);
                EXPECT(n / d, q);
                EXPECT(n % d, r);
                s64 sr, sq = sdiv((s64)n, (s64)d, &sr);
                volatile s64 sn = (s64)n, sd = (s64)d;
                if (sn == (s64)(1ull << 63) && sd == -1)
                    continue;
                EXPECT((u64)(sn / sd), (u64)sq);
                EXPECT((u64)(sn % sd), (u64)sr);
            }
    return 0;
}

/* ------------------------------------------------------------ string ops */

static u8 sa[512], sb[512], sm[512];

static void fill(u8 *p, u32 n, u32 seed)
{
    for (u32 i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (u8)(seed >> 16);
    }
}

static int c_rep_movsb(void)
{
    static const u32 N[] = {0, 1, 7, 64, 300};
    for (u32 t = 0; t < 5; t++)
        for (int back = 0; back < 2; back++) {
            u32 n = N[t];
            fill(sa, sizeof sa, n + 1);
            memset(sb, 0xcc, sizeof sb);
            memset(sm, 0xcc, sizeof sm);
            u32 s = (u32)(sa + 100), d = (u32)(sb + 100), c = n;
            if (back) {
                s += n - 1; d += n - 1;
                __asm__ volatile("std\n\trep movsb\n\tcld" : "+S"(s), "+D"(d), "+c"(c) : : "memory", "cc");
            } else {
                __asm__ volatile("cld\n\trep movsb" : "+S"(s), "+D"(d), "+c"(c) : : "memory", "cc");
            }
            memcpy(sm + 100, sa + 100, n);
            IN(n, back);
            EXPECT(c, 0);
            EXPECT(s, back ? (u32)(sa + 99) : (u32)(sa + 100 + n));
            EXPECT(d, back ? (u32)(sb + 99) : (u32)(sb + 100 + n));
            EXPECT(memcmp(sb, sm, sizeof sb), 0);
        }
    /* Overlapping forward copy one byte up replicates the first byte. */
    fill(sa, sizeof sa, 7);
    memcpy(sm, sa, sizeof sa);
    for (u32 i = 11; i < 11 + 50; i++)
        sm[i] = sm[i - 1];
    u32 s = (u32)(sa + 10), d = (u32)(sa + 11), c = 50;
    __asm__ volatile("cld\n\trep movsb" : "+S"(s), "+D"(d), "+c"(c) : : "memory", "cc");
    IN(0x0e);
    EXPECT(memcmp(sa, sm, sizeof sa), 0);
    return 0;
}

static int c_rep_movsd(void)
{
    static const u32 N[] = {0, 1, 5, 100};
    for (u32 t = 0; t < 4; t++)
        for (int back = 0; back < 2; back++) {
            u32 n = N[t];
            fill(sa, sizeof sa, n + 2);
            memset(sb, 0xcc, sizeof sb);
            memset(sm, 0xcc, sizeof sm);
            u32 s = (u32)(sa + 40), d = (u32)(sb + 40), c = n;
            if (back) {
                s += 4 * n - 4; d += 4 * n - 4;
                __asm__ volatile("std\n\trep movsl\n\tcld" : "+S"(s), "+D"(d), "+c"(c) : : "memory", "cc");
            } else {
                __asm__ volatile("cld\n\trep movsl" : "+S"(s), "+D"(d), "+c"(c) : : "memory", "cc");
            }
            memcpy(sm + 40, sa + 40, 4 * n);
            IN(n, back);
            EXPECT(c, 0);
            EXPECT(s, back ? (u32)(sa + 36) : (u32)(sa + 40 + 4 * n));
            EXPECT(d, back ? (u32)(sb + 36) : (u32)(sb + 40 + 4 * n));
            EXPECT(memcmp(sb, sm, sizeof sb), 0);
        }
    return 0;
}

static int c_rep_stos(void)
{
    static const u32 N[] = {0, 1, 13, 200};
    for (u32 t = 0; t < 4; t++)
        for (int back = 0; back < 2; back++) {
            u32 n = N[t], d, c, a = 0x12345600 | t;
            memset(sb, 0xcc, sizeof sb);
            memset(sm, 0xcc, sizeof sm);
            /* STOSB */
            d = (u32)(sb + 50) + (back ? n - 1 : 0);
            c = n;
            if (back)
                __asm__ volatile("std\n\trep stosb\n\tcld" : "+D"(d), "+c"(c) : "a"(a) : "memory", "cc");
            else
                __asm__ volatile("cld\n\trep stosb" : "+D"(d), "+c"(c) : "a"(a) : "memory", "cc");
            memset(sm + 50, (u8)a, n);
            IN(8, n, back);
            EXPECT(c, 0);
            EXPECT(d, back ? (u32)(sb + 49) : (u32)(sb + 50 + n));
            EXPECT(memcmp(sb, sm, sizeof sb), 0);
            /* STOSD */
            d = (u32)(sb + 300) + (back ? 4 * (n / 4) - 4 : 0);
            c = n / 4;
            if (back)
                __asm__ volatile("std\n\trep stosl\n\tcld" : "+D"(d), "+c"(c) : "a"(a) : "memory", "cc");
            else
                __asm__ volatile("cld\n\trep stosl" : "+D"(d), "+c"(c) : "a"(a) : "memory", "cc");
            for (u32 i = 0; i < n / 4; i++)
                memcpy(sm + 300 + 4 * i, &a, 4);
            IN(32, n / 4, back);
            EXPECT(c, 0);
            EXPECT(d, back ? (u32)(sb + 296) : (u32)(sb + 300 + 4 * (n / 4)));
            EXPECT(memcmp(sb, sm, sizeof sb), 0);
        }
    return 0;
}

/* REPE CMPSB: stops after the first differing byte; flags of [ESI] - [EDI]. */
static int c_repe_cmpsb(void)
{
    static const u32 N[] = {0, 1, 16, 100};
    static const s32 DIFF[] = {-1, 0, 5, 15, 99};
    for (u32 t = 0; t < 4; t++)
        for (u32 u = 0; u < 5; u++)
            for (int back = 0; back < 2; back++) {
                u32 n = N[t];
                s32 at = DIFF[u] < (s32)n ? DIFF[u] : -1;  /* index of the differing byte */
                fill(sa, sizeof sa, 3);
                memcpy(sb, sa, sizeof sa);
                if (at >= 0)
                    sb[100 + at] ^= (u8)(0x41 + u);
                u32 s = (u32)(sa + 100), d = (u32)(sb + 100), c = n, f;
                u32 fin = flags_in(u & 1);
                if (back) {
                    s += n - 1; d += n - 1;
                    __asm__ volatile(FLAGS_PRE "std\n\trepe cmpsb\n\tcld" FLAGS_POST
                                     : "+S"(s), "+D"(d), "+c"(c), [f] "=&r"(f) : [fi] "r"(fin) : "memory", "cc");
                } else {
                    __asm__ volatile(FLAGS_PRE "cld\n\trepe cmpsb" FLAGS_POST
                                     : "+S"(s), "+D"(d), "+c"(c), [f] "=&r"(f) : [fi] "r"(fin) : "memory", "cc");
                }
                /* model: walk in the direction until a difference */
                u32 steps = 0, wf = fin & ARITH;
                for (u32 i = 0; i < n; i++) {
                    u32 idx = back ? n - 1 - i : i;
                    steps++;
                    m_sub(sa[100 + idx], sb[100 + idx], 0, 8, &wf);
                    if (sa[100 + idx] != sb[100 + idx])
                        break;
                }
                IN(n, (u32)at, back);
                EXPECT(c, n - steps);
                EXPECT(s, back ? (u32)(sa + 100 + n - 1 - steps) : (u32)(sa + 100 + steps));
                EXPECT(d, back ? (u32)(sb + 100 + n - 1 - steps) : (u32)(sb + 100 + steps));
                EXPECT(f & ARITH, wf);
            }
    return 0;
}

/* REPNE SCASB: stops after the first byte equal to AL; flags of AL - [EDI]. */
static int c_repne_scasb(void)
{
    static const u32 N[] = {0, 1, 30, 200};
    static const s32 AT[] = {-1, 0, 7, 29, 150};
    for (u32 t = 0; t < 4; t++)
        for (u32 u = 0; u < 5; u++)
            for (int back = 0; back < 2; back++) {
                u32 n = N[t];
                s32 at = AT[u] < (s32)n ? AT[u] : -1;
                u8 key = 0xa5;
                for (u32 i = 0; i < sizeof sa; i++)
                    sa[i] = (u8)(i * 7 % 0xa5);             /* never 0xa5 */
                if (at >= 0)
                    sa[100 + (back ? n - 1 - at : (u32)at)] = key;
                u32 d = (u32)(sa + 100) + (back ? n - 1 : 0), c = n, f, fin = flags_in(u & 1);
                if (back)
                    __asm__ volatile(FLAGS_PRE "std\n\trepne scasb\n\tcld" FLAGS_POST
                                     : "+D"(d), "+c"(c), [f] "=&r"(f) : "a"(0x1200 | key), [fi] "r"(fin) : "memory", "cc");
                else
                    __asm__ volatile(FLAGS_PRE "cld\n\trepne scasb" FLAGS_POST
                                     : "+D"(d), "+c"(c), [f] "=&r"(f) : "a"(0x1200 | key), [fi] "r"(fin) : "memory", "cc");
                u32 steps = 0, wf = fin & ARITH;
                for (u32 i = 0; i < n; i++) {
                    u32 idx = back ? n - 1 - i : i;
                    steps++;
                    m_sub(key, sa[100 + idx], 0, 8, &wf);
                    if (sa[100 + idx] == key)
                        break;
                }
                IN(n, (u32)at, back);
                EXPECT(c, n - steps);
                EXPECT(d, back ? (u32)(sa + 100 + n - 1 - steps) : (u32)(sa + 100 + steps));
                EXPECT(f & ARITH, wf);
            }
    return 0;
}

/* LODSB/LODSD without REP, both directions. */
static int c_lods(void)
{
    fill(sa, sizeof sa, 11);
    u32 s = (u32)(sa + 10), a = 0xdeadbe00;
    __asm__ volatile("cld\n\tlodsb" : "+S"(s), "+a"(a) : : "memory");
    EXPECT(RF(a, s), RF(0xdeadbe00 | sa[10], (u32)(sa + 11)));
    __asm__ volatile("std\n\tlodsl\n\tcld" : "+S"(s), "+a"(a) : : "memory");
    u32 w;
    memcpy(&w, sa + 11, 4);
    EXPECT(RF(a, s), RF(w, (u32)(sa + 7)));
    return 0;
}

/* ------------------------------------------------------------ BCD */

static int c_daa_das(void)
{
    for (u32 al = 0; al < 256; al++)
        for (u32 fl = 0; fl < 4; fl++) {
            u32 fin = 0x2 | (fl & 1 ? CF : 0) | (fl & 2 ? AF : 0), def = CF | AF | SF | ZF | PF;
            for (int das = 0; das < 2; das++) {
                u32 eax = 0x12345600 | al, f;
                if (das)
                    __asm__ volatile(FLAGS_PRE "das" FLAGS_POST : "+a"(eax), [f] "=&r"(f) : [fi] "r"(fin) : "cc");
                else
                    __asm__ volatile(FLAGS_PRE "daa" FLAGS_POST : "+a"(eax), [f] "=&r"(f) : [fi] "r"(fin) : "cc");
                /* SDM pseudocode */
                u32 a = al, cf = 0, af, ocf = fin & CF;
                if ((a & 0xf) > 9 || (fin & AF)) {
                    cf = ocf | (das ? a < 6 : a + 6 > 0xff);
                    a = (das ? a - 6 : a + 6) & 0xff;
                    af = AF;
                } else {
                    af = 0;
                }
                if (al > 0x99 || ocf) {
                    a = (das ? a - 0x60 : a + 0x60) & 0xff;
                    cf = 1;
                } else if (!das) {
                    cf = 0;
                }
                IN(das, al, fin);
                EXPECT(RF(eax, f & def), RF(0x12345600 | a, (szp(a, 8) | cf | af) & def));
            }
        }
    return 0;
}

static int c_aaa_aas(void)
{
    static const u32 AH[] = {0x00, 0x05, 0x7f, 0xff};
    /* AL up to 0xF9 only: above, CPUs differ on whether AL's +6 carries into AH. */
    for (u32 al = 0; al < 0xfa; al++)
        for (u32 h = 0; h < 4; h++)
            for (u32 fl = 0; fl < 2; fl++) {
                u32 fin = 0x2 | (fl ? AF : 0), def = CF | AF;
                for (int aas = 0; aas < 2; aas++) {
                    if (aas && fl && al < 6)
                        continue;       /* likewise for AAS's -6 borrowing from AH */
                    u32 eax = 0xabcd0000 | (AH[h] << 8) | al, f;
                    if (aas)
                        __asm__ volatile(FLAGS_PRE "aas" FLAGS_POST : "+a"(eax), [f] "=&r"(f) : [fi] "r"(fin) : "cc");
                    else
                        __asm__ volatile(FLAGS_PRE "aaa" FLAGS_POST : "+a"(eax), [f] "=&r"(f) : [fi] "r"(fin) : "cc");
                    u32 ax = (AH[h] << 8) | al, wf;
                    if ((al & 0xf) > 9 || fl) {
                        ax = aas ? ax - 6 - 0x100 : ax + 0x106;
                        wf = AF | CF;
                    } else {
                        wf = 0;
                    }
                    ax = (ax & 0xff00) | (ax & 0x0f);
                    IN(aas, (AH[h] << 8) | al, fin);
                    EXPECT(RF(eax, f & def), RF(0xabcd0000 | ax, wf));
                }
            }
    return 0;
}

static int c_aam_aad(void)
{
    for (u32 ax = 0; ax < 0x10000; ax += 0x0101 - 0x100 + 0x37) {
        u32 al = ax & 0xff, ah = ax >> 8, def = SF | ZF | PF;
        u32 e1 = 0x77770000 | ax, e2 = e1, e3 = e1, e4 = e1, f1, f2, f3, f4;
        __asm__ volatile("aam\n\tpushfl\n\tpopl %[f]" : "+a"(e1), [f] "=&r"(f1) : : "cc");
        __asm__ volatile(".byte 0xd4, 0x10\n\tpushfl\n\tpopl %[f]" : "+a"(e2), [f] "=&r"(f2) : : "cc");
        __asm__ volatile("aad\n\tpushfl\n\tpopl %[f]" : "+a"(e3), [f] "=&r"(f3) : : "cc");
        __asm__ volatile(".byte 0xd5, 0x07\n\tpushfl\n\tpopl %[f]" : "+a"(e4), [f] "=&r"(f4) : : "cc");
        IN(ax);
        EXPECT(RF(e1, f1 & def), RF(0x77770000 | ((al / 10) << 8) | (al % 10), szp(al % 10, 8)));
        EXPECT(RF(e2, f2 & def), RF(0x77770000 | ((al >> 4) << 8) | (al & 15), szp(al & 15, 8)));
        u32 r3 = (al + ah * 10) & 0xff, r4 = (al + ah * 7) & 0xff;
        EXPECT(RF(e3, f3 & def), RF(0x77770000 | r3, szp(r3, 8)));
        EXPECT(RF(e4, f4 & def), RF(0x77770000 | r4, szp(r4, 8)));
    }
    return 0;
}

/* ------------------------------------------------------------ atomics, bswap */

#define ASMCX(fn, insn, T, cons)                                                     \
    static u32 fn(u32 *acc, u32 mem, u32 src, u32 *fo)                               \
    {                                                                                \
        T a = (T)*acc, m = (T)mem, s = (T)src;                                       \
        u32 f;                                                                       \
        __asm__ volatile("lock " insn " %[s], %[m]\n\tpushfl\n\tpopl %[f]"           \
                         : "+a"(a), [m] "+m"(m), [f] "=&r"(f)                        \
                         : [s] cons(s)                                               \
                         : "cc", "memory");                                          \
        *acc = a;                                                                    \
        *fo = f;                                                                     \
        return m;                                                                    \
    }
ASMCX(cx8, "cmpxchgb", u8, "q") ASMCX(cx16, "cmpxchgw", u16, "r") ASMCX(cx32, "cmpxchgl", u32, "r")

static int c_cmpxchg(void)
{
    u32 (*fns[3])(u32 *, u32, u32, u32 *) = {cx8, cx16, cx32};
    for (int w = 0; w < 3; w++)
        for (u32 i = 0; i < NV; i++)
            for (u32 j = 0; j < NV; j += 2) {
                int bits = WIDTHS[w];
                u32 m = mask(bits), acc = V[i], mem = V[(i + j) % NV], src = V[j] ^ 0x5a5a5a5a, f, wf;
                u32 newmem = fns[w](&acc, mem, src, &f);
                m_sub(V[i], mem, 0, bits, &wf);
                int eq = ((V[i] ^ mem) & m) == 0;
                IN(bits, V[i], mem, src);
                EXPECT(RF(newmem, f & ARITH), RF((eq ? src : mem) & m, wf));
                EXPECT(acc, (eq ? V[i] : mem) & m);
            }
    return 0;
}

static int c_cmpxchg8b(void)
{
    for (u32 i = 0; i < NV; i++)
        for (u32 j = 0; j < NV; j += 3) {
            u64 mem = ((u64)V[j] << 32) | V[(j + 5) % NV];
            u64 cmp = j % 2 ? mem : mem ^ ((u64)V[i] << (i % 40));
            u32 lo = (u32)cmp, hi = (u32)(cmp >> 32), nlo = V[i] ^ 0x11111111, nhi = ~V[i], f;
            __asm__ volatile("lock cmpxchg8b %[m]\n\tpushfl\n\tpopl %[f]"
                             : "+a"(lo), "+d"(hi), [m] "+m"(mem), [f] "=&r"(f)
                             : "b"(nlo), "c"(nhi)
                             : "cc", "memory");
            u64 old = ((u64)V[j] << 32) | V[(j + 5) % NV];
            int eq = cmp == old;
            IN(V[i], V[j], eq);
            EXPECT(RF(0, f & ZF), RF(0, eq ? ZF : 0));
            EXPECT(mem, eq ? ((u64)nhi << 32) | nlo : old);
            EXPECT(((u64)hi << 32) | lo, eq ? cmp : old);
        }
    return 0;
}

#define ASMXADD(fn, insn, T, cons)                                                   \
    static u32 fn(u32 *src, u32 dst, u32 *fo)                                        \
    {                                                                                \
        T s = (T)*src, d = (T)dst;                                                   \
        u32 f;                                                                       \
        __asm__ volatile("lock " insn " %[s], %[d]\n\tpushfl\n\tpopl %[f]"           \
                         : [s] "+" cons(s), [d] "+m"(d), [f] "=&r"(f)                \
                         :                                                           \
                         : "cc", "memory");                                          \
        *src = s;                                                                    \
        *fo = f;                                                                     \
        return d;                                                                    \
    }
ASMXADD(xadd8, "xaddb", u8, "q") ASMXADD(xadd16, "xaddw", u16, "r") ASMXADD(xadd32, "xaddl", u32, "r")

static int c_xadd(void)
{
    u32 (*fns[3])(u32 *, u32, u32 *) = {xadd8, xadd16, xadd32};
    for (int w = 0; w < 3; w++)
        for (u32 i = 0; i < NV; i++)
            for (u32 j = 0; j < NV; j++) {
                u32 s = V[i], f, wf, bits = WIDTHS[w];
                u32 d = fns[w](&s, V[j], &f);
                u32 want = m_add(V[i], V[j], 0, bits, &wf);
                IN(bits, V[i], V[j]);
                EXPECT(RF(d, f & ARITH), RF(want, wf));
                EXPECT(s, V[j] & mask(bits));
            }
    /* register-register form */
    u32 a = 0x7fffffff, b = 1, f;
    __asm__ volatile("xaddl %[a], %[b]\n\tpushfl\n\tpopl %[f]" : [a] "+r"(a), [b] "+r"(b), [f] "=&r"(f) : : "cc");
    IN(0x77);
    EXPECT(RF(b, f & ARITH), RF(0x80000000, OF | SF | AF | PF));
    EXPECT(a, 1);
    return 0;
}

static int c_bswap(void)
{
    for (u32 i = 0; i < NV; i++) {
        u32 x = V[i];
        __asm__ volatile("bswap %0" : "+r"(x));
        u32 v = V[i];
        IN(v);
        EXPECT(x, (v >> 24) | ((v >> 8) & 0xff00) | ((v << 8) & 0xff0000) | (v << 24));
    }
    return 0;
}

/* ------------------------------------------------------------ bit ops */

static int c_bt_reg(void)
{
    for (u32 i = 0; i < NV; i++)
        for (u32 b = 0; b < 70; b += 3) {
            u32 x = V[i], r[4] = {x, x, x, x}, f[4];
            __asm__ volatile("btl %[b], %[x]\n\tpushfl\n\tpopl %[f]" : [x] "+r"(r[0]), [f] "=&r"(f[0]) : [b] "r"(b) : "cc");
            __asm__ volatile("btsl %[b], %[x]\n\tpushfl\n\tpopl %[f]" : [x] "+r"(r[1]), [f] "=&r"(f[1]) : [b] "r"(b) : "cc");
            __asm__ volatile("btrl %[b], %[x]\n\tpushfl\n\tpopl %[f]" : [x] "+r"(r[2]), [f] "=&r"(f[2]) : [b] "r"(b) : "cc");
            __asm__ volatile("btcl %[b], %[x]\n\tpushfl\n\tpopl %[f]" : [x] "+r"(r[3]), [f] "=&r"(f[3]) : [b] "r"(b) : "cc");
            u32 bit = 1u << (b & 31), cf = (x & bit) ? CF : 0;
            u32 want[4] = {x, x | bit, x & ~bit, x ^ bit};
            for (int k = 0; k < 4; k++) {
                IN(k, x, b);
                EXPECT(RF(r[k], f[k] & CF), RF(want[k], cf));
            }
            /* 16-bit register form: offset mod 16 */
            u32 y = x, fy;
            __asm__ volatile("btcw %w[b], %w[x]\n\tpushfl\n\tpopl %[f]" : [x] "+r"(y), [f] "=&r"(fy) : [b] "r"(b) : "cc");
            IN(0x16, x, b);
            EXPECT(RF(y, fy & CF), RF(x ^ (1u << (b & 15)), (x >> (b & 15)) & 1));
            /* immediate form */
            y = x;
            __asm__ volatile("btsl $13, %[x]\n\tpushfl\n\tpopl %[f]" : [x] "+r"(y), [f] "=&r"(fy) : : "cc");
            IN(0x13, x);
            EXPECT(RF(y, fy & CF), RF(x | (1u << 13), (x >> 13) & 1));
        }
    return 0;
}

/* Memory forms with a register offset address a bit string beyond the dword,
   negative offsets included. */
static int c_bt_mem(void)
{
    u32 arr[16], model[16];
    for (s32 b = -96; b < 300; b += 7) {
        for (int k = 0; k < 4; k++) {
            for (int i = 0; i < 16; i++)
                arr[i] = model[i] = V[i + 7] ^ (u32)b;
            u32 f, *base = &arr[4];
            switch (k) {
            case 0: __asm__ volatile("btl %[b], %[m]\n\tpushfl\n\tpopl %[f]" : [f] "=&r"(f) : [m] "m"(*base), [b] "r"(b) : "cc", "memory"); break;
            case 1: __asm__ volatile("btsl %[b], %[m]\n\tpushfl\n\tpopl %[f]" : [f] "=&r"(f), [m] "+m"(*base) : [b] "r"(b) : "cc", "memory"); break;
            case 2: __asm__ volatile("btrl %[b], %[m]\n\tpushfl\n\tpopl %[f]" : [f] "=&r"(f), [m] "+m"(*base) : [b] "r"(b) : "cc", "memory"); break;
            case 3: __asm__ volatile("btcl %[b], %[m]\n\tpushfl\n\tpopl %[f]" : [f] "=&r"(f), [m] "+m"(*base) : [b] "r"(b) : "cc", "memory"); break;
            }
            s32 bitno = b + 4 * 32;                 /* from arr[0] */
            u32 w = (u32)bitno >> 5, bit = 1u << (bitno & 31), cf = (model[w] & bit) ? CF : 0;
            if (k == 1) model[w] |= bit;
            if (k == 2) model[w] &= ~bit;
            if (k == 3) model[w] ^= bit;
            IN(k, (u32)b);
            EXPECT(f & CF, cf);
            EXPECT(memcmp(arr, model, sizeof arr), 0);
        }
    }
    return 0;
}

static int c_bsf_bsr(void)
{
    for (u32 i = 0; i < NV; i++)
        for (u32 sh = 0; sh < 32; sh += 5) {
            u32 x = V[i] << sh, f1, f2, r1 = 0x55, r2 = 0x55;
            __asm__ volatile("bsfl %[x], %[r]\n\tpushfl\n\tpopl %[f]" : [r] "+r"(r1), [f] "=&r"(f1) : [x] "r"(x) : "cc");
            __asm__ volatile("bsrl %[x], %[r]\n\tpushfl\n\tpopl %[f]" : [r] "+r"(r2), [f] "=&r"(f2) : [x] "r"(x) : "cc");
            IN(x);
            if (!x) {
                EXPECT(RF(0, f1 & ZF), RF(0, ZF));   /* destination undefined */
                EXPECT(RF(0, f2 & ZF), RF(0, ZF));
                continue;
            }
            u32 lo = 0, hi = 31;
            while (!((x >> lo) & 1)) lo++;
            while (!((x >> hi) & 1)) hi--;
            EXPECT(RF(r1, f1 & ZF), RF(lo, 0));
            EXPECT(RF(r2, f2 & ZF), RF(hi, 0));
            u32 x16 = x & 0xffff, r3 = 0x55, f3;
            if (x16) {
                __asm__ volatile("bsrw %w[x], %w[r]\n\tpushfl\n\tpopl %[f]" : [r] "+r"(r3), [f] "=&r"(f3) : [x] "r"(x16) : "cc");
                hi = 15;
                while (!((x16 >> hi) & 1)) hi--;
                EXPECT(RF(r3, f3 & ZF), RF(hi, 0));
            }
        }
    return 0;
}

/* ------------------------------------------------------------ conditions */

static int cond(int cc, u32 f)
{
    int cf = !!(f & CF), pf = !!(f & PF), zf = !!(f & ZF), sf = !!(f & SF), of = !!(f & OF), r;
    switch (cc >> 1) {
    case 0: r = of; break;
    case 1: r = cf; break;
    case 2: r = zf; break;
    case 3: r = cf | zf; break;
    case 4: r = sf; break;
    case 5: r = pf; break;
    case 6: r = sf != of; break;
    default: r = zf | (sf != of); break;
    }
    return (cc & 1) ? !r : r;
}

#define CC_LIST(X) X(o) X(no) X(b) X(ae) X(e) X(ne) X(be) X(a) X(s) X(ns) X(p) X(np) X(l) X(ge) X(le) X(g)

#define DEF_SET(cc) static u32 set_##cc(u32 f) { u8 r; \
    __asm__ volatile("pushl %[fi]\n\tpopfl\n\tset" #cc " %[r]" : [r] "=q"(r) : [fi] "r"(f) : "cc"); return r; }
#define DEF_CMOV(cc) static u32 cmov_##cc(u32 f) { u32 r = 0x1111; \
    __asm__ volatile("pushl %[fi]\n\tpopfl\n\tcmov" #cc "l %[s], %[r]" : [r] "+r"(r) : [fi] "r"(f), [s] "r"(0x2222) : "cc"); return r; }
#define DEF_JCC(cc) static u32 j_##cc(u32 f) { u32 r; \
    __asm__ volatile("pushl %[fi]\n\tpopfl\n\tj" #cc " 1f\n\tmovl $0, %[r]\n\tjmp 2f\n1:\tmovl $1, %[r]\n2:" \
                     : [r] "=r"(r) : [fi] "r"(f) : "cc"); return r; }
CC_LIST(DEF_SET) CC_LIST(DEF_CMOV) CC_LIST(DEF_JCC)
#define FN_SET(cc) set_##cc,
#define FN_CMOV(cc) cmov_##cc,
#define FN_JCC(cc) j_##cc,
static u32 (*const SETS[16])(u32) = {CC_LIST(FN_SET)};
static u32 (*const CMOVS[16])(u32) = {CC_LIST(FN_CMOV)};
static u32 (*const JCCS[16])(u32) = {CC_LIST(FN_JCC)};

static u32 flag_combo(u32 k)
{
    return 0x2 | (k & 1 ? CF : 0) | (k & 2 ? PF : 0) | (k & 4 ? ZF : 0) | (k & 8 ? SF : 0) | (k & 16 ? OF : 0);
}

static int c_setcc(void)
{
    for (int cc = 0; cc < 16; cc++)
        for (u32 k = 0; k < 32; k++) {
            IN((u32)cc, flag_combo(k));
            EXPECT(SETS[cc](flag_combo(k)), (u32)cond(cc, flag_combo(k)));
        }
    return 0;
}

static int c_cmovcc(void)
{
    for (int cc = 0; cc < 16; cc++)
        for (u32 k = 0; k < 32; k++) {
            IN((u32)cc, flag_combo(k));
            EXPECT(CMOVS[cc](flag_combo(k)), cond(cc, flag_combo(k)) ? 0x2222u : 0x1111u);
        }
    return 0;
}

static int c_jcc(void)
{
    for (int cc = 0; cc < 16; cc++)
        for (u32 k = 0; k < 32; k++) {
            IN((u32)cc, flag_combo(k));
            EXPECT(JCCS[cc](flag_combo(k)), (u32)cond(cc, flag_combo(k)));
        }
    return 0;
}

/* ------------------------------------------------------------ stack frames, misc */

void enter_leave_test(u32 *out, u32 *frame_top);     /* ops.S */
void pusha_popa_test(u32 *out);                      /* ops.S */

static int c_enter_leave(void)
{
    u32 out[13], frame[8];
    for (int i = 0; i < 8; i++)
        frame[i] = 0xf0000000u + (u32)i;
    u32 *top = &frame[6];
    enter_leave_test(out, top);
    u32 esp0 = out[8], fp = (u32)top;
    IN(0);
    EXPECT(out[0], esp0 - 28);          /* enter $12, $3: 3 dwords pushed + frame ptr + 12 */
    EXPECT(out[1], esp0 - 4);           /* EBP = the frame temp */
    EXPECT(out[2], fp);                 /* old EBP */
    EXPECT(out[3], frame[5]);           /* [old EBP - 4] */
    EXPECT(out[4], frame[4]);           /* [old EBP - 8] */
    EXPECT(out[5], esp0 - 4);           /* the frame temp itself */
    EXPECT(out[6], esp0);               /* leave: ESP back */
    EXPECT(out[7], fp);                 /* leave: EBP back */
    IN(1);
    EXPECT(out[9], esp0 - 12);          /* enter $8, $0 */
    EXPECT(out[10], esp0 - 4);
    EXPECT(out[11], esp0);
    EXPECT(out[12], fp);
    return 0;
}

static int c_pusha_popa(void)
{
    u32 out[17];
    pusha_popa_test(out);
    static const u32 pushed[8] = {0x77777777, 0x66666666, 0x55555555, 0,
                                  0x44444444, 0x33333333, 0x22222222, 0x11111111};
    for (int i = 0; i < 8; i++) {
        IN((u32)i);
        EXPECT(out[i], i == 3 ? out[8] : pushed[i]);
    }
    static const u32 popped[7] = {0xa0a0a0a0, 0xa1a1a1a1, 0xa2a2a2a2, 0xa3a3a3a3,
                                  0xa5a5a5a5, 0xa6a6a6a6, 0xa7a7a7a7};
    for (int i = 0; i < 7; i++) {
        IN((u32)i + 9);
        EXPECT(out[9 + i], popped[i]);
    }
    IN(16);
    EXPECT(out[16], out[8]);            /* POPA skips the saved ESP */
    return 0;
}

static int c_xlat(void)
{
    static u8 table[256];
    for (u32 i = 0; i < 256; i++)
        table[i] = (u8)(i * 37 + 11);
    for (u32 i = 0; i < 256; i++) {
        u32 eax = 0xabcdef00 | i;
        __asm__ volatile("xlatb" : "+a"(eax) : "b"(table) : "memory");
        IN(i);
        EXPECT(eax, 0xabcdef00 | table[i]);
    }
    return 0;
}

static int c_loop(void)
{
    static const u32 N[] = {1, 2, 17, 1000};
    for (u32 t = 0; t < 4; t++) {
        u32 c = N[t], n = 0;
        __asm__ volatile("1:\n\tincl %[n]\n\tloop 1b" : [n] "+r"(n), "+c"(c) : : "cc");
        IN(1, N[t]);
        EXPECT(RF(n, c), RF(N[t], 0));
    }
    /* LOOPE: scan while the bytes are zero; LOOPNE: scan until a 0x5a. */
    static const u8 z[12] = {0, 0, 0, 0, 0, 7, 0, 0, 0x5a, 1, 2, 3};
    for (u32 n = 1; n <= 12; n++) {
        u32 s = (u32)z, c = n, a = 0;
        __asm__ volatile("cld\n1:\tlodsb\n\ttestb %%al, %%al\n\tloope 1b" : "+S"(s), "+c"(c), "+a"(a) : : "cc", "memory");
        u32 k = 0;
        while (k < n && z[k] == 0) k++;
        u32 steps = k < n ? k + 1 : n;
        IN(2, n);
        EXPECT(RF(s - (u32)z, c), RF(steps, n - steps));
        s = (u32)z; c = n;
        __asm__ volatile("cld\n1:\tlodsb\n\tcmpb $0x5a, %%al\n\tloopne 1b" : "+S"(s), "+c"(c), "+a"(a) : : "cc", "memory");
        k = 0;
        while (k < n && z[k] != 0x5a) k++;
        steps = k < n ? k + 1 : n;
        IN(3, n);
        EXPECT(RF(s - (u32)z, c), RF(steps, n - steps));
    }
    /* JECXZ */
    for (u32 c = 0; c < 3; c++) {
        u32 r;
        __asm__ volatile("jecxz 1f\n\tmovl $0, %[r]\n\tjmp 2f\n1:\tmovl $1, %[r]\n2:" : [r] "=r"(r) : "c"(c));
        IN(4, c);
        EXPECT(r, c == 0);
    }
    return 0;
}

static int c_cpuid(void)
{
    u32 a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
    char v[12];
    memcpy(v, &b, 4);
    memcpy(v + 4, &d, 4);
    memcpy(v + 8, &c, 4);
    IN(a);
    EXPECT(a >= 1, 1);                  /* leaf 1 exists */
    for (int i = 0; i < 12; i++) {
        IN((u32)i, (u32)(u8)v[i]);
        EXPECT(v[i] >= 0x20 && v[i] < 0x7f, 1);     /* a printable vendor string */
    }
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    IN(d);
    EXPECT(d & ((1u << 8) | (1u << 15)), (1u << 8) | (1u << 15));   /* CX8 and CMOV */
    return 0;
}

static int c_sign_extend(void)
{
    for (u32 i = 0; i < NV; i++) {
        u32 x = V[i], a, d, r1, r2, r3, r4;
        a = x;
        __asm__ volatile("cbtw" : "+a"(a));
        IN(1, x);
        EXPECT(a, (x & 0xffff0000) | ((u32)(s32)(s8)x & 0xffff));
        a = x;
        __asm__ volatile("cwtl" : "+a"(a));
        IN(2, x);
        EXPECT(a, (u32)(s32)(s16)x);
        a = x; d = 0x12345678;
        __asm__ volatile("cwtd" : "+a"(a), "+d"(d));
        IN(3, x);
        EXPECT(d, 0x12340000 | ((s16)x < 0 ? 0xffff : 0));
        a = x;
        __asm__ volatile("cltd" : "+a"(a), "=d"(d));
        IN(4, x);
        EXPECT(d, (s32)x < 0 ? 0xffffffff : 0);
        __asm__ volatile("movsbl %b1, %0" : "=r"(r1) : "q"(x));
        __asm__ volatile("movzbl %b1, %0" : "=r"(r2) : "q"(x));
        __asm__ volatile("movswl %w1, %0" : "=r"(r3) : "r"(x));
        __asm__ volatile("movzwl %w1, %0" : "=r"(r4) : "r"(x));
        IN(5, x);
        EXPECT(RF(r1, r2), RF((u32)(s32)(s8)x, x & 0xff));
        EXPECT(RF(r3, r4), RF((u32)(s32)(s16)x, x & 0xffff));
    }
    return 0;
}

static int c_flag_ops(void)
{
    for (u32 k = 0; k < 64; k++) {
        u32 fin = flag_combo(k) | (k & 32 ? AF : 0), ah, f1, f2, f3, f4;
        /* LAHF: AH = SF ZF 0 AF 0 PF 1 CF */
        __asm__ volatile("pushl %[fi]\n\tpopfl\n\tlahf\n\tshrl $8, %%eax" : "=a"(ah) : [fi] "r"(fin) : "cc");
        IN(1, fin);
        EXPECT(ah & 0xff, (fin & (SF | ZF | AF | PF | CF)) | 0x02);
        /* SAHF loads SF ZF AF PF CF from AH, keeps OF */
        __asm__ volatile("pushl $0x2\n\tpopfl\n\tsahf\n\tpushfl\n\tpopl %[f]" : [f] "=r"(f1) : "a"(fin << 8) : "cc");
        IN(2, fin);
        EXPECT(f1 & ARITH, fin & (SF | ZF | AF | PF | CF));
        __asm__ volatile(FLAGS_PRE "cmc" FLAGS_POST : [f] "=&r"(f2) : [fi] "r"(fin) : "cc");
        __asm__ volatile(FLAGS_PRE "stc" FLAGS_POST : [f] "=&r"(f3) : [fi] "r"(fin) : "cc");
        __asm__ volatile(FLAGS_PRE "clc" FLAGS_POST : [f] "=&r"(f4) : [fi] "r"(fin) : "cc");
        IN(3, fin);
        EXPECT(f2 & ARITH, (fin ^ CF) & ARITH);
        EXPECT(f3 & ARITH, (fin | CF) & ARITH);
        EXPECT(f4 & ARITH, (fin & ~CF) & ARITH);
    }
    return 0;
}

static int c_xchg_lea(void)
{
    u32 a = 0x11112222, b = 0x33334444, m = 0x55556666;
    __asm__ volatile("xchgl %0, %1" : "+r"(a), "+r"(b));
    __asm__ volatile("xchgl %0, %1" : "+r"(a), "+m"(m));
    __asm__ volatile("xchgb %b0, %h0" : "+Q"(b));
    IN(1);
    EXPECT(RF(a, m), RF(0x55556666, 0x33334444));
    EXPECT(b, 0x11112222);
    for (u32 i = 0; i < NV; i++)
        for (u32 j = 0; j < NV; j += 4) {
            u32 r, x = V[i], y = V[j];
            __asm__ volatile("leal -0x1234(%1,%2,8), %0" : "=r"(r) : "r"(x), "r"(y));
            IN(2, x, y);
            EXPECT(r, x + y * 8 - 0x1234);
            __asm__ volatile("leaw 3(%1,%2,2), %w0" : "=r"(r) : "r"(x), "r"(y), "0"(0xdead0000));
            IN(3, x, y);
            EXPECT(r, 0xdead0000 | ((x + y * 2 + 3) & 0xffff));
        }
    return 0;
}

/* ------------------------------------------------------------ main */

static const struct { const char *name; int (*fn)(void); } CHECKS[] = {
    {"add", c_add}, {"adc", c_adc}, {"sub", c_sub}, {"sbb", c_sbb}, {"and", c_and},
    {"or", c_or}, {"xor", c_xor}, {"cmp", c_cmp}, {"test", c_test}, {"inc", c_inc},
    {"dec", c_dec}, {"neg", c_neg}, {"not", c_not},
    {"shl", c_shl}, {"shr", c_shr}, {"sar", c_sar}, {"rol", c_rol}, {"ror", c_ror},
    {"rcl", c_rcl}, {"rcr", c_rcr}, {"shift_imm", c_shift_by_1}, {"shld", c_shld}, {"shrd", c_shrd},
    {"mul", c_mul}, {"imul", c_imul}, {"div", c_div}, {"idiv", c_idiv}, {"div64_compiler_rt", c_div64},
    {"rep_movsb", c_rep_movsb}, {"rep_movsd", c_rep_movsd}, {"rep_stos", c_rep_stos},
    {"repe_cmpsb", c_repe_cmpsb}, {"repne_scasb", c_repne_scasb}, {"lods", c_lods},
    {"daa_das", c_daa_das}, {"aaa_aas", c_aaa_aas}, {"aam_aad", c_aam_aad},
    {"cmpxchg", c_cmpxchg}, {"cmpxchg8b", c_cmpxchg8b}, {"xadd", c_xadd}, {"bswap", c_bswap},
    {"bt_reg", c_bt_reg}, {"bt_mem", c_bt_mem}, {"bsf_bsr", c_bsf_bsr},
    {"setcc", c_setcc}, {"cmovcc", c_cmovcc}, {"jcc", c_jcc},
    {"enter_leave", c_enter_leave}, {"pusha_popa", c_pusha_popa}, {"xlat", c_xlat},
    {"loop", c_loop}, {"cpuid", c_cpuid}, {"sign_extend", c_sign_extend},
    {"flag_ops", c_flag_ops}, {"xchg_lea", c_xchg_lea},
};

int kmain(u32 magic, struct mb_info *mbi)
{
    (void)mbi;
    if (rt_native)
        print("bt selfcheck guest (native build, no Multiboot)\n");
    else
        print(magic == MB_BOOT_MAGIC ? "bt selfcheck guest (Multiboot kernel, magic ok)\n"
                                     : "bt selfcheck guest (Multiboot kernel, BAD magic)\n");
    for (u32 i = 0; i < sizeof CHECKS / sizeof CHECKS[0]; i++)
        run(CHECKS[i].name, CHECKS[i].fn);
    print("selfcheck: ");
    print_dec(npass);
    print(" passed, ");
    print_dec(nfail);
    print(" failed\n");
    return nfail ? 1 : 0;
}
