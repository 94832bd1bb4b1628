/* fpu: floating point on the x87, printed so that two runs can be compared line
 * by line (bt under every strategy, and the same source run natively).
 *
 * A small printf-style formatter for doubles (fixed and exponent forms, written
 * here: rt has none), every result also as its exact bits; then numeric kernels
 * (n-body, an LU solve, a Mandelbrot set, series in long double), the x87
 * transcendentals through inline asm, the rounding and precision controls, the
 * masked exception flags, FBSTP/FBLD, FXAM, FPREM, FXTRACT/FSCALE, FXSAVE/FXRSTOR
 * and FSAVE/FRSTOR round trips.
 *
 * Built with -march=i686 like the other guests: the compiler emits x87 code for
 * float, double and long double (no SSE).  The kernel build first makes the
 * x87 usable (CR0.EM=0, CR0.TS=0, CR0.MP=1, CR0.NE=1) and runs FNINIT.
 */
#include "rt.h"

typedef long double ld;

static void fpu_setup(void)
{
    if (!rt_native) {
        u32 cr0;
        __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
        cr0 &= ~(4u | 8u);              /* EM, TS */
        cr0 |= 2u | 0x20u;              /* MP, NE */
        __asm__ volatile("mov %0, %%cr0" : : "r"(cr0));
    }
    __asm__ volatile("fninit");
}

/* ------------------------------------------------------------ formatting */

static u64 dbits(double x)
{
    u64 b;
    memcpy(&b, &x, 8);
    return b;
}

static void print_ld_bits(ld x)
{
    u8 b[10];
    memcpy(b, &x, 10);
    print("0x");
    for (int i = 9; i >= 0; i--) {
        rt_putc("0123456789abcdef"[b[i] >> 4]);
        rt_putc("0123456789abcdef"[b[i] & 15]);
    }
}

static int is_nan(double x) { return x != x; }

/* %.{prec}f for |x| < 1e18, else %.{prec}e; digits from repeated *10 in double */
static void print_double(double x, int prec)
{
    if (is_nan(x)) {
        print(dbits(x) >> 63 ? "-nan" : "nan");
        return;
    }
    if (dbits(x) >> 63) {
        rt_putc('-');
        x = -x;
    }
    if (x == 1.0 / 0.0) {
        print("inf");
        return;
    }
    int exp10 = 0, expo = x >= 1e18 || (x != 0 && x < 1e-5);
    if (expo) {
        while (x >= 10.0) { x /= 10.0; exp10++; }
        while (x < 1.0) { x *= 10.0; exp10--; }
    }
    double r = 0.5;
    for (int i = 0; i < prec; i++)
        r /= 10.0;
    x += r;
    if (expo && x >= 10.0) { x /= 10.0; exp10++; }
    u64 ip = (u64)x;                    /* FISTP through compiler_rt or inline x87 */
    print_dec64(ip);
    x -= (double)ip;
    if (prec > 0) {
        rt_putc('.');
        for (int i = 0; i < prec; i++) {
            x *= 10.0;
            int d = (int)x;
            if (d > 9) d = 9;
            rt_putc((char)('0' + d));
            x -= d;
        }
    }
    if (expo) {
        rt_putc('e');
        if (exp10 < 0) { rt_putc('-'); exp10 = -exp10; } else rt_putc('+');
        if (exp10 < 10) rt_putc('0');
        print_dec((u32)exp10);
    }
}

static void show(const char *name, double x, int prec)
{
    print(name);
    print(" = ");
    print_double(x, prec);
    print("  [");
    print_hex64(dbits(x));
    print("]\n");
}

static void show_ld(const char *name, ld x)
{
    print(name);
    print(" = ");
    print_double((double)x, 17);
    print("  [");
    print_ld_bits(x);
    print("]\n");
}

/* ------------------------------------------------------------ x87 helpers */

static u16 fstsw(void) { u16 s; __asm__ volatile("fnstsw %0" : "=a"(s)); return s; }
static void fclex(void) { __asm__ volatile("fnclex"); }
static u16 fstcw(void) { u16 c; __asm__ volatile("fnstcw %0" : "=m"(c)); return c; }
static void fldcw(u16 c) { __asm__ volatile("fldcw %0" : : "m"(c)); }

