/* The system runtime of bt's protected-mode test kernels (systest, pagetest):
 * a GDT with ring 0 and ring 3 segments and a TSS (SS0:ESP0, I/O permission
 * bitmap), an IDT whose 256 vectors all go to one C dispatcher, the 8259A pair
 * remapped to 0x20/0x28 and masked, a way to run ring-3 code and come back, and
 * the PASS/FAIL bookkeeping.  Every fact used here is from the Intel SDM vol. 3
 * (ch. 3 segmentation, 4 paging, 5 protection, 6 interrupts, 7 tasks). */
#ifndef BT_GUEST_SYS_H
#define BT_GUEST_SYS_H
#include "rt.h"

/* Selectors of the GDT built by sys_init (index << 3 | RPL). */
#define KCODE   0x08        /* ring 0 code, flat 4 GiB, 32-bit */
#define KDATA   0x10        /* ring 0 data, flat */
#define UCODE   0x1B        /* ring 3 code, flat (GDT index 3, RPL 3) */
#define UDATA   0x23        /* ring 3 data, flat (index 4, RPL 3) */
#define TSSSEL  0x28        /* the 32-bit TSS */
#define GDT_ENTRIES 32      /* entries 6.. are free for the kernels' own descriptors */

/* The register frame every vector's stub builds on the stack (lowest address
   first): segment registers, PUSHA image, vector, error code (0 where the CPU
   pushes none), then what the CPU pushed.  uesp/uss are there only when the
   interrupt came from ring 3. */
struct frame {
    u32 gs, fs, es, ds;
    u32 edi, esi, ebp, kesp, ebx, edx, ecx, eax;
    u32 vec, err;
    u32 eip, cs, eflags;
    u32 uesp, uss;
};

struct tss {
    u32 link, esp0, ss0, esp1, ss1, esp2, ss2, cr3, eip, eflags;
    u32 eax, ecx, edx, ebx, esp, ebp, esi, edi;
    u32 es, cs, ss, ds, fs, gs, ldt;
    u16 trap, iomap;
    u8 iobitmap[8192 + 1];          /* + the 0xFF byte that must end the bitmap */
} __attribute__((packed, aligned(16)));

extern u64 gdt[GDT_ENTRIES];
extern u64 idt[256];
extern struct tss tss;
extern u32 isr_stubs[256];          /* the address of each vector's stub (sysstub.S) */
extern u8 kstack0_top[];            /* TSS.ESP0 */

/* Descriptors (SDM vol. 3 3.4.5, 5.8.3, 6.11). */
u64 seg_desc(u32 base, u32 limit, u32 access, u32 flags);   /* flags: 0xC = G|D/B, 0x4 = D/B */
u64 gate_desc(u16 sel, u32 off, u32 type_dpl_p, u32 params);
void set_idt(int vec, u32 type_dpl_p);                      /* to the vector's own stub */

void sys_init(void);

/* Exceptions the kernel provokes on purpose.  arm_resume(eip): the next exception
   is recorded in `caught` and the handler resumes at `eip` (with TF and NT clear);
   arm_return(): the next exception is recorded and run_user returns. */
struct caught {
    u32 n, vec, err, eip, cs, eflags, uesp, uss, cr2, dr6;
    u32 frame_at;                   /* address of the frame on the handler's stack */
};
extern volatile struct caught caught;
void arm_resume(u32 eip);
void arm_return(void);
void disarm(void);
void arm_reset(void);               /* forget the last exception (caught.* = ~0) */
extern volatile u32 sys_armed, sys_arm_eip, probe_eip, probe_next;

/* PROBE(pre, insn, asm operands...): run `pre`, then `insn` with an exception
   armed to resume after it; probe_eip = the address of insn, probe_next = the
   address after it.  The operand list starts with ':' (extended asm). */
#define PROBE(pre, insn, ...)                                                  \
    do {                                                                       \
        arm_reset();                                                           \
        __asm__ volatile("movl $1f, probe_eip\n\tmovl $2f, probe_next\n\t"    \
                         "movl $2f, sys_arm_eip\n\tmovl $1, sys_armed\n\t"     \
                         pre "\n1:\t" insn "\n2:\n\tmovl $0, sys_armed"         \
                         __VA_ARGS__);                                         \
    } while (0)

/* Run ring-3 code: IRET to the frame; returns when the code makes the exit system
   call (INT 0x80 with EAX = SYS_EXIT: its frame is copied to `uexit`) or when an
   armed exception or a hook asks for it (sys_return = 1).  user() builds a frame
   with flat ring-3 segments, zeroed registers, `ustack_top` and the given EFLAGS. */
#define SYS_EXIT 0xE0
void run_user(struct frame *f);
void user(u32 eip, u32 eflags);
extern struct frame uexit;
extern volatile u32 sys_return;
extern u8 ustack_top[];

/* Hooks: return 1 when the event was handled. */
extern int (*irq_hook)(struct frame *f);        /* vectors 0x20-0x2F */
extern int (*syscall_hook)(struct frame *f);    /* INT 0x80 with EAX != SYS_EXIT */
extern int (*fault_hook)(struct frame *f);      /* any exception 0-31, before `caught` */

/* Checks: one line each. */
void check(const char *name, u32 got, u32 want);
void check_exc(const char *name, u32 vec, u32 err, u32 eip, u32 cs);  /* against `caught` */
void check_noexc(const char *name, u32 n_before);
int finish(const char *guest);     /* prints the summary; returns the number of failures */
extern u32 n_pass, n_fail;
extern const char *sys_guest;     /* the name in the summary line */

/* Port and register access. */
static inline void outb(u16 port, u8 v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline u8 inb(u16 port) { u8 v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
#define RDCR(n) ({ u32 _v; __asm__ volatile("mov %%cr" #n ", %0" : "=r"(_v)); _v; })
#define WRCR(n, v) __asm__ volatile("mov %0, %%cr" #n : : "r"((u32)(v)) : "memory")
static inline void wrmsr(u32 msr, u32 lo, u32 hi) { __asm__ volatile("wrmsr" : : "c"(msr), "a"(lo), "d"(hi)); }
static inline u64 rdtsc(void) { u32 lo, hi; __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi)); return ((u64)hi << 32) | lo; }
static inline void invlpg(u32 va) { __asm__ volatile("invlpg (%0)" : : "r"(va) : "memory"); }

/* 8259A and 8254 */
void pic_mask(u8 master, u8 slave);
void pit_start(u16 divisor);        /* channel 0, mode 2 (rate generator) */

#endif
