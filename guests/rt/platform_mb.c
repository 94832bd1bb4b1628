/* The Multiboot kernel platform: COM1 16550 UART output, isa-debug-exit. */
#include "rt.h"

const int rt_native = 0;

#define COM1 0x3F8
#define EXIT_PORT 0xF4

static inline void outb(u16 port, u8 v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline u8 inb(u16 port)
{
    u8 v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

static int serial_ready;

static void serial_init(void)
{
    outb(COM1 + 1, 0x00);       /* IER: no interrupts */
    outb(COM1 + 3, 0x80);       /* LCR: DLAB=1 to set the divisor */
    outb(COM1 + 0, 0x01);       /* DLL: divisor 1 = 115200 baud */
    outb(COM1 + 1, 0x00);       /* DLM */
    outb(COM1 + 3, 0x03);       /* LCR: 8 data bits, no parity, 1 stop bit, DLAB=0 */
    outb(COM1 + 2, 0xC7);       /* FCR: enable and clear FIFOs, 14-byte threshold */
    outb(COM1 + 4, 0x0B);       /* MCR: DTR, RTS, OUT2 */
    serial_ready = 1;
}

void rt_putc(char c)
{
    if (!serial_ready)
        serial_init();
    /* Wait for THR empty (LSR bit 5), but not forever: a missing UART must
       not hang the guest. */
    for (u32 spins = 0; spins < 1000000; spins++)
        if (inb(COM1 + 5) & 0x20)
            break;
    outb(COM1, (u8)c);
}

void exit(int code)
{
    /* QEMU isa-debug-exit: the VM ends with status (code << 1) | 1. */
    outb(EXIT_PORT, (u8)code);
    for (;;)
        __asm__ volatile("cli; hlt");
}
