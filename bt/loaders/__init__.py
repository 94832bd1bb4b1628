"""Loaders: put an image in guest memory and set the CPU to its entry state."""
import os

from bt.loaders.elf import is_elf, load_elf
from bt.loaders.errors import LoaderError
from bt.loaders.flat import load_flat
from bt.loaders.multiboot import find_header, load_multiboot

__all__ = ["load_image", "LoaderError", "load_flat", "load_elf", "load_multiboot"]


def _read(path, what="image"):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise LoaderError(f"{path}: no such {what}")
    except IsADirectoryError:
        raise LoaderError(f"{path}: is a directory, not an {what}")
    except OSError as e:
        raise LoaderError(f"{path}: cannot read {what}: {e.strerror}")


def load_image(m, path, cmdline="", modules=(), flat_addr=None):
    """Load the image at path into machine m: Multiboot if it has a Multiboot header,
    else plain ELF32, else (with flat_addr) a flat binary.  Returns a short description."""
    data = _read(path)
    name = os.path.basename(path)
    mods = []
    for mspec in modules:
        mpath, _, mstr = mspec.partition(" ")
        mods.append((mpath, _read(mpath, "module"), mspec))
    if flat_addr is not None:
        if mods or cmdline:
            raise LoaderError("--module and --append need a Multiboot kernel, not a flat binary")
        load_flat(m, data, flat_addr, name=name)
        return "flat"
    if find_header(data) is not None:
        load_multiboot(m, data, cmdline, mods, name=name)
        return "multiboot"
    if is_elf(data):
        if mods or cmdline:
            raise LoaderError(f"{name}: --module and --append need a Multiboot kernel; this ELF "
                              "has no Multiboot header")
        load_elf(m, data, name=name)
        return "elf"
    raise LoaderError(f"{name}: unsupported format (no Multiboot header in the first 8 KiB and "
                      "not ELF); for a raw binary give --flat ADDR")
