/* Output and string helpers shared by both builds of every guest. */
#include "rt.h"

void print(const char *s)
{
    while (*s)
        rt_putc(*s++);
}

static void print_hex_digits(u64 v, int digits)
{
    print("0x");
    for (int i = digits - 1; i >= 0; i--)
        rt_putc("0123456789abcdef"[(v >> (4 * i)) & 0xF]);
}

void print_hex(u32 v) { print_hex_digits(v, 8); }
void print_hex64(u64 v) { print_hex_digits(v, 16); }

void print_dec(u32 v)
{
    char buf[12];
    int i = 0;
    do {
        buf[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        rt_putc(buf[--i]);
}

void print_dec64(u64 v)
{
    char buf[21];
    int i = 0;
    do {
        buf[i++] = (char)('0' + (u32)(v % 10));     /* __umoddi3 */
        v /= 10;                                    /* __udivdi3 */
    } while (v);
    while (i)
        rt_putc(buf[--i]);
}

void print_sdec(s32 v)
{
    if (v < 0) {
        rt_putc('-');
        print_dec(0u - (u32)v);
    } else {
        print_dec((u32)v);
    }
}

/* Byte loops the compiler must not turn back into calls to themselves. */
#define NO_BUILTIN __attribute__((no_builtin))

NO_BUILTIN void *memset(void *d, int c, size_t n)
{
    u8 *p = d;
    while (n--)
        *p++ = (u8)c;
    return d;
}

NO_BUILTIN void *memcpy(void *d, const void *s, size_t n)
{
    u8 *p = d;
    const u8 *q = s;
    while (n--)
        *p++ = *q++;
    return d;
}

NO_BUILTIN int memcmp(const void *a, const void *b, size_t n)
{
    const u8 *p = a, *q = b;
    for (; n; n--, p++, q++)
        if (*p != *q)
            return *p - *q;
    return 0;
}

NO_BUILTIN size_t strlen(const char *s)
{
    size_t n = 0;
    while (s[n])
        n++;
    return n;
}
