"""Multiboot v1 kernels (ELF or a.out kludge), with the information block and memory map.

Machine state at entry, as the Multiboot 0.6.96 spec says: EAX = 0x2BADB002, EBX =
physical address of the information block, 32-bit flat code and data segments,
CR0.PE = 1, paging off, IF = 0, A20 on.  bt's "prot" reset state is exactly that.
"""
import struct

from bt.loaders.elf import check_segments, is_elf, parse_elf32, write_segments
from bt.loaders.errors import LoaderError

MAGIC = 0x1BADB002
BOOT_MAGIC = 0x2BADB002
SEARCH = 8192

F_PAGE_ALIGN = 1 << 0
F_MEMINFO = 1 << 1
F_VIDEO = 1 << 2
F_AOUT = 1 << 16
SUPPORTED_REQUIRED = F_PAGE_ALIGN | F_MEMINFO    # bits 0-15 a kernel may demand

INFO_ADDR = 0x9000        # information block and everything it points to: 0x9000..0x9FBFF
INFO_LIMIT = 0x9FC00


def find_header(data):
    """(offset, flags, fields) of the Multiboot header in the first 8 KiB, or None."""
    limit = min(len(data), SEARCH) - 12
    for off in range(0, limit + 1, 4):
        magic, flags, checksum = struct.unpack_from("<III", data, off)
        if magic == MAGIC and (magic + flags + checksum) & 0xFFFFFFFF == 0:
            return off, flags
    return None


def load_multiboot(m, data, cmdline="", modules=(), name="image"):
    """Load a Multiboot kernel and its modules, build the info block, set the entry state.

    Args:
        modules: [(name, bytes, string)] loaded page-aligned after the kernel.
    Returns:
        the entry point.
    """
    hdr = find_header(data)
    if hdr is None:
        raise LoaderError(f"{name}: no Multiboot header in the first 8 KiB")
    hoff, flags = hdr
    required = flags & 0xFFFF
    if required & ~SUPPORTED_REQUIRED & ~F_VIDEO:
        raise LoaderError(f"{name}: Multiboot header at offset {hoff:#x} requires features "
                          f"{required & ~SUPPORTED_REQUIRED:#x} bt does not provide")
    ram = m.ram.shape[0]
    if ram < 0x200000:
        raise LoaderError(f"{name}: a Multiboot kernel needs at least 2 MiB of RAM")
    if flags & F_AOUT:
        if hoff + 32 > len(data):
            raise LoaderError(f"{name}: Multiboot header at offset {hoff:#x} is truncated "
                              "(a.out kludge fields missing)")
        header_addr, load_addr, load_end, bss_end, entry = struct.unpack_from("<IIIII", data,
                                                                               hoff + 12)
        if load_addr > header_addr:
            raise LoaderError(f"{name}: load_addr {load_addr:#x} above header_addr "
                              f"{header_addr:#x} (header at offset {hoff:#x})")
        file_start = hoff - (header_addr - load_addr)
        if file_start < 0:
            raise LoaderError(f"{name}: header_addr - load_addr points before the file start "
                              f"(header at offset {hoff:#x})")
        size = (load_end - load_addr) if load_end else (len(data) - file_start)
        if load_end and load_end < load_addr:
            raise LoaderError(f"{name}: load_end_addr {load_end:#x} below load_addr")
        if file_start + size > len(data):
            raise LoaderError(f"{name}: the a.out kludge asks for {size:#x} bytes from offset "
                              f"{file_start:#x}, past the end of the file ({len(data):#x}): truncated")
        memsz = max(size, (bss_end - load_addr) if bss_end else 0)
        segs = [(load_addr, file_start, size, memsz, hoff)]
    elif is_elf(data):
        entry, segs = parse_elf32(data, name)
    else:
        raise LoaderError(f"{name}: Multiboot header at offset {hoff:#x} without the a.out "
                          "kludge, and the file is not ELF")
    for paddr, _o, _f, memsz, h in segs:
        if paddr < 0x100000 and paddr + memsz > INFO_ADDR:
            raise LoaderError(f"{name}: segment at {paddr:#x}+{memsz:#x} overlaps bt's low "
                              f"memory area {INFO_ADDR:#x}..0x100000")
    check_segments(segs, ram, entry, name)
    end = write_segments(m, data, segs)

    # modules, page-aligned after the kernel
    mods = []
    addr = (end + 0xFFF) & ~0xFFF
    for mname, mdata, mstr in modules:
        if addr + len(mdata) > ram:
            raise LoaderError(f"module {mname}: {len(mdata):#x} bytes at {addr:#x} do not fit "
                              f"in RAM ({ram:#x} bytes)")
        m.mem.write(addr, mdata)
        mods.append((addr, addr + len(mdata), mstr))
        addr = (addr + len(mdata) + 0xFFF) & ~0xFFF

    _write_info(m, cmdline, mods)
    m.reset("prot")
    m.cpu.eax = BOOT_MAGIC
    m.cpu.ebx = INFO_ADDR
    m.cpu.esp = 0x7C00     # undefined by the spec; somewhere harmless
    m.cpu.eip = entry
    return entry


def _write_info(m, cmdline, mods):
    ram = m.ram.shape[0]
    heap = INFO_ADDR + 0x100
    blob = bytearray()

    def put(b):
        nonlocal blob
        a = heap + len(blob)
        blob += b
        while len(blob) % 4:
            blob.append(0)
        return a

    cmd_addr = put(cmdline.encode() + b"\0")
    name_addr = put(b"bt\0")
    mod_strs = [put(s.encode() + b"\0") for _s, _e, s in mods]
    mods_addr = put(b"".join(struct.pack("<IIII", s, e, sa, 0)
                             for (s, e, _), sa in zip(mods, mod_strs))) if mods else 0
    mmap = [(0, 0x9FC00, 1), (0x9FC00, 0x400, 2), (0xF0000, 0x10000, 2),
            (0x100000, ram - 0x100000, 1)]
    mmap_blob = b"".join(struct.pack("<IQQI", 20, base, length, typ) for base, length, typ in mmap)
    mmap_addr = put(mmap_blob)
    if heap + len(blob) > INFO_LIMIT:
        raise LoaderError("command line and module strings are too long for the info area")
    flags = (1 << 0) | (1 << 2) | (1 << 6) | (1 << 9)      # mem, cmdline, mmap, loader name
    if mods:
        flags |= 1 << 3
    # flags mem_lower mem_upper boot_device cmdline mods_count mods_addr syms[4]
    # mmap_length mmap_addr drives_length drives_addr config_table boot_loader_name
    info = struct.pack("<17I", flags, 639, (ram - 0x100000) // 1024, 0xFFFFFFFF,
                       cmd_addr, len(mods), mods_addr, 0, 0, 0, 0,
                       len(mmap_blob), mmap_addr, 0, 0, 0, name_addr)
    m.mem.write(INFO_ADDR, info.ljust(0x58, b"\0"))
    m.mem.write(heap, bytes(blob))
