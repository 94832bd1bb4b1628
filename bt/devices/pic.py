"""The PC's two 8259A programmable interrupt controllers, cascaded on master IRQ 2.

Ports: master 0x20 (A0=0) / 0x21 (A0=1), slave 0xA0 / 0xA1, and the edge/level
control registers (ELCR) 0x4D0 (IRQ 0-7) / 0x4D1 (IRQ 8-15).

Model of the request inputs:

* Edge-triggered (the PC default): a rising edge on IRn sets IRR bit n; the bit stays
  set until the interrupt is acknowledged (or the chip is re-initialised), so a device
  may pulse its line (``raise_irq``), as the PIT's OUT does.
* Level-triggered (ELCR bit, or ICW1.LTIM for the whole chip): IRR follows the line;
  a request that goes away before the acknowledge is lost.

When the CPU acknowledges (``ack()``, the INTA cycle) and no request survives, the
chip answers the default IR7 vector without setting ISR (the 8259A's "default IR7",
the spurious interrupt).  The slave's spurious happens after the master has already
accepted IR2, so the master's ISR bit 2 is set and needs an EOI, as on hardware.

The master's IR2 input is the slave's INT output.  The INTA cycle drops it, so that a
slave still requesting (AEOI, or a second request) makes a fresh edge.
"""
from bt.devices.base import Device

ELCR_VALID = (0xF8, 0xDE)       # IRQ 0-2, 8 and 13 are always edge (PIIX-style ELCR)


class _Chip:
    """One 8259A."""

    __slots__ = ("irr", "isr", "imr", "lines", "elcr", "base", "icw1", "icw3", "icw4",
                 "init_step", "read_isr", "poll", "special_mask", "lowest",
                 "rotate_aeoi")

    def __init__(self):
        self.lines = 0
        self.elcr = 0
        self.power_on()

    def power_on(self):
        self.irr = self.isr = 0
        self.imr = 0xFF
        self.base = 0
        self.icw1 = self.icw3 = self.icw4 = 0
        self.init_step = 0          # 0: ready; 2, 3, 4: the ICW expected next
        self.read_isr = False
        self.poll = False
        self.special_mask = False
        self.lowest = 7             # the level with the lowest priority (rotation)
        self.rotate_aeoi = False

    # level-triggered inputs: ICW1.LTIM for all of them, or the ELCR bit
    def level_mask(self):
        return 0xFF if self.icw1 & 0x08 else self.elcr

    def order(self):
        """IR levels from the highest priority to the lowest."""
        first = (self.lowest + 1) & 7
        return [(first + i) & 7 for i in range(8)]

    def highest(self, bits):
        for n in self.order():
            if bits & (1 << n):
                return n
        return None

    def resolve(self, cascade_line=None):
        """The level the chip would deliver now, or None (INT low)."""
        req = self.irr & ~self.imr & 0xFF
        if not req:
            return None
        n = self.highest(req)
        in_service = self.isr
        if self.special_mask:
            in_service &= ~self.imr         # masked in-service levels do not block
        if (self.icw4 & 0x10) and n == cascade_line:
            in_service &= ~(1 << n)         # special fully nested: the slave may nest
        for m in self.order():
            if in_service & (1 << m):
                return None                 # a level at or above n is in service
            if m == n:
                return n
        return n

    def set_line(self, n, level):
        bit = 1 << n
        if level:
            if not self.lines & bit:
                self.irr |= bit             # rising edge (or the level) requests
            self.lines |= bit
        else:
            self.lines &= ~bit
            if self.level_mask() & bit:
                self.irr &= ~bit            # a level request ends with the level

    def take(self, n):
        """The INTA for level n: IRR -> ISR (unless AEOI)."""
        bit = 1 << n
        if not self.level_mask() & bit:
            self.irr &= ~bit
        if self.icw4 & 0x02:                # automatic EOI
            if self.rotate_aeoi:
                self.lowest = n
        else:
            self.isr |= bit

    def eoi(self, value):
        """OCW2."""
        cmd = value >> 5
        level = value & 7
        if cmd in (1, 5):                   # non-specific EOI (5: and rotate)
            candidates = self.isr & ~self.imr if self.special_mask else self.isr
            n = self.highest(candidates)
            if n is not None:
                self.isr &= ~(1 << n)
                if cmd == 5:
                    self.lowest = n
        elif cmd in (3, 7):                 # specific EOI (7: and rotate)
            self.isr &= ~(1 << level)
            if cmd == 7:
                self.lowest = level
        elif cmd == 6:                      # set priority: level becomes the lowest
            self.lowest = level
        elif cmd == 4:
            self.rotate_aeoi = True         # rotate in AEOI mode (set)
        elif cmd == 0:
            self.rotate_aeoi = False        # rotate in AEOI mode (clear)
        # cmd 2: no operation

    def state(self):
        return {k: getattr(self, k) for k in self.__slots__}

    def set_state(self, s):
        for k in self.__slots__:
            setattr(self, k, s[k])


