"""The I/O-port bus: routes IN/OUT from the guest to device handlers.

A handler is any object with ``io_read(port, size) -> int`` and
``io_write(port, size, value)``; it is registered for a range of ports.
Unmapped ports read as all ones and drop writes, counted per port.
"""
from collections import Counter


class PortBus:
    def __init__(self):
        self._map = {}              # port -> handler
        self.unmapped_reads = Counter()
        self.unmapped_writes = Counter()
        self.log_unmapped = None    # callable(str) to log unmapped accesses

    def register(self, handler, first, count=1):
        """Route ports [first, first+count) to handler."""
        for p in range(first, first + count):
            if p in self._map and self._map[p] is not handler:
                raise ValueError(f"port {p:#x} is already routed to {self._map[p]!r}")
            self._map[p] = handler

    def read(self, port, size):
        h = self._map.get(port)
        if h is None:
            self.unmapped_reads[port] += 1
            if self.log_unmapped:
                self.log_unmapped(f"unmapped port read {port:#06x} size {size}")
            return (1 << (8 * size)) - 1
        return h.io_read(port, size) & ((1 << (8 * size)) - 1)

    def write(self, port, size, value):
        h = self._map.get(port)
        if h is None:
            self.unmapped_writes[port] += 1
            if self.log_unmapped:
                self.log_unmapped(f"unmapped port write {port:#06x} size {size} value {value:#x}")
            return
        h.io_write(port, size, value & ((1 << (8 * size)) - 1))


class MmioBus:
    """Physical address windows outside RAM routed to device handlers.

    A handler has ``mmio_read(addr, size) -> int`` and ``mmio_write(addr, size, value)``;
    addresses are physical.  The engine calls ``read``/``write`` for an access that
    misses RAM; an access no window covers stops the run (BAD_MEM).
    """

    def __init__(self):
        self._windows = []          # sorted (base, end, handler)

    def register(self, handler, base, size):
        end = base + size
        for b, e, h in self._windows:
            if base < e and b < end:
                raise ValueError(f"MMIO window {base:#x}+{size:#x} overlaps {b:#x}..{e:#x} of {h!r}")
        self._windows.append((base, end, handler))
        self._windows.sort(key=lambda w: w[0])

    def find(self, addr, size):
        for b, e, h in self._windows:
            if b <= addr and addr + size <= e:
                return h
        return None

    def __bool__(self):
        return bool(self._windows)
