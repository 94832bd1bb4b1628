/* The system runtime of the protected-mode test kernels: see sys.h. */
#include "sys.h"

u64 gdt[GDT_ENTRIES] __attribute__((aligned(8)));
u64 idt[256] __attribute__((aligned(8)));
struct tss tss;
u32 isr_stubs[256];
extern char isr_stubs_start[];

volatile struct caught caught;
volatile u32 sys_armed, sys_arm_eip;    /* 0 no, 1 resume at sys_arm_eip, 2 return */
volatile u32 probe_eip, probe_next;
volatile u32 sys_return;
struct frame uexit;
u32 n_pass, n_fail;
const char *sys_guest = "kernel";

int (*irq_hook)(struct frame *f);
int (*syscall_hook)(struct frame *f);
int (*fault_hook)(struct frame *f);

u64 seg_desc(u32 base, u32 limit, u32 access, u32 flags)
{
    return (u64)(limit & 0xFFFF) | ((u64)(base & 0xFFFFFF) << 16) | ((u64)(access & 0xFF) << 40)
         | ((u64)((limit >> 16) & 0xF) << 48) | ((u64)(flags & 0xF) << 52)
         | ((u64)(base >> 24) << 56);
}

u64 gate_desc(u16 sel, u32 off, u32 type_dpl_p, u32 params)
{
    return (u64)(off & 0xFFFF) | ((u64)sel << 16) | ((u64)(params & 0x1F) << 32)
         | ((u64)(type_dpl_p & 0xFF) << 40) | ((u64)(off >> 16) << 48);
}

void set_idt(int vec, u32 type_dpl_p)
{
    idt[vec] = gate_desc(KCODE, isr_stubs[vec], type_dpl_p, 0);
}

void pic_mask(u8 master, u8 slave)
{
    outb(0x21, master);
    outb(0xA1, slave);
}

void pit_start(u16 divisor)
{
    outb(0x43, 0x34);               /* channel 0, lobyte/hibyte, mode 2, binary */
    outb(0x40, divisor & 0xFF);
    outb(0x40, divisor >> 8);
}

static void pic_init(void)
{
    /* ICW1: edge, cascade, ICW4 needed; ICW2: vector base; ICW3: slave on IRQ 2;
       ICW4: 8086 mode, normal EOI.  Then mask every line (OCW1). */
    outb(0x20, 0x11); outb(0xA0, 0x11);
    outb(0x21, 0x20); outb(0xA1, 0x28);
    outb(0x21, 0x04); outb(0xA1, 0x02);
    outb(0x21, 0x01); outb(0xA1, 0x01);
    pic_mask(0xFF, 0xFF);
}

void sys_init(void)
{
    pic_init();
    /* Code and data descriptors start with the Accessed bit set, as the CPU
       would set it on the first load (SDM 3.4.5.1): LAR then reads the same
       whether or not a segment has been loaded yet. */
    gdt[0] = 0;
    gdt[1] = seg_desc(0, 0xFFFFF, 0x9B, 0xC);           /* ring 0 code, execute/read */
    gdt[2] = seg_desc(0, 0xFFFFF, 0x93, 0xC);           /* ring 0 data, read/write */
    gdt[3] = seg_desc(0, 0xFFFFF, 0xFB, 0xC);           /* ring 3 code */
    gdt[4] = seg_desc(0, 0xFFFFF, 0xF3, 0xC);           /* ring 3 data */
    tss.ss0 = KDATA;
    tss.esp0 = (u32)kstack0_top;
    tss.iomap = (u16)((u32)tss.iobitmap - (u32)&tss);
    for (u32 i = 0; i < sizeof tss.iobitmap; i++)
        tss.iobitmap[i] = 0xFF;                         /* every port denied, + the end byte */
    gdt[5] = seg_desc((u32)&tss, sizeof tss - 1, 0x89, 0x0); /* 32-bit TSS, available */
    struct { u16 limit; u32 base; } __attribute__((packed)) gdtr = { sizeof gdt - 1, (u32)gdt },
        idtr = { sizeof idt - 1, (u32)idt };
    __asm__ volatile("lgdt %0\n\t"
                     "ljmp $0x08, $1f\n"
                     "1:\tmov %1, %%ds\n\tmov %1, %%es\n\tmov %1, %%fs\n\tmov %1, %%gs\n\t"
                     "mov %1, %%ss"
                     : : "m"(gdtr), "r"(KDATA) : "memory");
    __asm__ volatile("ltr %w0" : : "r"(TSSSEL));
    for (int v = 0; v < 256; v++) {
        isr_stubs[v] = (u32)isr_stubs_start + 16 * v;
        set_idt(v, 0x8E);                               /* 32-bit interrupt gate, DPL 0 */
    }
    set_idt(3, 0xEE);                                   /* INT3 and INTO usable from ring 3 */
    set_idt(4, 0xEE);
    set_idt(0x80, 0xEF);                                /* the system call: DPL 3 trap gate */
    __asm__ volatile("lidt %0" : : "m"(idtr));
}

