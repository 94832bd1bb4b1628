"""Build small guest images in memory for loader and CLI tests."""
import struct

from oracle import asm

MB_MAGIC = 0x1BADB002


def serial_program(text, exit_code, base):
    """32-bit code: check EAX = Multiboot magic, print text on COM1, exit via port 0xF4."""
    src = f"""
        cmp eax, 0x2BADB002
        jne bad
        mov esi, ebx
        mov dx, 0x3F8
    """
    for ch in text.encode():
        src += f"mov al, {ch}\n out dx, al\n"
    src += f"""
        mov al, {exit_code}
        out 0xF4, al
        hlt
    bad:
        mov al, 0x7F
        out 0xF4, al
        hlt
    """
    return asm(src, 32, base)


def multiboot_aout(text="hi\n", exit_code=0, load=0x100000, bss=0x1000, flags_extra=0):
    hdr_len = 32
    code = serial_program(text, exit_code, load + hdr_len)
    flags = (1 << 16) | (1 << 1) | flags_extra
    hdr = struct.pack("<IIIIIIII", MB_MAGIC, flags, (-(MB_MAGIC + flags)) & 0xFFFFFFFF,
                      load, load, load + hdr_len + len(code), load + hdr_len + len(code) + bss,
                      load + hdr_len)
    return hdr + code


def elf32(segments, entry, machine=3, extra_header=b""):
    """segments: [(paddr, data, memsz)] -> ELF32 executable bytes."""
    phoff = 52
    n = len(segments)
    data_off = phoff + 32 * n + len(extra_header)
    eh = b"\x7fELF" + bytes([1, 1, 1]) + bytes(9)
    eh += struct.pack("<HHIIIIIHHHHHH", 2, machine, 1, entry, phoff, 0, 0, 52, 32, n, 40, 0, 0)
    ph = b""
    body = b""
    off = data_off
    for paddr, data, memsz in segments:
        ph += struct.pack("<IIIIIIII", 1, off, paddr, paddr, len(data), memsz, 5, 0x1000)
        body += data
        off += len(data)
    return eh + ph + extra_header + body


def multiboot_elf(text="elf\n", exit_code=0, load=0x100000):
    """An ELF kernel whose first segment starts with a Multiboot header (no a.out kludge)."""
    flags = 1 << 1
    hdr = struct.pack("<III", MB_MAGIC, flags, (-(MB_MAGIC + flags)) & 0xFFFFFFFF)
    code = serial_program(text, exit_code, load + len(hdr))
    return elf32([(load, hdr + code, len(hdr) + len(code) + 0x100)], load + len(hdr))
