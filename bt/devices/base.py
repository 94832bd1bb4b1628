"""What every device looks like to the machine."""


class Device:
    """A device: port and/or MMIO handlers, reset(), a state dict, an optional timer.

    Subclasses list the ports they answer as ``ports = [(first, count), ...]`` and
    MMIO windows as ``mmio = [(base, size), ...]``; the machine registers them.
    """

    name = "device"
    ports = ()
    mmio = ()

    def io_read(self, port, size):
        return (1 << (8 * size)) - 1

    def io_write(self, port, size, value):
        pass

    def mmio_read(self, addr, size):
        return (1 << (8 * size)) - 1

    def mmio_write(self, addr, size, value):
        pass

    def reset(self):
        """Return to the power-on state."""

    def state(self):
        """A dict that set_state() takes back (for snapshots)."""
        return {}

    def set_state(self, state):
        pass

    def timer(self, now):
        """Called with virtual time when next_deadline() has passed; None: no timer."""
        return None
