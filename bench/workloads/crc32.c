/* Bitwise reflected CRC-32 (poly 0xEDB88320, as zlib's crc32) over n bytes
   (a 256 KiB pseudo-random buffer, read round and round).  Checksum: the CRC. */
#include "workload.h"

#define BUF (256u << 10)
static u8 buf[BUF];

const char workload_name[] = "crc32";

u32 workload_run(u32 n)
{
    u32 s = 12345;
    if (n)
        for (u32 i = 0; i < BUF; i += 4) {
            u32 v = lcg(&s);
            buf[i] = (u8)(v >> 24);
            buf[i + 1] = (u8)(v >> 16);
            buf[i + 2] = (u8)(v >> 8);
            buf[i + 3] = (u8)v;
        }
    u32 crc = 0xFFFFFFFFu;
    for (u32 i = 0; i < n; i++) {
        crc ^= buf[i & (BUF - 1)];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1)));
    }
    return ~crc;
}
