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
    """Port 0x80: POST codes, recorded (the last 4096)."""
    name = "post"

    def __init__(self, base=0x80):
        self.ports = [(base, 1)]
        self.codes = []

    def io_read(self, port, size):
        return self.codes[-1] if self.codes else 0xFF

    def io_write(self, port, size, value):
        self.codes.append(value & 0xFF)
        if len(self.codes) > 4096:
            del self.codes[:1024]

    def state(self):
        return {"codes": list(self.codes)}

    def set_state(self, s):
        self.codes = list(s["codes"])


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
