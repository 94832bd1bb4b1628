"""Flat binary: the file's bytes at a physical address, entry at a given address."""
from bt.loaders.errors import LoaderError


def load_flat(m, data, addr, entry=None, name="image"):
    """Copy data to physical addr; EIP = entry (default addr). Returns the entry."""
    ram = m.ram.shape[0]
    if not data:
        raise LoaderError(f"{name}: empty image")
    if addr < 0 or addr + len(data) > ram:
        raise LoaderError(f"{name}: {len(data):#x} bytes at {addr:#x} do not fit in RAM "
                          f"({ram:#x} bytes)")
    entry = addr if entry is None else entry
    if not addr <= entry < addr + len(data):
        raise LoaderError(f"{name}: entry {entry:#x} is outside the image "
                          f"({addr:#x}..{addr + len(data):#x})")
    m.mem.write(addr, data)
    m.cpu.eip = entry
    return entry