static ld x_fsin(ld x) { ld r; __asm__("fsin" : "=t"(r) : "0"(x)); return r; }
static ld x_fcos(ld x) { ld r; __asm__("fcos" : "=t"(r) : "0"(x)); return r; }
static ld x_fsqrt(ld x) { ld r; __asm__("fsqrt" : "=t"(r) : "0"(x)); return r; }
static ld x_f2xm1(ld x) { ld r; __asm__("f2xm1" : "=t"(r) : "0"(x)); return r; }
static ld x_frndint(ld x) { ld r; __asm__("frndint" : "=t"(r) : "0"(x)); return r; }
static ld x_fpatan(ld y, ld x) { ld r; __asm__("fpatan" : "=t"(r) : "0"(x), "u"(y) : "st(1)"); return r; }
static ld x_fyl2x(ld y, ld x) { ld r; __asm__("fyl2x" : "=t"(r) : "0"(x), "u"(y) : "st(1)"); return r; }
static ld x_fyl2xp1(ld y, ld x) { ld r; __asm__("fyl2xp1" : "=t"(r) : "0"(x), "u"(y) : "st(1)"); return r; }
static ld x_fscale(ld x, ld n) { ld r; __asm__("fscale" : "=t"(r) : "0"(x), "u"(n)); return r; }
static ld x_fprem(ld x, ld y, u16 *sw)
{
    ld r;
    u16 s;
    __asm__("1: fprem\n\tfnstsw %%ax\n\ttestw $0x400, %%ax\n\tjnz 1b" : "=t"(r), "=a"(s) : "0"(x), "u"(y));
    *sw = s;
    return r;
}
static void x_fptan(ld x, ld *t, ld *one)
{
    ld a, b;
    __asm__("fptan" : "=t"(a), "=u"(b) : "0"(x));
    *t = b;
    *one = a;
}
static void x_fsincos(ld x, ld *s, ld *c)
{
    ld a, b;
    __asm__("fsincos" : "=t"(a), "=u"(b) : "0"(x));
    *c = a;
    *s = b;
}
static void x_fxtract(ld x, ld *sig, ld *ex)
{
    ld a, b;
    __asm__("fxtract" : "=t"(a), "=u"(b) : "0"(x));
    *sig = a;
    *ex = b;
}
static u16 x_fxam(ld x)
{
    u16 s;
    __asm__ volatile("fxam\n\tfnstsw %%ax" : "=a"(s) : "t"(x));
    return s & 0x4700;
}

/* ------------------------------------------------------------ kernels */

/* sqrt through FSQRT in both builds (the native one would call musl's sqrt) */
static double dsqrt(double x)
{
    ld r;
    __asm__("fsqrt" : "=t"(r) : "0"((ld)x));
    return (double)r;
}

struct body { double x, y, z, vx, vy, vz, m; };

#define PI 3.141592653589793
#define SOLAR_MASS (4 * PI * PI)
#define DAYS 365.24

static struct body bodies[5] = {
    {0, 0, 0, 0, 0, 0, SOLAR_MASS},
    {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
     1.66007664274403694e-03 * DAYS, 7.69901118419740425e-03 * DAYS, -6.90460016972063023e-05 * DAYS,
     9.54791938424326609e-04 * SOLAR_MASS},
    {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
     -2.76742510726862411e-03 * DAYS, 4.99852801234917238e-03 * DAYS, 2.30417297573763929e-05 * DAYS,
     2.85885980666130812e-04 * SOLAR_MASS},
    {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
     2.96460137564761618e-03 * DAYS, 2.37847173959480950e-03 * DAYS, -2.96589568540237556e-05 * DAYS,
     4.36624404335156298e-05 * SOLAR_MASS},
    {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
     2.68067772490389322e-03 * DAYS, 1.62824170038242295e-03 * DAYS, -9.51592254519715870e-05 * DAYS,
     5.15138902046611451e-05 * SOLAR_MASS},
};

static double nbody_energy(void)
{
    double e = 0;
    for (int i = 0; i < 5; i++) {
        struct body *b = &bodies[i];
        e += 0.5 * b->m * (b->vx * b->vx + b->vy * b->vy + b->vz * b->vz);
        for (int j = i + 1; j < 5; j++) {
            struct body *c = &bodies[j];
            double dx = b->x - c->x, dy = b->y - c->y, dz = b->z - c->z;
            e -= b->m * c->m / dsqrt(dx * dx + dy * dy + dz * dz);
        }
    }
    return e;
}

