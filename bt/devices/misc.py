"""Small ISA ports: the exit port (QEMU isa-debug-exit), POST codes, Bochs debug console."""
from bt.devices.base import Device


class ExitPort(Device):
    """isa-debug-exit at 0xF4: an OUT of v ends the run with status (v << 1) | 1."""
    name = "exit"

    def __init__(self, machine, base=0xF4):
        self.machine = machine
        self.ports = [(base, 1)]

    def io_read(self, port, size):
        return (1 << (8 * size)) - 1

    def io_write(self, port, size, value):
        self.machine.guest_exit((value << 1) | 1)


class PostPort(Device):
    """Port 0x80: POST codes, recorded (the last 4096).

    Given the machine's ``core``, the port lives in C (``Core.map_port_c``): IN and
    OUT complete inside the engine's loop, and this object is a view of its state.
    """
    name = "post"
    RING = 4096

    def __init__(self, base=0x80, core=None):
        self.ports = [(base, 1)]
        self._core = core
        self._codes = []
        if core is not None:
            core.map_port_c(base, "post")

    @property
    def codes(self):
        if self._core is not None:
            return list(self._core.post_codes()[1])
        return self._codes

    @property
    def count(self):
        """Codes written since reset."""
        if self._core is not None:
            return self._core.post_codes()[0]
        return len(self._codes)

    def io_read(self, port, size):
        codes = self.codes
        return codes[-1] if codes else 0xFF

    def io_write(self, port, size, value):
        if self._core is not None:
            n, codes = self._core.post_codes()
            self._core.post_set(n + 1, codes + bytes([value & 0xFF]))
            return
        self._codes.append(value & 0xFF)
        if len(self._codes) > self.RING:
            del self._codes[:len(self._codes) - self.RING]

    def reset(self):
        if self._core is not None:
            self._core.post_set(0, b"")
        self._codes = []

    def state(self):
        return {"count": self.count, "codes": list(self.codes)}

    def set_state(self, s):
        if self._core is not None:
            self._core.post_set(s.get("count", len(s["codes"])), bytes(s["codes"]))
        else:
            self._codes = list(s["codes"])


class DebugConsole(Device):
    """Port 0xE9 (Bochs): bytes written go to an output; reads answer 0xE9."""
    name = "debugcon"

    def __init__(self, out=None, base=0xE9):
        self.ports = [(base, 1)]
        self._out = out
        self.output = bytearray()

    def io_read(self, port, size):
        return 0xE9

    def io_write(self, port, size, value):
        b = value & 0xFF
        self.output.append(b)
        if self._out is None:
            return
        if callable(self._out):
            self._out(bytes([b]))
        else:
            self._out.write(chr(b))
            if b == 10:
                self._out.flush()


class FpuErrorPort(Device):
    """Port 0xF0 of the PC/AT: a write clears the x87 error latch, lowering IRQ 13
    (raised when the x87 signals FERR# with CR0.NE=0, the DOS-compatible mode)."""
    name = "fpu-error"

    def __init__(self, pic, core=None, base=0xF0):
        self.ports = [(base, 1)]
        self.pic = pic
        self.core = core

    def io_read(self, port, size):
        return 0xFF

    def io_write(self, port, size, value):
        self.pic.set_irq(13, 0)
        if self.core is not None:
            self.core.ferr_clear()
