"""The 8254 programmable interval timer (ports 0x40-0x43) and system control port B (0x61).

Three counters clocked at 1.193182 MHz.  Nothing ticks: a counter remembers the clock
edge at which its count was loaded (``t0_tick``, in PIT clocks of the machine's
``VirtualClock``) and its value, its OUT pin and its interrupt edges are computed from
``clock.now_ns()`` when somebody asks.  Counter 0's OUT drives IRQ 0: the device tells
the clock when the next rising edge of OUT is due (``next_deadline_ns``) and raises the
IRQ in ``update(now)``; if the guest fell behind by several periods the edges coalesce
into one request (the 8259A's IRR holds one), and the extra ones are counted in
``lost_ticks``.

Timing follows the 8254 data sheet: a count written to the counter is loaded on the
next CLK edge and decremented on each following one; in mode 0 OUT goes high N+1
clocks after the count is written, in mode 2 OUT is low for the one clock in which the
count is 1 and the period is N, in mode 3 OUT is high for ceil(N/2) and low for
floor(N/2) clocks.  A count of 0 means 65536 (10000 in BCD).

Counters 0 and 1 have GATE tied high; counter 2's GATE is port 0x61 bit 0.  Port 0x61
reads back bits 0-3 as written, bit 4 is the refresh-request toggle (derived from time:
one half period per 15.085 us, the PC's DRAM refresh period), bit 5 is counter 2's OUT.

Modes: 0, 1, 2, 3, 4, 5 (6 and 7 are 2 and 3).  Not modelled: the partial-write stop of
mode 0 (counting stops when the first byte of a two-byte count is written), and a count
read before its load clock returns the count as written rather than the stale one.
"""
from bt.devices.base import Device

PIT_HZ = 1193182
REFRESH_HALF_NS = 15085


def _bcd_to_int(v):
    return ((v >> 12) & 0xF) * 1000 + ((v >> 8) & 0xF) * 100 + ((v >> 4) & 0xF) * 10 + (v & 0xF)


