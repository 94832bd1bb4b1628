"""ELF32 (i386) executables: PT_LOAD segments by physical address."""
import struct

from bt.loaders.errors import LoaderError

PT_LOAD = 1
EM_386 = 3


def is_elf(data):
    return data[:4] == b"\x7fELF"


def parse_elf32(data, name="image"):
    """Validate an ELF32 i386 executable; returns (entry, [(paddr, offset, filesz, memsz)])."""
    if len(data) < 52:
        raise LoaderError(f"{name}: truncated ELF header ({len(data)} bytes, need 52) at offset 0")
    if not is_elf(data):
        raise LoaderError(f"{name}: not an ELF file (bad magic at offset 0)")
    if data[4] != 1:
        raise LoaderError(f"{name}: ELF class {data[4]} at offset 4 is not ELFCLASS32")
    if data[5] != 1:
        raise LoaderError(f"{name}: ELF data encoding {data[5]} at offset 5 is not little-endian")
    (e_type, e_machine, _ver, entry, phoff, _shoff, _flags, _ehsize, phentsize,
     phnum) = struct.unpack_from("<HHIIIIIHHH", data, 16)
    if e_machine != EM_386:
        raise LoaderError(f"{name}: ELF machine {e_machine} at offset 0x12 is not EM_386 (3)")
    if e_type not in (2, 3):
        raise LoaderError(f"{name}: ELF type {e_type} at offset 0x10 is not an executable")
    if phnum == 0:
        raise LoaderError(f"{name}: no program headers (e_phnum at offset 0x2c is 0)")
    if phentsize < 32:
        raise LoaderError(f"{name}: program header size {phentsize} at offset 0x2a is too small")
    if phoff + phnum * phentsize > len(data):
        raise LoaderError(f"{name}: program headers at offset {phoff:#x} run past the end of "
                          f"the file ({len(data):#x} bytes)")
    segs = []
    for i in range(phnum):
        off = phoff + i * phentsize
        p_type, p_offset, _vaddr, p_paddr, p_filesz, p_memsz, _f, _a = struct.unpack_from(
            "<IIIIIIII", data, off)
        if p_type != PT_LOAD or p_memsz == 0:
            continue
        if p_filesz > p_memsz:
            raise LoaderError(f"{name}: segment {i} (header at offset {off:#x}) has "
                              f"p_filesz {p_filesz:#x} > p_memsz {p_memsz:#x}")
        if p_offset + p_filesz > len(data):
            raise LoaderError(f"{name}: segment {i} data at offset {p_offset:#x}+{p_filesz:#x} "
                              f"runs past the end of the file ({len(data):#x} bytes): truncated")
        segs.append((p_paddr, p_offset, p_filesz, p_memsz, off))
    if not segs:
        raise LoaderError(f"{name}: no loadable (PT_LOAD) segment")
    return entry, segs


def check_segments(segs, ram_size, entry, name="image"):
    """Segments must fit in RAM, not overlap, and contain the entry point."""
    for paddr, _o, _fs, memsz, hoff in segs:
        if paddr + memsz > ram_size:
            raise LoaderError(f"{name}: segment at {paddr:#x}+{memsz:#x} (header at offset "
                              f"{hoff:#x}) is outside RAM ({ram_size:#x} bytes); try a larger -m")
    ordered = sorted(segs)
    for a, b in zip(ordered, ordered[1:]):
        if a[0] + a[3] > b[0]:
            raise LoaderError(f"{name}: segments at {a[0]:#x}+{a[3]:#x} (header at offset "
                              f"{a[4]:#x}) and {b[0]:#x} (header at offset {b[4]:#x}) overlap")
    if not any(p <= entry < p + ms for p, _o, _f, ms, _h in segs):
        raise LoaderError(f"{name}: entry point {entry:#x} is outside every loadable segment")


def write_segments(m, data, segs):
    """Copy checked segments into physical memory, zeroing their BSS; returns the end."""
    end = 0
    for paddr, off, filesz, memsz, _h in segs:
        m.mem.write(paddr, data[off:off + filesz])
        if memsz > filesz:
            m.mem.write(paddr + filesz, bytes(memsz - filesz))
        end = max(end, paddr + memsz)
    return end


def load_elf(m, data, name="image"):
    """Load an ELF32 executable into physical memory; EIP = entry. Returns (entry, end)."""
    entry, segs = parse_elf32(data, name)
    check_segments(segs, m.ram.shape[0], entry, name)
    end = write_segments(m, data, segs)
    m.cpu.eip = entry
    return entry, end
