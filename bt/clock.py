"""Virtual time: the clock the timer devices (PIT, RTC) read, and their deadline registry.

Two modes:

* ``"virtual"`` (the default): time is a pure function of the machine's virtual
  instruction count (retired instructions plus those skipped by HLT fast-forward),
  ``now_ns = count * ns_per_insn``.  The same image then sees the same timer interrupts
  at the same instructions on every run, under every strategy.
* ``"host"``: time is the host's monotonic clock (``time.perf_counter_ns``) since the
  clock was made; runs are not reproducible, but a guest's idea of time follows the wall.

The default rate is 1 ns per instruction: a 1 GHz CPU retiring one instruction per
cycle.  It is a round, documented number, not a measurement; it keeps the arithmetic
exact (integers only) and puts a 100 Hz PIT tick 10 million instructions apart.

Devices never get a callback per tick: a timer device computes its registers from
``now_ns()`` when the guest reads them, and tells the clock only when its next
*interrupt edge* is due (``next_deadline_ns``).  The machine asks the clock for the
earliest deadline, runs the core at most ``insns_until(deadline)`` instructions, then
calls ``run_due()``, which lets each due device raise its IRQ.
"""
import time
from fractions import Fraction

MODES = ("virtual", "host")


class VirtualClock:
    """Nanoseconds since machine start, and the registry of timer devices.

    Args:
        source: callable() -> int, the machine's virtual instruction count.
        ns_per_insn: virtual nanoseconds per instruction (int, float or Fraction > 0;
            default 1: see the module docstring).  Kept as an exact fraction.
        mode: "virtual" (deterministic, from ``source``) or "host" (perf_counter_ns).

    Raises:
        ValueError: an unknown mode or a rate <= 0.
    """

    name = "clock"
    ports = ()
    mmio = ()

    def __init__(self, source, ns_per_insn=1.0, mode="virtual"):
        if mode not in MODES:
            raise ValueError(f"unknown clock mode {mode!r} (choose from: virtual, host)")
        rate = Fraction(ns_per_insn).limit_denominator(1 << 20)
        if rate <= 0:
            raise ValueError(f"ns_per_insn must be > 0, got {ns_per_insn!r}")
        self.source = source
        self.mode = mode
        self.ns_per_insn = rate
        self._num, self._den = rate.numerator, rate.denominator
        self._offset_ns = 0                     # added to the derived time (snapshots)
        self._host_t0 = time.perf_counter_ns()
        self._timers = []

    # ------------------------------------------------------------------ time
    def now_ns(self):
        """Nanoseconds since machine start (an int, never decreasing)."""
        if self.mode == "virtual":
            return self.source() * self._num // self._den + self._offset_ns
        return time.perf_counter_ns() - self._host_t0 + self._offset_ns

    def insns_until(self, deadline_ns):
        """Instructions to run before ``now_ns()`` reaches deadline_ns (0 if it has).

        Exact in virtual mode.  In host mode there is no exact answer; the estimate
        uses ns_per_insn, so the core comes back at about the right time and the
        machine asks again.
        """
        now = self.now_ns()
        if deadline_ns <= now:
            return 0
        # smallest n with (count + n) * num // den + offset >= deadline
        if self.mode == "virtual":
            count = self.source()
            need = deadline_ns - self._offset_ns            # count * num // den >= need
            target = -((-need * self._den) // self._num)    # ceil(need * den / num)
            return max(1, target - count)
        return max(1, -((-(deadline_ns - now) * self._den) // self._num))

    # ------------------------------------------------------------------ timers
    def add_timer(self, dev):
        """Register a device with next_deadline_ns(now_ns) and update(now_ns)."""
        if dev not in self._timers:
            self._timers.append(dev)
        return dev

    def remove_timer(self, dev):
        if dev in self._timers:
            self._timers.remove(dev)

    @property
    def timers(self):
        return tuple(self._timers)

    def next_deadline_ns(self):
        """The earliest pending deadline over all timers, or None."""
        now = self.now_ns()
        best = None
        for dev in self._timers:
            d = dev.next_deadline_ns(now)
            if d is not None and (best is None or d < best):
                best = d
        return best

    def run_due(self):
        """Let every timer whose deadline has passed raise its interrupts.

        Returns:
            int: how many timers were updated.
        """
        now = self.now_ns()
        n = 0
        for dev in self._timers:
            d = dev.next_deadline_ns(now)
            if d is not None and d <= now:
                dev.update(now)
                n += 1
        return n

    # ------------------------------------------------------------------ snapshot
    # The clock can be attached to a Machine with add_device() (it has no ports) so
    # that snapshots carry it; in virtual mode its time is restored with the
    # instruction count, in host mode it resumes from the saved time.
    def reset(self):
        """A machine reset does not turn back time (the RTC keeps running)."""

    def state(self):
        return {"mode": self.mode, "offset_ns": self._offset_ns, "now_ns": self.now_ns()}

    def set_state(self, s):
        if s["mode"] != self.mode:
            raise ValueError(f"snapshot clock mode {s['mode']!r} != {self.mode!r}")
        if self.mode == "virtual":
            # continue from the saved time whatever the source reads now (a machine
            # snapshot may not restore every count the source adds up)
            self._offset_ns = s["now_ns"] - self.source() * self._num // self._den
        else:
            self._offset_ns = 0
            self._host_t0 = time.perf_counter_ns() - s["now_ns"]

    def io_read(self, port, size):
        return (1 << (8 * size)) - 1

    def io_write(self, port, size, value):
        pass
