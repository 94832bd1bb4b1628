"""What every device looks like to the machine."""


class Device:
    """A device: port and/or MMIO handlers, reset(), a state dict, an optional timer.

    Subclasses list the ports they answer as ``ports = [(first, count), ...]`` and
    MMIO windows as ``mmio = [(base, size), ...]``; the machine registers them.

    A timer device (see bt.clock.VirtualClock.add_timer) also has
    ``next_deadline_ns(now_ns) -> int | None``, the clock time of its next interrupt
    edge not yet raised (None: none pending), and ``update(now_ns)``, which raises the
    interrupts for everything that happened up to now_ns.  Its registers are computed
    from the clock when read; it is never called per tick.
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