static void nbody_advance(double dt)
{
    for (int i = 0; i < 5; i++) {
        struct body *b = &bodies[i];
        for (int j = i + 1; j < 5; j++) {
            struct body *c = &bodies[j];
            double dx = b->x - c->x, dy = b->y - c->y, dz = b->z - c->z;
            double d2 = dx * dx + dy * dy + dz * dz;
            double mag = dt / (d2 * dsqrt(d2));
            b->vx -= dx * c->m * mag; b->vy -= dy * c->m * mag; b->vz -= dz * c->m * mag;
            c->vx += dx * b->m * mag; c->vy += dy * b->m * mag; c->vz += dz * b->m * mag;
        }
    }
    for (int i = 0; i < 5; i++) {
        struct body *b = &bodies[i];
        b->x += dt * b->vx; b->y += dt * b->vy; b->z += dt * b->vz;
    }
}

static void nbody(int steps)
{
    double px = 0, py = 0, pz = 0;
    for (int i = 0; i < 5; i++) {
        px += bodies[i].vx * bodies[i].m;
        py += bodies[i].vy * bodies[i].m;
        pz += bodies[i].vz * bodies[i].m;
    }
    bodies[0].vx = -px / SOLAR_MASS; bodies[0].vy = -py / SOLAR_MASS; bodies[0].vz = -pz / SOLAR_MASS;
    show("nbody energy before", nbody_energy(), 9);
    for (int s = 0; s < steps; s++)
        nbody_advance(0.01);
    show("nbody energy after", nbody_energy(), 9);
}

#define N 6
static void lu_solve(void)
{
    double a[N][N], b[N], x[N];
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < N; j++)
            a[i][j] = 1.0 / (i + j + 1) + (i == j ? 0.5 : 0.0);
        b[i] = i + 1;
    }
    for (int k = 0; k < N; k++) {
        int p = k;
        for (int i = k + 1; i < N; i++)
            if (__builtin_fabs(a[i][k]) > __builtin_fabs(a[p][k]))
                p = i;
        for (int j = 0; j < N; j++) { double t = a[k][j]; a[k][j] = a[p][j]; a[p][j] = t; }
        double t = b[k]; b[k] = b[p]; b[p] = t;
        for (int i = k + 1; i < N; i++) {
            double f = a[i][k] / a[k][k];
            for (int j = k; j < N; j++)
                a[i][j] -= f * a[k][j];
            b[i] -= f * b[k];
        }
    }
    for (int i = N - 1; i >= 0; i--) {
        double s = b[i];
        for (int j = i + 1; j < N; j++)
            s -= a[i][j] * x[j];
        x[i] = s / a[i][i];
    }
    for (int i = 0; i < N; i++) {
        char name[] = "lu x[0]";
        name[5] = (char)('0' + i);
        show(name, x[i], 12);
    }
}

static void mandelbrot(void)
{
    u32 h = 2166136261u;
    for (int py = 0; py < 12; py++) {
        for (int px = 0; px < 48; px++) {
            double cr = -2.2 + px * (3.0 / 48), ci = -1.2 + py * (2.4 / 12);
            double zr = 0, zi = 0;
            int n = 0;
            while (n < 200 && zr * zr + zi * zi <= 4.0) {
                double t = zr * zr - zi * zi + cr;
                zi = 2 * zr * zi + ci;
                zr = t;
                n++;
            }
            rt_putc(" .:-=+*#%@"[n >= 200 ? 9 : n % 9]);
            h = (h ^ (u32)n) * 16777619u;
        }
        rt_putc('\n');
    }
    print("mandelbrot hash ");
    print_hex(h);
    rt_putc('\n');
}

static void series(void)
{
    ld e = 1, term = 1;
    for (int i = 1; i < 30; i++) {
        term /= i;
        e += term;
    }
    show_ld("e (long double series)", e);
    double pi = 0;
    for (int k = 0; k < 200000; k++)
        pi += (k & 1 ? -4.0 : 4.0) / (2 * k + 1);
    show("pi (Leibniz, 200000 terms)", pi, 12);
    float f = 0;
    for (int i = 1; i <= 1000; i++)
        f += 1.0f / (float)i;
    show("harmonic(1000) in float", f, 9);
}

