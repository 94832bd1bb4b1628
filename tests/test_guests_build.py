"""The bundled guests (bt/guests/*.elf) are exactly what guests/build.py builds
from the sources in guests/, and they are well-formed Multiboot ELF kernels."""
import os
import struct
import subprocess
import sys

import pytest

from bt import guests

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "guests", "build.py")
NAMES = ["hello", "selfcheck", "systest", "pagetest", "fpu"]


def _ziglang():
    try:
        import ziglang  # noqa: F401
    except ImportError:
        pytest.skip("ziglang is not installed (pip install ziglang, or bt's [test] extra): "
                    "cannot rebuild the guests")
    sys.path.insert(0, os.path.dirname(BUILD))
    try:
        import build as guest_build
    finally:
        sys.path.pop(0)
    have = guest_build.zig_version()
    if have != guest_build.ZIG_VERSION:
        pytest.skip(f"ziglang {have} is installed but the guests were built with "
                    f"{guest_build.ZIG_VERSION}: its output may differ byte for byte")


@pytest.mark.parametrize("name", NAMES)
def test_rebuild_is_byte_identical(name, tmp_path):
    if not os.path.exists(BUILD):
        pytest.skip("guests/ sources are not here (an installed bt without its source tree)")
    _ziglang()
    r = subprocess.run([sys.executable, BUILD, name, "--out", str(tmp_path)],
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    built = (tmp_path / f"{name}.elf").read_bytes()
    with open(guests.path(name), "rb") as f:
        committed = f.read()
    assert built == committed, (f"bt/guests/{name}.elf is stale: run python guests/build.py "
                                f"and commit the result")


@pytest.mark.parametrize("name", NAMES)
def test_bundled_guest_is_a_multiboot_elf(name):
    data = open(guests.path(name), "rb").read()
    assert data[:4] == b"\x7fELF" and data[4] == 1 and data[5] == 1     # ELF32, little endian
    e_type, e_machine, _, e_entry, e_phoff = struct.unpack_from("<HHIII", data, 16)
    assert (e_type, e_machine) == (2, 3)                                 # EXEC, i386
    phentsize, phnum = struct.unpack_from("<HH", data, 42)
    loads = []
    for i in range(phnum):
        p_type, off, vaddr, paddr, filesz, memsz = struct.unpack_from("<6I", data, e_phoff + i * phentsize)
        if p_type == 1:
            loads.append((off, vaddr, paddr, filesz, memsz))
    assert loads and min(v for _, v, _, _, _ in loads) == 0x100000      # linked at 1 MiB
    assert all(v == p for _, v, p, _, _ in loads)
    assert any(v <= e_entry < v + fs for _, v, _, fs, _ in loads)
    # The Multiboot v1 header: 4-byte aligned, within the first 8 KiB, checksum 0.
    for off in range(0, min(len(data), 8192) - 12, 4):
        magic, flags, check = struct.unpack_from("<III", data, off)
        if magic == 0x1BADB002:
            assert (magic + flags + check) & 0xFFFFFFFF == 0
            assert flags & 2                          # asks for memory information
            assert not flags & 0x10000                # ELF: no a.out address fields
            break
    else:
        pytest.fail("no Multiboot header in the first 8 KiB")


def test_guest_path_helper():
    assert set(NAMES) <= set(guests.names())
    assert guests.path("hello").endswith(os.path.join("guests", "hello.elf"))