def _int_to_bcd(v):
    return ((v // 1000 % 10) << 12) | ((v // 100 % 10) << 8) | ((v // 10 % 10) << 4) | (v % 10)


class _Counter:
    __slots__ = ("ctrl", "mode", "rw", "bcd", "count", "have_count", "t0_tick", "c_base",
                 "running", "triggered", "gate", "wlow", "rmsb", "latch",
                 "status", "pending", "pending_at", "next_k")

    def __init__(self, gate):
        self.gate = gate
        self.program(0x36)              # power-on state: undefined; we pick mode 3, OUT high

    def program(self, cw):
        self.ctrl = cw & 0x3F
        self.rw = (cw >> 4) & 3
        m = (cw >> 1) & 7
        self.mode = m - 4 if m >= 6 else m
        self.bcd = cw & 1
        self.count = 0
        self.have_count = False
        self.t0_tick = 0
        self.c_base = 0
        self.triggered = False
        self.running = False
        self.wlow = None                # first byte of a lo/hi write
        self.rmsb = False               # next free-running read of a lo/hi counter is the MSB
        self.latch = []                 # latched count bytes still to be read
        self.status = None              # latched status byte
        self.pending = None             # mode 2/3: a new count, loaded at the period's end
        self.pending_at = 0
        self.next_k = 1                 # counter 0: the next OUT rising edge not yet raised

    def n_eff(self, count=None):
        n = self.count if count is None else count
        if self.bcd:
            n = _bcd_to_int(n)
            return n or 10000
        return n or 0x10000


class Pit8254(Device):
    """8254 PIT with port 0x61.

    Args:
        clock: a bt.clock.VirtualClock (anything with now_ns()).
        pic: the PicPair counter 0 interrupts (or None).

    Counters: ``irq0_edges`` (rising edges of counter 0's OUT), ``lost_ticks`` (edges
    that coalesced into an already requested IRQ 0).
    """

    name = "pit"
    ports = [(0x40, 4), (0x61, 1)]

    def __init__(self, clock, pic=None):
        self.clock = clock
        self.pic = pic
        self.irq0_edges = 0
        self.lost_ticks = 0
        self.reset()

    def reset(self):
        self.ch = [_Counter(1), _Counter(1), _Counter(0)]
        self.port61 = 0

    # ------------------------------------------------------------------ time
    def _tick(self, now_ns=None):
        if now_ns is None:
            now_ns = self.clock.now_ns()
        return now_ns * PIT_HZ // 1_000_000_000

    @staticmethod
    def _tick_ns(tick):
        """The first nanosecond at which the clock edge number ``tick`` has happened."""
        return -((-tick * 1_000_000_000) // PIT_HZ)

    def _c(self, ch, t):
        """Clocks counted since the load at PIT tick t, or None if nothing is loaded."""
        if not ch.have_count or (ch.mode in (1, 5) and not ch.triggered):
            return None
        if not ch.running:
            return ch.c_base
        c = ch.c_base + t - ch.t0_tick
        return c if c >= 0 else None

    def _switch(self, ch):
        """Mode 2/3: the period in which a new count was written has ended."""
        n_old = ch.n_eff()
        at = ch.pending_at
        ch.t0_tick += at - ch.c_base
        ch.c_base = 0
        ch.count = ch.pending
        ch.pending = None
        if ch.next_k * n_old <= at:     # the edge at the boundary is not raised yet
            ch.next_k = 0
        else:
            ch.next_k = 1

    def _advance(self, ch, t):
        while ch.pending is not None:
            c = self._c(ch, t)
            if c is None or c < ch.pending_at:
                return
            self._switch(ch)

    def _value(self, ch, t):
        """The counting element as the guest would read it (16 bits, BCD if set)."""
        c = self._c(ch, t)
        if c is None:
            return ch.count                 # not loaded yet: the count as written
        n = ch.n_eff()
        mod = 10000 if ch.bcd else 0x10000
        if ch.mode == 2:
            v = n - c % n
        elif ch.mode == 3:
            hi = (n + 1) // 2
            p = c % n
            if p >= hi:
                p -= hi
            v = (n & ~1) - 2 * p        # odd N: N-1 loaded, down by two to 0
        else:
            v = (n - c) % mod
        v %= mod
        return _int_to_bcd(v) if ch.bcd else v

    def _out(self, ch, t):
        c = self._c(ch, t)
        m = ch.mode
        if c is None:
            return 0 if m == 0 else 1      # mode 0: low from the mode write to the end
        n = ch.n_eff()
        if m == 0:
            return 1 if c >= n else 0
        if m == 1:
            return 0 if c < n else 1
        if m == 2:
            if not ch.gate:
                return 1
            return 0 if c % n == n - 1 else 1
        if m == 3:
            if not ch.gate:
                return 1
            return 1 if c % n < (n + 1) // 2 else 0
        return 0 if c == n else 1      # modes 4 and 5: a one-clock strobe

    def _edge_c(self, ch, k):
        """The count of clocks at which OUT rises for the k-th time, or None."""
        n = ch.n_eff()
        if ch.mode in (2, 3):
            return k * n
        if k != 1:
            return None
        return n if ch.mode in (0, 1) else n + 1

    def out(self, i):
        """OUT of counter i now (0 or 1)."""
        t = self._tick()
        ch = self.ch[i]
        self._advance(ch, t)
        return self._out(ch, t)

    # ------------------------------------------------------------------ timer interface
    def next_deadline_ns(self, now_ns):
        """When counter 0's OUT next rises (the IRQ 0 edge), or None."""
        ch = self.ch[0]
        if not ch.have_count or not ch.running:
            return None
        ec = self._edge_c(ch, ch.next_k)
        if ec is None:
            return None
        return self._tick_ns(ch.t0_tick + ec - ch.c_base)

    def update(self, now_ns):
        """Raise IRQ 0 for the rising edges of counter 0's OUT up to now (once)."""
        n = self._edges(self._tick(now_ns))
        if n:
            self.irq0_edges += n
            self.lost_ticks += n - 1
            if self.pic is not None:
                self.pic.raise_irq(0)

    def _edges(self, t):
        ch = self.ch[0]
        raised = 0
        while True:
            c = self._c(ch, t)
            if c is None:
                break
            limit = c if ch.pending is None else min(c, ch.pending_at)
            ec = self._edge_c(ch, ch.next_k)
            if ec is not None and ec <= limit:
                if ch.mode in (2, 3):
                    last = limit // ch.n_eff()
                    raised += last - ch.next_k + 1
                    ch.next_k = last + 1
                else:
                    raised += 1
                    ch.next_k += 1
            if ch.pending is not None and c >= ch.pending_at:
                self._switch(ch)
                continue
            break
        return raised

    # ------------------------------------------------------------------ programming
    def _load(self, i, value, t):
        ch = self.ch[i]
        if ch.mode in (2, 3) and ch.have_count:
            c = self._c(ch, t)
            if c is not None and ch.running:
                # a new count while counting: loaded at the end of the current period
                n = ch.n_eff()
                ch.pending = value
                ch.pending_at = (c // n + 1) * n
                return
        if i == 0:
            self.update(self.clock.now_ns())        # edges of the old count first
        ch.count = value
        ch.have_count = True
        ch.pending = None
        ch.c_base = 0
        ch.t0_tick = t + 1                  # loaded on the next CLK
        ch.next_k = 1
        ch.triggered = False
        ch.running = bool(ch.gate) if ch.mode in (0, 2, 3, 4) else False

    def _set_gate(self, ch, g, t):
        if g == ch.gate:
            return
        self._advance(ch, t)
        m = ch.mode
        if m in (0, 4) or (m in (2, 3) and not g):
            if not g:                       # counting pauses
                c = self._c(ch, t)
                ch.c_base = c if c is not None else 0
                ch.running = False
            else:                           # and resumes on the next CLK
                ch.t0_tick = t
                ch.running = ch.have_count
        elif g and ch.have_count:           # rising GATE: modes 2/3 reload, 1/5 trigger
            if ch.pending is not None:
                ch.count, ch.pending = ch.pending, None
            ch.c_base = 0
            ch.t0_tick = t + 1
            ch.next_k = 1
            ch.running = True
            ch.triggered = True
        ch.gate = g

    def _status(self, ch, t):
        null = (not ch.have_count or ch.pending is not None or
                (ch.mode not in (1, 5) and ch.running and t < ch.t0_tick))
        return (self._out(ch, t) << 7) | (int(null) << 6) | ch.ctrl

    def _latch_count(self, ch, t):
        if ch.latch:
            return                          # latched and not yet read: ignored
        v = self._value(ch, t)
        if ch.rw == 1:
            ch.latch = [v & 0xFF]
        elif ch.rw == 2:
            ch.latch = [v >> 8]
        else:
            ch.latch = [v & 0xFF, v >> 8]

    def io_write(self, port, size, value):
        value &= 0xFF
        t = self._tick()
        if port == 0x61:
            self.port61 = value & 0x0F
            self._set_gate(self.ch[2], value & 1, t)
            return
        if port == 0x43:
            sel = value >> 6
            if sel == 3:                    # read-back command
                for i in range(3):
                    if value & (2 << i):
                        ch = self.ch[i]
                        self._advance(ch, t)
                        if not value & 0x10 and ch.status is None:
                            ch.status = self._status(ch, t)
                        if not value & 0x20:
                            self._latch_count(ch, t)
                return
            ch = self.ch[sel]
            self._advance(ch, t)
            if not value & 0x30:            # counter latch command
                self._latch_count(ch, t)
                return
            if sel == 0:
                self.update(self.clock.now_ns())
            before = self._out(ch, t)
            ch.program(value)
            if sel == 0 and not before and self._out(ch, t):
                self._raise0()              # OUT went high on the mode write
            return
        i = port - 0x40
        ch = self.ch[i]
        self._advance(ch, t)
        if ch.rw == 1:
            self._load(i, value, t)
        elif ch.rw == 2:
            self._load(i, value << 8, t)
        elif ch.wlow is None:
            ch.wlow = value
        else:
            low, ch.wlow = ch.wlow, None
            self._load(i, low | (value << 8), t)

    def _raise0(self):
        self.irq0_edges += 1
        if self.pic is not None:
            self.pic.raise_irq(0)

    def io_read(self, port, size):
        t = self._tick()
        if port == 0x61:
            ch2 = self.ch[2]
            self._advance(ch2, t)
            refresh = (self.clock.now_ns() // REFRESH_HALF_NS) & 1
            return self.port61 | (refresh << 4) | (self._out(ch2, t) << 5)
        if port == 0x43:
            return 0xFF                     # the control word register is write-only
        ch = self.ch[port - 0x40]
        self._advance(ch, t)
        if ch.status is not None:
            v, ch.status = ch.status, None
            return v
        if ch.latch:
            return ch.latch.pop(0)
        v = self._value(ch, t)
        if ch.rw == 1:
            return v & 0xFF
        if ch.rw == 2:
            return v >> 8
        msb, ch.rmsb = ch.rmsb, not ch.rmsb
        return (v >> 8) if msb else (v & 0xFF)

    # ------------------------------------------------------------------ snapshot
    def state(self):
        return {"ch": [{k: (list(getattr(c, k)) if k == "latch" else getattr(c, k))
                        for k in _Counter.__slots__} for c in self.ch],
                "port61": self.port61, "irq0_edges": self.irq0_edges,
                "lost_ticks": self.lost_ticks}

    def set_state(self, s):
        for c, d in zip(self.ch, s["ch"]):
            for k in _Counter.__slots__:
                setattr(c, k, list(d[k]) if k == "latch" else d[k])
        self.port61 = s["port61"]
        self.irq0_edges = s["irq0_edges"]
        self.lost_ticks = s["lost_ticks"]