static void transcendentals(void)
{
    static const double args[] = {0.5, -1.25, 3.0, 1e10, 1e-300, 0.0};
    for (int i = 0; i < 6; i++) {
        ld x = args[i], t, one, s, c;
        print("x = ");
        print_double(args[i], 6);
        rt_putc('\n');
        show_ld("  fsin", x_fsin(x));
        show_ld("  fcos", x_fcos(x));
        x_fptan(x, &t, &one);
        show_ld("  fptan", t);
        x_fsincos(x, &s, &c);
        show_ld("  fsincos.s", s);
        show_ld("  fpatan(x, 2)", x_fpatan(x, 2));
        show_ld("  fyl2x(3, |x|)", x_fyl2x(3, __builtin_fabsl(x)));
    }
    show_ld("f2xm1(0.75)", x_f2xm1(0.75L));
    show_ld("f2xm1(-0.3)", x_f2xm1(-0.3L));
    show_ld("fyl2xp1(1.5, 0.125)", x_fyl2xp1(1.5L, 0.125L));
    show_ld("fsqrt(2)", x_fsqrt(2));
    show_ld("fscale(1.75, 100)", x_fscale(1.75L, 100));
    u16 sw;
    ld r = x_fprem(1e30L, 7.0L, &sw);
    show_ld("fprem(1e30, 7)", r);
    print("  sw & 0x4700 = ");
    print_hex(sw & 0x4700);
    rt_putc('\n');
    ld sig, ex;
    x_fxtract(-1234.5L, &sig, &ex);
    show_ld("fxtract(-1234.5).sig", sig);
    show_ld("fxtract(-1234.5).exp", ex);
}

static void controls(void)
{
    static const double vals[] = {2.5, -2.5, 3.5, -0.5, 1.4999999, 1e9 + 0.5};
    static const char *rc_names[] = {"nearest", "down", "up", "zero"};
    u16 cw0 = fstcw();
    print("fnstcw after fninit: ");
    print_hex(cw0);
    rt_putc('\n');
    for (int rc = 0; rc < 4; rc++) {
        fldcw((u16)((cw0 & ~0xC00) | (rc << 10)));
        print("rc ");
        print(rc_names[rc]);
        print(":");
        for (int i = 0; i < 6; i++) {
            int v;
            __asm__ volatile("fistpl %0" : "=m"(v) : "t"((ld)vals[i]) : "st");
            print(" ");
            print_sdec(v);
        }
        ld third = (ld)1 / (ld)3;
        print(" rndint(-7.5)=");
        print_double((double)x_frndint(-7.5L), 1);
        print(" 1/3=");
        print_ld_bits(third);
        rt_putc('\n');
    }
    static const char *pc_names[] = {"24", "??", "53", "64"};
    for (int pc = 0; pc < 4; pc++) {
        if (pc == 1)
            continue;
        fldcw((u16)((cw0 & ~0x300) | (pc << 8)));
        volatile ld a = 1, b = 3;
        ld q = a / b;
        print("pc ");
        print(pc_names[pc]);
        print(": 1/3 = ");
        print_ld_bits(q);
        rt_putc('\n');
    }
    fldcw(cw0);
}

static void flags(void)
{
    volatile double zero = 0, one = 1, big = 1e308, tiny = 1e-308, m1 = -1;
    volatile double r;
    fclex();
    r = one / zero;
    print("1/0: ");
    print_double(r, 1);
    print(" sw flags ");
    print_hex(fstsw() & 0x7F);
    rt_putc('\n');
    fclex();
    r = zero / zero;
    print("0/0: ");
    print_double(r, 1);
    print(" bits ");
    print_hex64(dbits(r));
    print(" sw flags ");
    print_hex(fstsw() & 0x7F);
    rt_putc('\n');
    fclex();
    r = dsqrt(m1);
    print("sqrt(-1): flags ");
    print_hex(fstsw() & 0x7F);
    print(" bits ");
    print_hex64(dbits(r));
    rt_putc('\n');
    fclex();
    r = big * big;
    print("1e308^2: ");
    print_double(r, 1);
    print(" flags ");
    print_hex(fstsw() & 0x7F);
    rt_putc('\n');
    fclex();
    r = tiny * tiny;
    print("1e-308^2: ");
    print_double(r, 1);
    print(" flags ");
    print_hex(fstsw() & 0x7F);
    rt_putc('\n');
    fclex();
    r = tiny / 3;
    print("1e-308/3 (denormal): ");
    print_double(r, 3);
    print(" [");
    print_hex64(dbits(r));
    print("] flags ");
    print_hex(fstsw() & 0x7F);
    rt_putc('\n');
    fclex();
}

