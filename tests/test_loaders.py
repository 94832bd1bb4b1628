"""Loaders on good and bad images."""
import struct

import pytest

from bt import ExitKind, Machine
from bt.loaders import LoaderError, load_elf, load_flat, load_image, load_multiboot
from bt.loaders.multiboot import BOOT_MAGIC, INFO_ADDR
from images import elf32, multiboot_aout, multiboot_elf, serial_program


def boot(data, tmp_path, strategy="block", **kw):
    p = tmp_path / "k.bin"
    p.write_bytes(data)
    m = Machine(ram_size=8 << 20, strategy=strategy)
    kind = load_image(m, str(p), **kw)
    return m, kind


def test_multiboot_aout_boots_and_exits(tmp_path, strategy):
    m, kind = boot(multiboot_aout("hello\n", 5), tmp_path, strategy)
    assert kind == "multiboot"
    assert m.cpu.eax == BOOT_MAGIC and m.cpu.ebx == INFO_ADDR
    assert m.cpu.eflags & 0x200 == 0 and m.cpu.cr0 & 0x80000001 == 1
    ex = m.run(max_insns=10_000)
    assert ex.kind == ExitKind.GUEST_EXIT and ex.status == (5 << 1) | 1
    assert m.uart.output == b"hello\n"


def test_multiboot_elf_boots(tmp_path, strategy):
    m, kind = boot(multiboot_elf("from elf\n", 0), tmp_path, strategy)
    assert kind == "multiboot"
    ex = m.run(max_insns=10_000)
    assert ex.status == 1 and m.uart.output == b"from elf\n"


def test_multiboot_info_block(tmp_path):
    mod = tmp_path / "mod.bin"
    mod.write_bytes(b"MODULE-DATA" * 100)
    m, _ = boot(multiboot_aout(), tmp_path, cmdline="console=ttyS0 quiet",
                modules=[f"{mod} arg1 arg2"])
    flags, lower, upper = struct.unpack("<III", m.mem.read(INFO_ADDR, 12))
    assert flags & 0x24d == 0x24d            # mem, cmdline, mods, mmap, loader name
    assert lower == 639 and upper == (8 << 20) // 1024 - 1024
    cmd_addr, mods_count, mods_addr = struct.unpack("<III", m.mem.read(INFO_ADDR + 16, 12))
    assert m.mem.read(cmd_addr, 20) == b"console=ttyS0 quiet\0"
    assert mods_count == 1
    start, end, string = struct.unpack("<III", m.mem.read(mods_addr, 12))
    assert start % 4096 == 0 and end - start == 1100
    assert m.mem.read(start, 11) == b"MODULE-DATA"
    assert m.mem.read(string, 200).split(b"\0")[0].endswith(b"mod.bin arg1 arg2")
    mmap_len, mmap_addr = struct.unpack("<II", m.mem.read(INFO_ADDR + 44, 8))
    entries = [struct.unpack_from("<IQQI", m.mem.read(mmap_addr + i, 24)) for i in range(0, mmap_len, 24)]
    assert (20, 0x100000, (8 << 20) - 0x100000, 1) in entries
    name_addr = struct.unpack("<I", m.mem.read(INFO_ADDR + 64, 4))[0]
    assert m.mem.read(name_addr, 3) == b"bt\0"


def test_plain_elf(tmp_path):
    code = serial_program("x", 0, 0x200000)
    m, kind = boot(elf32([(0x200000, code, len(code))], 0x200000), tmp_path)
    assert kind == "elf" and m.cpu.eip == 0x200000


def test_elf_bss_is_zeroed(tmp_path):
    m = Machine(ram_size=4 << 20)
    m.ram[0x300000:0x301000] = 0xAA
    load_elf(m, elf32([(0x300000, b"\x90\xf4", 0x1000)], 0x300000))
    assert m.mem.read(0x300002, 0xFFE) == bytes(0xFFE)


def test_flat(tmp_path):
    p = tmp_path / "f.bin"
    p.write_bytes(b"\x90\x90\xf4")
    m = Machine(ram_size=1 << 20)
    assert load_image(m, str(p), flat_addr=0x7C00) == "flat"
    assert m.run().kind == ExitKind.HLT and m.cpu.eip == 0x7C03


@pytest.mark.parametrize("data,msg", [
    (b"\x7fELF" + bytes(20), "truncated ELF header"),
    (b"\x7fELF" + bytes([2, 1, 1]) + bytes(45), "not ELFCLASS32"),
    (elf32([(0x100000, b"\x90", 1)], 0x100000, machine=62), "not EM_386"),
    (elf32([(0x100000, b"\x90", 1)], 0x100000)[:-1] + b"", "truncated"),
    (elf32([(0x7FFF000, b"\x90" * 16, 0x2000)], 0x7FFF000), "outside RAM"),
    (elf32([(0x100000, b"\x90" * 16, 0x100), (0x100080, b"\x90", 1)], 0x100000), "overlap"),
    (elf32([(0x100000, b"\x90", 1)], 0x500000), "entry point"),
    (b"MZ" + bytes(100), "unsupported format"),
])
def test_bad_elf_images(tmp_path, data, msg):
    p = tmp_path / "bad.bin"
    p.write_bytes(data)
    with pytest.raises(LoaderError, match=msg):
        load_image(Machine(ram_size=4 << 20), str(p))


def test_bad_multiboot_images(tmp_path):
    m = Machine(ram_size=8 << 20)
    good = multiboot_aout()
    # truncated: load_end_addr beyond the file
    hdr = bytearray(good)
    struct.pack_into("<I", hdr, 20, 0x100000 + len(good) + 100)
    with pytest.raises(LoaderError, match="truncated"):
        load_multiboot(m, bytes(hdr))
    # does not fit in RAM
    with pytest.raises(LoaderError, match="outside RAM"):
        load_multiboot(Machine(ram_size=2 << 20), multiboot_aout(load=0x1FFFF0))
    # a required feature bt lacks (bit 15)
    with pytest.raises(LoaderError, match="requires features"):
        load_multiboot(m, multiboot_aout(flags_extra=1 << 15))
    # bad checksum: no header found
    bad = bytearray(good)
    bad[8] ^= 1
    with pytest.raises(LoaderError, match="no Multiboot header"):
        load_multiboot(m, bytes(bad))
    # over bt's low-memory info area
    with pytest.raises(LoaderError, match="low memory"):
        load_multiboot(m, multiboot_aout(load=0x9000))


def test_missing_and_directory(tmp_path):
    m = Machine(ram_size=4 << 20)
    with pytest.raises(LoaderError, match="no such image"):
        load_image(m, str(tmp_path / "nope"))
    with pytest.raises(LoaderError, match="directory"):
        load_image(m, str(tmp_path))


def test_flat_errors():
    m = Machine(ram_size=1 << 20)
    with pytest.raises(LoaderError, match="do not fit"):
        load_flat(m, b"\x90" * 16, (1 << 20) - 8)
    with pytest.raises(LoaderError, match="empty"):
        load_flat(m, b"", 0)