void arm_reset(void)
{
    caught.vec = caught.err = caught.eip = caught.cs = 0xFFFFFFFF;
}

void arm_resume(u32 eip)
{
    caught.vec = caught.err = caught.eip = caught.cs = 0xFFFFFFFF;
    sys_arm_eip = eip;
    sys_armed = 1;
}

void arm_return(void)
{
    caught.vec = caught.err = caught.eip = caught.cs = 0xFFFFFFFF;
    sys_armed = 2;
}

void disarm(void)
{
    sys_armed = 0;
}

void user(u32 eip, u32 eflags)
{
    static struct frame f;
    memset(&f, 0, sizeof f);
    f.gs = f.fs = f.es = f.ds = f.uss = UDATA;
    f.cs = UCODE;
    f.eip = eip;
    f.eflags = eflags;
    f.uesp = (u32)ustack_top;
    memset(&uexit, 0, sizeof uexit);
    run_user(&f);
}

static void unexpected(struct frame *f)
{
    print("FAIL unexpected_exception got=");
    print_hex(f->vec); rt_putc('/'); print_hex(f->err); rt_putc('/'); print_hex(f->eip);
    rt_putc('/'); print_hex(f->cs);
    print(" want=none\n");
    n_fail++;
    exit(finish(sys_guest));
}

void isr_dispatch(struct frame *f)
{
    u32 v = f->vec;
    if (v >= 0x20 && v < 0x30) {
        if (irq_hook && irq_hook(f))
            return;
        if (v >= 0x28)
            outb(0xA0, 0x20);
        outb(0x20, 0x20);
        return;
    }
    if (v == 0x80) {
        if (f->eax == SYS_EXIT) {
            uexit = *f;
            sys_return = 1;
            return;
        }
        if (syscall_hook && syscall_hook(f))
            return;
        f->eax = 0xFFFFFFFF;
        return;
    }
    if (fault_hook && fault_hook(f))
        return;
    if (sys_armed) {
        caught.n++;
        caught.vec = v;
        caught.err = f->err;
        caught.eip = f->eip;
        caught.cs = f->cs;
        caught.eflags = f->eflags;
        caught.uesp = f->uesp;
        caught.uss = f->uss;
        caught.cr2 = RDCR(2);
        caught.frame_at = (u32)f;
        if (v == 1) {
            u32 dr6;
            __asm__ volatile("mov %%dr6, %0" : "=r"(dr6));
            caught.dr6 = dr6;
        }
        if (sys_armed == 1) {
            f->eip = sys_arm_eip;
            f->eflags &= ~0x4100u;                      /* TF, NT */
        } else {
            sys_return = 1;
        }
        sys_armed = 0;
        return;
    }
    unexpected(f);
}

static void line(const char *verdict, const char *name)
{
    print(verdict);
    rt_putc(' ');
    print(name);
}

void check(const char *name, u32 got, u32 want)
{
    if (got == want) {
        n_pass++;
        line("PASS", name);
        rt_putc('\n');
        return;
    }
    n_fail++;
    line("FAIL", name);
    print(" got=");
    print_hex(got);
    print(" want=");
    print_hex(want);
    rt_putc('\n');
}

static void exc4(u32 vec, u32 err, u32 eip, u32 cs)
{
    print_hex(vec); rt_putc('/'); print_hex(err); rt_putc('/'); print_hex(eip);
    rt_putc('/'); print_hex(cs);
}

void check_exc(const char *name, u32 vec, u32 err, u32 eip, u32 cs)
{
    u32 gcs = cs ? caught.cs : 0;
    if (caught.vec == vec && caught.err == err && caught.eip == eip && gcs == cs) {
        n_pass++;
        line("PASS", name);
        rt_putc('\n');
        return;
    }
    n_fail++;
    line("FAIL", name);
    print(" got=");
    exc4(caught.vec, caught.err, caught.eip, gcs);
    print(" want=");
    exc4(vec, err, eip, cs);
    rt_putc('\n');
}

void check_noexc(const char *name, u32 n_before)
{
    disarm();
    if (caught.n == n_before) {
        n_pass++;
        line("PASS", name);
        rt_putc('\n');
        return;
    }
    n_fail++;
    line("FAIL", name);
    print(" got=");
    exc4(caught.vec, caught.err, caught.eip, caught.cs);
    print(" want=no_exception\n");
}

int finish(const char *guest)
{
    print(guest);
    print(": ");
    print_dec(n_pass);
    print(" passed, ");
    print_dec(n_fail);
    print(" failed\n");
    return n_fail > 255 ? 255 : (int)n_fail;
}