static void conversions(void)
{
    static const double vals[] = {-7.9, 123456789.987, -2147483648.0, 4e9, 1e20, -0.0};
    for (int i = 0; i < 6; i++) {
        double v = vals[i];
        print("conv ");
        print_double(v, 3);
        print(": int ");
        print_sdec((s32)(v > -2147483649.0 && v < 2147483648.0 ? (s32)v : 0));
        print(" u32 ");
        print_dec(v >= 0 && v < 4294967296.0 ? (u32)v : 0);
        print(" s64 ");
        s64 q = v > -9.2e18 && v < 9.2e18 ? (s64)v : 0;
        if (q < 0) { rt_putc('-'); print_dec64((u64)-q); } else print_dec64((u64)q);
        print(" float ");
        print_hex((u32)({ float f = (float)v; u32 b; memcpy(&b, &f, 4); b; }));
        rt_putc('\n');
    }
    /* FBSTP / FBLD */
    u8 bcd[10];
    ld v = -987654321012345678.0L;
    __asm__ volatile("fbstp %0" : "=m"(bcd) : "t"(v) : "st");
    print("fbstp: ");
    for (int i = 9; i >= 0; i--) {
        rt_putc("0123456789abcdef"[bcd[i] >> 4]);
        rt_putc("0123456789abcdef"[bcd[i] & 15]);
    }
    ld back;
    __asm__ volatile("fbld %1" : "=t"(back) : "m"(bcd));
    print("  fbld back: ");
    print_ld_bits(back);
    rt_putc('\n');
    /* FXAM classes */
    volatile double z = 0;
    ld cls[] = {0.0L, -1.5L, 1.0L / z, 0.0L / z, 1e-4940L};
    print("fxam:");
    for (int i = 0; i < 5; i++) {
        print(" ");
        print_hex(x_fxam(cls[i]));
    }
    rt_putc('\n');
}

static void save_restore(void)
{
    static u8 fx[512] __attribute__((aligned(16)));
    static u8 sv[108];
    __asm__ volatile("fninit\n\tfldpi\n\tfld1\n\tfldl2e");
    __asm__ volatile("fxsave %0" : "=m"(fx));
    __asm__ volatile("fnsave %0" : "=m"(sv));       /* re-initialises the x87 */
    u16 sw_after = fstsw();
    __asm__ volatile("frstor %0" : : "m"(sv));
    ld top;
    __asm__ volatile("fstpt %0" : "=m"(top));
    __asm__ volatile("fninit");
    __asm__ volatile("fxrstor %0" : : "m"(fx));
    ld top2;
    __asm__ volatile("fstpt %0" : "=m"(top2));
    __asm__ volatile("fninit");
    print("fxsave: fcw ");
    print_hex(fx[0] | fx[1] << 8);
    print(" fsw ");
    print_hex(fx[2] | fx[3] << 8);
    print(" ftw ");
    print_hex(fx[4]);
    print("; fnsave: sw after ");
    print_hex(sw_after);
    print(" tw ");
    print_hex(sv[8] | sv[9] << 8);
    rt_putc('\n');
    show_ld("frstor top", top);
    show_ld("fxrstor top", top2);
}

int kmain(u32 magic, struct mb_info *mbi)
{
    (void)magic;
    (void)mbi;
    fpu_setup();
    print("bt fpu guest\n");
    show("0.1 + 0.2", 0.1 + *(volatile double *)&(double){0.2}, 17);
    show("1e300 * 1e10", *(volatile double *)&(double){1e300} * 1e10, 3);
    show("-123.456e-20", *(volatile double *)&(double){-123.456e-20}, 6);
    nbody(1000);
    lu_solve();
    mandelbrot();
    series();
    transcendentals();
    controls();
    flags();
    conversions();
    save_restore();
    print("fpu: done\n");
    return 0;
}