class PicPair(Device):
    """Master and slave 8259A, wired as in a PC/AT.

    API for devices: ``set_irq(irq, level)``, ``raise_irq(irq)`` (an edge: the line
    goes high and low again, the request is latched).  API for the CPU: ``intr`` (the
    INTR output), ``ack()`` -> vector (the INTA cycle), ``on_intr_change``
    (callable(level) or None, called whenever INTR changes).

    Counters: ``irq_counts`` {irq: interrupts acknowledged}, ``spurious`` (default IR7
    answers of either chip), ``spurious_irqs`` {7: n, 15: n}.

    reset() leaves the pair as a PC BIOS hands it over (ICW1 0x11 with ICW4, vector
    bases 0x08 and 0x70, master ICW3 0x04, slave id 2, 8086 mode), every IRQ masked:
    a guest programs the chips before it unmasks anything.
    """

    name = "pic"
    ports = [(0x20, 2), (0xA0, 2), (0x4D0, 2)]

    def __init__(self):
        self.master = _Chip()
        self.slave = _Chip()
        self.on_intr_change = None
        self.irq_counts = {}
        self.spurious = 0
        self.spurious_irqs = {7: 0, 15: 0}
        self._intr = False
        self.reset()

    def reset(self):
        for chip, base, icw3 in ((self.master, 0x08, 0x04), (self.slave, 0x70, 0x02)):
            chip.power_on()
            chip.elcr = 0
            chip.icw1, chip.base, chip.icw3, chip.icw4 = 0x11, base, icw3, 0x01
        self._update()

    # ------------------------------------------------------------------ wiring
    def _cascaded(self):
        m = self.master
        return not (m.icw1 & 0x02) and (m.icw3 & 0x04)

    def _update(self):
        """Propagate the slave's INT to master IR2 and the master's INT to INTR."""
        cascade = self._cascaded()
        if cascade:
            self.master.set_line(2, self.slave.resolve() is not None)
        intr = self.master.resolve(2 if cascade else None) is not None
        if intr != self._intr:
            self._intr = intr
            cb = self.on_intr_change
            if cb is not None:
                cb(intr)

    @property
    def intr(self):
        """The INTR output to the CPU."""
        return self._intr

    def set_irq(self, irq, level):
        """Drive ISA IRQ line 0-15 to level (IRQ 2 is the cascade: use 9)."""
        if not 0 <= irq < 16:
            raise ValueError(f"IRQ {irq} out of range 0-15")
        chip = self.master if irq < 8 else self.slave
        chip.set_line(irq & 7, level)
        self._update()

    def raise_irq(self, irq):
        """An edge on an edge-triggered line: the request is latched until the INTA."""
        if not 0 <= irq < 16:
            raise ValueError(f"IRQ {irq} out of range 0-15")
        chip = self.master if irq < 8 else self.slave
        bit = 1 << (irq & 7)
        if chip.level_mask() & bit:
            return                  # a pulse on a level input is over before any INTA
        if not chip.lines & bit:
            chip.irr |= bit
        self._update()

    def ack(self):
        """The CPU's interrupt acknowledge: returns the vector, moves IRR to ISR."""
        m, s = self.master, self.slave
        cascade = self._cascaded()
        n = m.resolve(2 if cascade else None)
        if n is None:
            vector = m.base | 7                 # default IR7: ISR untouched
            self._count_spurious(7)
        else:
            m.take(n)
            if n == 2 and cascade and (s.icw3 & 7) == 2:
                m.lines &= ~(1 << 2)            # INTA drops INT: re-armed for the next edge
                k = s.resolve()
                if k is None:
                    vector = s.base | 7
                    self._count_spurious(15)
                else:
                    s.take(k)
                    vector = s.base | k
                    self.irq_counts[8 + k] = self.irq_counts.get(8 + k, 0) + 1
            else:
                vector = m.base | n
                self.irq_counts[n] = self.irq_counts.get(n, 0) + 1
        self._update()
        return vector

    def _count_spurious(self, irq):
        self.spurious += 1
        self.spurious_irqs[irq] += 1

    # ------------------------------------------------------------------ ports
    def io_read(self, port, size):
        if port in (0x4D0, 0x4D1):
            return (self.master if port == 0x4D0 else self.slave).elcr
        chip = self.master if port < 0xA0 else self.slave
        if chip.poll:
            return self._poll(chip)
        if port & 1:
            return chip.imr
        return chip.isr if chip.read_isr else chip.irr

    def _poll(self, chip):
        """A read after OCW3 poll: the read is the acknowledge (no vector cycle)."""
        chip.poll = False
        n = chip.resolve(2 if chip is self.master and self._cascaded() else None)
        if n is None:
            self._update()
            return 0x00
        chip.take(n)
        if chip is self.master and n == 2 and self._cascaded():
            chip.lines &= ~(1 << 2)
        self._update()
        return 0x80 | n

    def io_write(self, port, size, value):
        value &= 0xFF
        if port in (0x4D0, 0x4D1):
            i = port - 0x4D0
            chip = (self.master, self.slave)[i]
            chip.elcr = value & ELCR_VALID[i]
            for n in range(8):                  # a level request that is already low ends
                if chip.elcr & (1 << n) and not chip.lines & (1 << n):
                    chip.irr &= ~(1 << n)
            self._update()
            return
        chip = self.master if port < 0xA0 else self.slave
        if not port & 1:
            if value & 0x10:                    # ICW1: start initialisation
                # The edge sense is reset (IRR cleared: only a new low-to-high
                # transition requests), IMR is cleared, IR7 gets the lowest
                # priority, special mask off, reads select IRR, ICW4 functions 0.
                # ISR is cleared too, so a re-initialised chip starts clean.
                chip.power_on()
                chip.imr = 0
                chip.icw1 = value
                chip.init_step = 2
            elif value & 0x08:                  # OCW3
                if value & 0x02:
                    chip.read_isr = bool(value & 0x01)
                if value & 0x04:
                    chip.poll = True
                if value & 0x40:
                    chip.special_mask = bool(value & 0x20)
            else:                               # OCW2
                chip.eoi(value)
        else:
            step = chip.init_step
            if step == 2:                       # ICW2: the vector base (T7-T3)
                chip.base = value & 0xF8
                if not chip.icw1 & 0x02:
                    chip.init_step = 3
                elif chip.icw1 & 0x01:
                    chip.init_step = 4
                else:
                    chip.init_step = 0
            elif step == 3:                     # ICW3: slave lines / slave id
                chip.icw3 = value
                chip.init_step = 4 if chip.icw1 & 0x01 else 0
            elif step == 4:                     # ICW4: uPM, AEOI, BUF, M/S, SFNM
                chip.icw4 = value & 0x1F
                chip.init_step = 0
            else:                               # OCW1: the mask
                chip.imr = value
        self._update()

    # ------------------------------------------------------------------ snapshot
    def state(self):
        return {"master": self.master.state(), "slave": self.slave.state(),
                "intr": self._intr, "irq_counts": dict(self.irq_counts),
                "spurious": self.spurious, "spurious_irqs": dict(self.spurious_irqs)}

    def set_state(self, s):
        self.master.set_state(s["master"])
        self.slave.set_state(s["slave"])
        self.irq_counts = dict(s["irq_counts"])
        self.spurious = s["spurious"]
        self.spurious_irqs = dict(s["spurious_irqs"])
        self._intr = s["intr"]
        self._update()
        if self.on_intr_change is not None:
            self.on_intr_change(self._intr)     # the CPU's INTR input follows the restore
