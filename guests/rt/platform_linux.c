/* The native oracle platform: a static i386 Linux program (musl).
   Output with write(2) on stdout, exit with exit(2); no Multiboot info. */
#include "rt.h"

const int rt_native = 1;

/* musl's own declarations would clash with rt.h's freestanding types. */
extern long write(int fd, const void *buf, unsigned long n);
extern void _exit(int code) __attribute__((noreturn));

static char obuf[4096];
static unsigned olen;

static void flush(void)
{
    unsigned off = 0;
    while (off < olen) {
        long n = write(1, obuf + off, olen - off);
        if (n <= 0)
            break;
        off += (unsigned)n;
    }
    olen = 0;
}

void rt_putc(char c)
{
    obuf[olen++] = c;
    if (c == '\n' || olen == sizeof obuf)
        flush();
}

void exit(int code)
{
    flush();
    _exit(code);
}

int main(void)
{
    exit(kmain(0, NULL));
}
