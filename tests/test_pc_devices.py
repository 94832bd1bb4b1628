"""PC platform devices at the port level: 8259A PIC pair, 8254 PIT + port 0x61, CMOS RTC,
8042 keyboard controller + port 0x92, the virtual clock, and their wiring into a Machine.

Expected values come from the chips' documentation (Intel 8259A and 8254 data sheets,
Motorola MC146818A, the IBM PC/AT technical reference for the 8042 and port 0x61),
worked out by hand in the comments; the clock is a settable instruction counter, so
nothing here depends on host timing.
"""
import calendar
import datetime

import pytest

from bt import ExitKind, Machine
from bt.clock import VirtualClock
from bt.devices import CmosRtc, Kbc8042, PicPair, Pit8254, Uart16550
from bt.devices.platform import add_pc_devices
from oracle import asm

PIT_HZ = 1193182


class Counter:
    """A settable virtual instruction count: with ns_per_insn=1 it is the time in ns."""

    def __init__(self):
        self.n = 0

    def __call__(self):
        return self.n


def make_clock():
    c = Counter()
    return VirtualClock(c, ns_per_insn=1), c


def tick_of(ns):
    """The number of PIT clock edges up to time ns."""
    return ns * PIT_HZ // 10**9


def edge_ns(tick):
    """The first ns at which PIT clock edge number ``tick`` has happened (edges at
    k / 1.193182 MHz)."""
    return -((-tick * 10**9) // PIT_HZ)


# ====================================================================== 8259A PIC
def init_pic(pic, mbase=0x20, sbase=0x28, micw4=0x01, sicw4=0x01):
    """The ICW1-ICW4 sequence a PC OS uses: cascade, ICW4 needed, slave on IR2."""
    pic.io_write(0x20, 1, 0x11)
    pic.io_write(0x21, 1, mbase)
    pic.io_write(0x21, 1, 0x04)        # master: a slave on IR2
    pic.io_write(0x21, 1, micw4)
    pic.io_write(0xA0, 1, 0x11)
    pic.io_write(0xA1, 1, sbase)
    pic.io_write(0xA1, 1, 0x02)        # slave id 2
    pic.io_write(0xA1, 1, sicw4)


def read_isr(pic, port=0x20):
    pic.io_write(port, 1, 0x0B)        # OCW3: read ISR
    return pic.io_read(port, 1)


def read_irr(pic, port=0x20):
    pic.io_write(port, 1, 0x0A)        # OCW3: read IRR
    return pic.io_read(port, 1)


def test_pic_icw1_clears_imr_and_icw_sequence():
    pic = PicPair()
    assert pic.io_read(0x21, 1) == 0xFF          # reset: everything masked
    init_pic(pic)
    # data sheet: ICW1 clears the interrupt mask register
    assert pic.io_read(0x21, 1) == 0x00 and pic.io_read(0xA1, 1) == 0x00
    pic.io_write(0x21, 1, 0xFA)                  # after the ICWs, A0=1 writes are OCW1
    pic.io_write(0xA1, 1, 0xFF)
    assert pic.io_read(0x21, 1) == 0xFA and pic.io_read(0xA1, 1) == 0xFF
    pic.raise_irq(0)
    assert pic.intr and pic.ack() == 0x20        # ICW2 T7-T3 | level 0


def test_pic_single_mode_skips_icw3_and_icw4_optional():
    pic = PicPair()
    pic.io_write(0x20, 1, 0x13)                  # ICW1: SNGL, IC4
    pic.io_write(0x21, 1, 0x40)                  # ICW2
    pic.io_write(0x21, 1, 0x01)                  # ICW4 (no ICW3 in single mode)
    pic.io_write(0x21, 1, 0x5A)                  # OCW1
    assert pic.io_read(0x21, 1) == 0x5A
    pic.io_write(0x20, 1, 0x12)                  # ICW1: SNGL, no ICW4
    pic.io_write(0x21, 1, 0x48)                  # ICW2
    pic.io_write(0x21, 1, 0xF7)                  # straight to OCW1
    assert pic.io_read(0x21, 1) == 0xF7
    pic.raise_irq(3)
    assert pic.ack() == 0x4B


def test_pic_imr_masks_but_irr_records():
    pic = PicPair()
    init_pic(pic)
    pic.io_write(0x21, 1, 0x08)                  # mask IRQ 3
    pic.raise_irq(3)
    assert not pic.intr
    assert read_irr(pic) == 0x08                 # the request is in IRR all the same
    pic.io_write(0x21, 1, 0x00)
    assert pic.intr and pic.ack() == 0x23
    assert read_irr(pic) == 0x00 and read_isr(pic) == 0x08


def test_pic_fixed_priority_nesting_and_nonspecific_eoi():
    pic = PicPair()
    init_pic(pic)
    pic.raise_irq(5)
    pic.raise_irq(3)
    assert pic.ack() == 0x23                     # IR0 highest ... IR7 lowest
    assert not pic.intr                          # IR5 waits: IR3 is in service
    pic.raise_irq(1)
    assert pic.intr and pic.ack() == 0x21        # a higher level nests
    assert read_isr(pic) == 0x0A
    pic.io_write(0x20, 1, 0x20)                  # non-specific EOI: the highest, IR1
    assert read_isr(pic) == 0x08 and not pic.intr
    pic.io_write(0x20, 1, 0x20)
    assert read_isr(pic) == 0x00
    assert pic.intr and pic.ack() == 0x25


def test_pic_specific_eoi():
    pic = PicPair()
    init_pic(pic)
    pic.raise_irq(6)
    pic.ack()
    pic.raise_irq(4)
    pic.ack()                                    # IR4 nests over IR6
    assert read_isr(pic) == 0x50
    pic.io_write(0x20, 1, 0x60 | 6)              # specific EOI for IR6
    assert read_isr(pic) == 0x10


def test_pic_rotation_commands():
    pic = PicPair()
    init_pic(pic)
    pic.raise_irq(3)
    pic.ack()
    pic.io_write(0x20, 1, 0xA0)                  # rotate on non-specific EOI: IR3 lowest
    assert read_isr(pic) == 0
    pic.raise_irq(3)
    pic.raise_irq(5)
    assert pic.ack() == 0x25                     # order now 4 5 6 7 0 1 2 3
    pic.io_write(0x20, 1, 0x20)
    assert pic.ack() == 0x23
    pic.io_write(0x20, 1, 0x20)
    pic.io_write(0x20, 1, 0xC4)                  # set priority: IR4 lowest -> IR5 highest
    pic.raise_irq(4)
    pic.raise_irq(7)
    assert pic.ack() == 0x27
    pic.io_write(0x20, 1, 0xE0 | 7)              # rotate on specific EOI: IR7 lowest
    assert read_isr(pic) == 0
    pic.raise_irq(0)
    assert pic.ack() == 0x20                     # order 0 1 ... 7: IR0 before IR4
    pic.io_write(0x20, 1, 0x20)
    assert pic.ack() == 0x24


def test_pic_auto_eoi():
    pic = PicPair()
    init_pic(pic, micw4=0x03)                    # ICW4: 8086, AEOI
    pic.raise_irq(2 + 4)
    assert pic.ack() == 0x26
    assert read_isr(pic) == 0                    # ISR reset at the end of the INTA
    pic.raise_irq(7)
    assert pic.intr                              # nothing in service blocks IR7


def test_pic_cascade_slave_irq():
    pic = PicPair()
    init_pic(pic)
    pic.raise_irq(10)
    assert pic.intr
    assert pic.ack() == 0x2A                     # slave base 0x28 | IR2
    assert read_isr(pic, 0xA0) == 0x04 and read_isr(pic, 0x20) == 0x04
    pic.raise_irq(9)
    assert not pic.intr                          # fully nested: master IR2 is in service
    pic.io_write(0xA0, 1, 0x20)                  # EOI slave (IRQ 10) ...
    assert not pic.intr
    pic.io_write(0x20, 1, 0x20)                  # ... and master (IR2)
    assert pic.intr and pic.ack() == 0x29
    assert pic.irq_counts == {10: 1, 9: 1}


def test_pic_special_fully_nested_lets_the_slave_nest():
    pic = PicPair()
    init_pic(pic, micw4=0x11)                    # master ICW4: SFNM
    pic.raise_irq(12)
    assert pic.ack() == 0x2C
    pic.raise_irq(9)                             # higher priority on the slave
    assert pic.intr and pic.ack() == 0x29


def test_pic_spurious_irq7_when_the_request_is_gone():
    pic = PicPair()
    init_pic(pic)
    # data sheet: an IR that goes low before the INTA gives the default IR7
    pic.io_write(0x4D0, 1, 0x20)                 # ELCR: IRQ 5 level-triggered
    assert pic.io_read(0x4D0, 1) == 0x20
    pic.set_irq(5, 1)
    assert pic.intr
    pic.set_irq(5, 0)
    assert pic.ack() == 0x27
    assert read_isr(pic) == 0 and pic.spurious == 1 and pic.irq_counts == {}
    # a masked-out request: same answer
    pic.raise_irq(3)
    pic.io_write(0x21, 1, 0x08)
    assert pic.ack() == 0x27 and read_isr(pic) == 0
    assert pic.spurious_irqs == {7: 2, 15: 0}


def test_pic_spurious_irq15_sets_master_isr2():
    pic = PicPair()
    init_pic(pic)
    pic.raise_irq(11)                            # slave IR3 -> master IR2 latched
    pic.io_write(0xA1, 1, 0x08)                  # the slave's request goes away
    assert pic.ack() == 0x2F                     # the slave answers its IR7
    assert read_isr(pic, 0xA0) == 0              # no slave ISR bit ...
    assert read_isr(pic, 0x20) == 0x04           # ... but the master accepted IR2
    assert pic.spurious_irqs[15] == 1


def test_pic_level_triggered_repeats_after_eoi_edge_does_not():
    pic = PicPair()
    init_pic(pic)
    pic.set_irq(3, 1)                            # edge-triggered, line held high
    assert pic.ack() == 0x23
    pic.io_write(0x20, 1, 0x20)
    assert not pic.intr                          # no new rising edge
    pic.set_irq(3, 0)
    pic.set_irq(3, 1)
    assert pic.intr
    pic.ack()
    pic.io_write(0x20, 1, 0x20)
    pic.io_write(0x4D1, 1, 0x02)                 # IRQ 9 level-triggered
    pic.set_irq(9, 1)
    assert pic.ack() == 0x29
    pic.io_write(0xA0, 1, 0x20)
    pic.io_write(0x20, 1, 0x20)
    assert pic.intr and pic.ack() == 0x29        # still high after the EOI: again


def test_pic_elcr_reserved_bits():
    pic = PicPair()
    pic.io_write(0x4D0, 1, 0xFF)
    pic.io_write(0x4D1, 1, 0xFF)
    # IRQ 0, 1, 2, 8 and 13 cannot be level-triggered (PIIX ELCR)
    assert pic.io_read(0x4D0, 1) == 0xF8 and pic.io_read(0x4D1, 1) == 0xDE


def test_pic_poll_mode():
    pic = PicPair()
    init_pic(pic)
    pic.io_write(0x20, 1, 0x0C)                  # OCW3: poll
    assert pic.io_read(0x20, 1) & 0x80 == 0      # I = 0: nothing requests
    pic.raise_irq(6)
    pic.io_write(0x20, 1, 0x0C)
    assert pic.io_read(0x20, 1) == 0x86          # I = 1, W2-W0 = 6
    assert read_isr(pic) == 0x40                 # the read acted as the INTA
    assert pic.io_read(0x20, 1) == 0x40          # poll is one read only


def test_pic_special_mask_mode():
    pic = PicPair()
    init_pic(pic)
    pic.raise_irq(3)
    pic.ack()
    pic.raise_irq(5)
    assert not pic.intr                          # blocked by IR3 in service
    pic.io_write(0x21, 1, 0x08)                  # mask IR3 ...
    pic.io_write(0x20, 1, 0x68)                  # ... OCW3: set special mask mode
    assert pic.intr and pic.ack() == 0x25        # lower levels are enabled
    pic.io_write(0x20, 1, 0x20)                  # non-specific EOI: masked IS bits stay
    assert read_isr(pic) == 0x08
    pic.io_write(0x20, 1, 0x48)                  # reset special mask mode
    pic.io_write(0x20, 1, 0x63)
    assert read_isr(pic) == 0


def test_pic_intr_callback_and_snapshot():
    pic = PicPair()
    seen = []
    pic.on_intr_change = seen.append
    init_pic(pic)
    pic.raise_irq(4)
    snap = pic.state()
    assert pic.ack() == 0x24
    assert seen == [True, False]
    pic.set_state(snap)
    assert pic.intr and pic.ack() == 0x24


# ====================================================================== 8254 PIT
def pit_setup(cw, count_bytes, at=0):
    clock, n = make_clock()
    pic = PicPair()
    init_pic(pic)
    pit = Pit8254(clock, pic)
    n.n = at
    pit.io_write(0x43, 1, cw)
    port = 0x40 + (cw >> 6)
    for b in count_bytes:
        pit.io_write(port, 1, b)
    return pit, pic, clock, n


def status(pit, ch):
    pit.io_write(0x43, 1, 0xE0 | (2 << ch))      # read-back: status only
    return pit.io_read(0x40 + ch, 1)


def latch_read(pit, ch):
    pit.io_write(0x43, 1, ch << 6)               # counter latch command
    lo = pit.io_read(0x40 + ch, 1)
    return lo | pit.io_read(0x40 + ch, 1) << 8


def test_pit_mode2_period_out_and_irq0_edges():
    N = 1000
    # count written at t = 0 (between edges 0 and 1): loaded on CLK edge 1
    pit, pic, clock, n = pit_setup(0x34, [N & 0xFF, N >> 8])
    clock.add_timer(pit)
    n.n = edge_ns(1 + 10)
    assert latch_read(pit, 0) == N - 10
    n.n = edge_ns(1 + N - 1)                     # count is 1: OUT low for one clock
    assert latch_read(pit, 0) == 1 and status(pit, 0) >> 7 == 0
    assert not pic.intr
    assert clock.next_deadline_ns() == edge_ns(1 + N)
    n.n = edge_ns(1 + N)                         # reload: OUT rises, IRQ 0
    assert status(pit, 0) >> 7 == 1 and latch_read(pit, 0) == N
    assert clock.run_due() == 1
    assert pic.intr and pic.ack() == 0x20
    assert clock.next_deadline_ns() == edge_ns(1 + 2 * N)
    assert clock.insns_until(edge_ns(1 + 2 * N)) == edge_ns(1 + 2 * N) - n.n


def test_pit_mode3_square_wave_even_and_odd():
    pit, pic, clock, n = pit_setup(0x36, [10, 0])   # mode 3, N = 10
    outs = []
    for k in range(20):
        n.n = edge_ns(1 + k)
        outs.append(status(pit, 0) >> 7)
    assert outs == [1] * 5 + [0] * 5 + [1] * 5 + [0] * 5
    n.n = edge_ns(1 + 2)
    assert latch_read(pit, 0) == 6                # even counts go down by two
    pit.io_write(0x43, 1, 0x36)
    pit.io_write(0x40, 1, 11)
    pit.io_write(0x40, 1, 0)                      # odd N: high (N+1)/2, low (N-1)/2
    t0 = tick_of(n.n) + 1
    outs = []
    for k in range(22):
        n.n = edge_ns(t0 + k)
        outs.append(status(pit, 0) >> 7)
    assert outs == [1] * 6 + [0] * 5 + [1] * 6 + [0] * 5


def test_pit_mode0_interrupt_on_terminal_count():
    N = 50
    pit, pic, clock, n = pit_setup(0x30, [N, 0])
    clock.add_timer(pit)
    assert status(pit, 0) >> 7 == 0               # OUT low after the mode write
    n.n = edge_ns(N)                              # N clocks after the write: count 1
    assert status(pit, 0) >> 7 == 0 and latch_read(pit, 0) == 1
    assert clock.next_deadline_ns() == edge_ns(N + 1)
    n.n = edge_ns(N + 1)                          # N+1 clocks: terminal count, OUT high
    assert status(pit, 0) >> 7 == 1 and latch_read(pit, 0) == 0
    clock.run_due()
    assert pic.ack() == 0x20
    n.n = edge_ns(N + 2)
    assert latch_read(pit, 0) == 0xFFFF           # keeps counting, OUT stays high
    assert status(pit, 0) >> 7 == 1
    assert clock.next_deadline_ns() is None       # one interrupt only


def test_pit_latch_holds_the_value():
    pit, pic, clock, n = pit_setup(0x34, [0x00, 0x10])    # N = 0x1000
    n.n = edge_ns(1 + 0x123)
    pit.io_write(0x43, 1, 0x00)                   # latch counter 0
    n.n = edge_ns(1 + 0x400)
    pit.io_write(0x43, 1, 0x00)                   # a second latch before reading: ignored
    assert pit.io_read(0x40, 1) == (0x1000 - 0x123) & 0xFF
    assert pit.io_read(0x40, 1) == (0x1000 - 0x123) >> 8
    # latch consumed: reads follow the counter again (LSB then MSB)
    assert pit.io_read(0x40, 1) | pit.io_read(0x40, 1) << 8 == 0x1000 - 0x400


def test_pit_lobyte_hibyte_access_modes():
    pit, pic, clock, n = pit_setup(0x14, [100])   # counter 0, LSB only, mode 2
    n.n = edge_ns(1 + 30)
    assert pit.io_read(0x40, 1) == 70
    assert pit.io_read(0x40, 1) == 70             # no MSB phase in LSB-only mode
    pit.io_write(0x43, 1, 0x24)                   # MSB only, mode 2
    pit.io_write(0x40, 1, 0x02)                   # N = 0x200
    t0 = tick_of(n.n) + 1
    n.n = edge_ns(t0 + 0x100)
    assert pit.io_read(0x40, 1) == 0x01           # 0x200 - 0x100 = 0x100: MSB 1


def test_pit_zero_count_means_65536():
    pit, pic, clock, n = pit_setup(0x34, [0, 0])
    clock.add_timer(pit)
    assert clock.next_deadline_ns() == edge_ns(1 + 65536)


def test_pit_readback_status_and_null_count():
    clock, n = make_clock()
    pit = Pit8254(clock, None)
    pit.io_write(0x43, 1, 0xB4)                   # counter 2, LSB/MSB, mode 2
    # status: OUT (mode 2 starts high), NULL COUNT (no count yet), RW=11 M=010 BCD=0
    assert status(pit, 2) == 0x80 | 0x40 | 0x34
    pit.io_write(0x61, 1, 0x01)                   # GATE2 high
    pit.io_write(0x42, 1, 0x34)
    pit.io_write(0x42, 1, 0x12)
    n.n = edge_ns(3)
    assert status(pit, 2) == 0x80 | 0x34          # count loaded: NULL COUNT = 0
    # count and status latched together: status first, then the count
    pit.io_write(0x43, 1, 0xC0 | 0x08)
    assert pit.io_read(0x42, 1) == 0xB4
    v = pit.io_read(0x42, 1) | pit.io_read(0x42, 1) << 8
    assert v == 0x1234 - 2                        # written before edge 1, loaded at 1: 2 clocks


def test_pit_bcd_counting():
    pit, pic, clock, n = pit_setup(0x35, [0x00, 0x10])    # mode 2, BCD, N = 1000
    clock.add_timer(pit)
    n.n = edge_ns(1 + 1)
    assert latch_read(pit, 0) == 0x0999
    assert clock.next_deadline_ns() == edge_ns(1 + 1000)
    assert status(pit, 0) & 0x3F == 0x35


def test_pit_count_rewrite_in_mode2_waits_for_the_period_end():
    pit, pic, clock, n = pit_setup(0x34, [100, 0])
    clock.add_timer(pit)
    n.n = edge_ns(1 + 40)
    pit.io_write(0x40, 1, 50)
    pit.io_write(0x40, 1, 0)                      # new count, same mode: no control word
    assert latch_read(pit, 0) == 60               # the current period goes on
    assert clock.next_deadline_ns() == edge_ns(1 + 100)
    n.n = edge_ns(1 + 100)
    clock.run_due()
    assert pic.ack() == 0x20
    n.n = edge_ns(1 + 110)
    assert latch_read(pit, 0) == 40               # now counting from 50
    assert clock.next_deadline_ns() == edge_ns(1 + 150)


def test_pit_lost_ticks_coalesce():
    pit, pic, clock, n = pit_setup(0x34, [100, 0])
    clock.add_timer(pit)
    n.n = edge_ns(1 + 1000 + 5)                   # ten periods went by unseen
    clock.run_due()
    assert pit.irq0_edges == 10 and pit.lost_ticks == 9
    assert pic.ack() == 0x20
    pic.io_write(0x20, 1, 0x20)
    assert not pic.intr                           # one request in IRR, not ten
    assert clock.next_deadline_ns() == edge_ns(1 + 1100)


def test_pit_channel2_gate_and_port61():
    clock, n = make_clock()
    pit = Pit8254(clock, None)
    assert pit.io_read(0x61, 1) & 0x0F == 0
    pit.io_write(0x43, 1, 0xB6)                   # counter 2, LSB/MSB, mode 3
    pit.io_write(0x42, 1, 20)
    pit.io_write(0x42, 1, 0)
    n.n = edge_ns(500)
    assert latch_read(pit, 2) == 20               # GATE low: mode 3 does not count
    assert pit.io_read(0x61, 1) & 0x20            # and OUT is held high
    pit.io_write(0x61, 1, 0x03)                   # GATE2 and speaker data on
    assert pit.io_read(0x61, 1) & 0x0F == 0x03
    g = tick_of(n.n) + 1                        # the gate's rising edge reloads on the next CLK
    outs = []
    for k in range(20):
        n.n = edge_ns(g + k)
        outs.append((pit.io_read(0x61, 1) >> 5) & 1)
    assert outs == [1] * 10 + [0] * 10
    pit.io_write(0x61, 1, 0x00)                   # GATE low again: OUT goes high
    assert pit.io_read(0x61, 1) & 0x20


def test_pit_channel2_mode0_gate_pauses():
    clock, n = make_clock()
    pit = Pit8254(clock, None)
    pit.io_write(0x61, 1, 0x01)
    pit.io_write(0x43, 1, 0xB0)                   # counter 2, mode 0
    pit.io_write(0x42, 1, 0xFF)
    pit.io_write(0x42, 1, 0xFF)
    n.n = edge_ns(1 + 100)
    assert latch_read(pit, 2) == 0xFFFF - 100
    pit.io_write(0x61, 1, 0x00)                   # mode 0: GATE low suspends counting
    n.n = edge_ns(1 + 5000)
    assert latch_read(pit, 2) == 0xFFFF - 100
    assert not pit.io_read(0x61, 1) & 0x20        # OUT low until terminal count


def test_pit_refresh_bit_toggles():
    clock, n = make_clock()
    pit = Pit8254(clock, None)
    seen = set()
    for t in range(0, 60_000, 5_000):             # 60 us: several 15 us refresh cycles
        n.n = t
        seen.add(pit.io_read(0x61, 1) & 0x10)
    assert seen == {0, 0x10}


def test_pit_snapshot_round_trip():
    pit, pic, clock, n = pit_setup(0x34, [100, 0])
    n.n = edge_ns(1 + 30)
    s = pit.state()
    v = latch_read(pit, 0)
    pit.io_write(0x43, 1, 0x30)
    pit.set_state(s)
    assert latch_read(pit, 0) == v == 70


# ====================================================================== clock
def test_clock_virtual_rate_and_insns_until():
    c = Counter()
    clk = VirtualClock(c, ns_per_insn=2.5)
    c.n = 4
    assert clk.now_ns() == 10
    assert clk.insns_until(25) == 6               # 10 insns -> 25 ns
    assert clk.insns_until(26) == 7               # 10.4 -> the 11th
    assert clk.insns_until(5) == 0


def test_clock_host_mode_is_monotonic():
    clk = VirtualClock(lambda: 0, mode="host")
    a = clk.now_ns()
    b = clk.now_ns()
    assert 0 <= a <= b


def test_clock_rejects_bad_options():
    with pytest.raises(ValueError):
        VirtualClock(lambda: 0, mode="wall")
    with pytest.raises(ValueError):
        VirtualClock(lambda: 0, ns_per_insn=0)


# ====================================================================== CMOS RTC
def rtc_read(rtc, reg):
    rtc.io_write(0x70, 1, reg)
    return rtc.io_read(0x71, 1)


def rtc_write(rtc, reg, v):
    rtc.io_write(0x70, 1, reg)
    rtc.io_write(0x71, 1, v)


def make_rtc(**kw):
    clock, n = make_clock()
    pic = PicPair()
    init_pic(pic)
    return CmosRtc(clock, pic, **kw), clock, n, pic


def test_rtc_default_start_bcd():
    rtc, clock, n, pic = make_rtc()
    # 2000-01-01 00:00:00 was a Saturday: weekday 7 (1 = Sunday)
    got = [rtc_read(rtc, r) for r in (0, 2, 4, 6, 7, 8, 9, 0x32)]
    assert got == [0, 0, 0, 7, 1, 1, 0, 0x20]
    assert rtc_read(rtc, 0x0B) & 0x06 == 0x02     # 24-hour, BCD
    n.n = (3 * 3600 + 25 * 60 + 7) * 10**9 + 123
    assert [rtc_read(rtc, r) for r in (4, 2, 0)] == [0x03, 0x25, 0x07]


def test_rtc_binary_and_12_hour_modes():
    start = calendar.timegm((2024, 2, 29, 13, 5, 59, 0, 0, 0))
    rtc, clock, n, pic = make_rtc(start_time=start)
    assert [rtc_read(rtc, r) for r in (4, 7, 8, 9)] == [0x13, 0x29, 0x02, 0x24]
    rtc_write(rtc, 0x0B, 0x06)                    # binary, 24 h
    assert [rtc_read(rtc, r) for r in (0, 4, 6, 9, 0x32)] == [59, 13, 5, 24, 20]
    rtc_write(rtc, 0x0B, 0x04)                    # binary, 12 h: 1 PM = 0x80 | 1
    assert rtc_read(rtc, 4) == 0x81
    rtc_write(rtc, 0x0B, 0x00)                    # BCD, 12 h
    assert rtc_read(rtc, 4) == 0x81
    n.n = 11 * 3600 * 10**9 + 10**9               # 00:06:00 next day: 12 AM
    assert rtc_read(rtc, 4) == 0x12 and rtc_read(rtc, 7) == 0x01 and rtc_read(rtc, 8) == 0x03


def test_rtc_start_time_host_and_datetime():
    rtc, *_ = make_rtc(start_time=datetime.datetime(1999, 12, 31, 23, 59, 58))
    assert rtc_read(rtc, 9) == 0x99 and rtc_read(rtc, 0x32) == 0x19
    rtc2, *_ = make_rtc(start_time="host")
    assert rtc_read(rtc2, 0x32) >= 0x20


def test_rtc_register_c_read_clears_and_periodic_rate():
    rtc, clock, n, pic = make_rtc()
    clock.add_timer(rtc)
    rtc_write(rtc, 0x0A, 0x2F)                    # RS = 15: 2 Hz, a 500 ms period
    assert clock.next_deadline_ns() is None       # PIE off: no interrupt to schedule
    n.n = 600_000_000
    assert rtc_read(rtc, 0x0C) == 0x40            # PF set without PIE, IRQF clear
    assert rtc_read(rtc, 0x0C) == 0x00            # the read cleared it
    rtc_write(rtc, 0x0B, 0x42)                    # PIE
    assert clock.next_deadline_ns() == 1_000_000_000
    n.n = 1_000_000_000
    clock.run_due()
    assert pic.intr and pic.ack() == 0x28         # IRQ 8: slave IR0
    assert clock.next_deadline_ns() is None       # IRQ 8 stays asserted until C is read
    assert rtc_read(rtc, 0x0C) == 0xD0            # IRQF, PF (and UF: a second went by)
    assert clock.next_deadline_ns() == 1_500_000_000
    rtc_write(rtc, 0x0A, 0x26)                    # RS = 6: 1024 Hz = 976562.5 ns
    assert clock.next_deadline_ns() == 1_000_976_563


def test_rtc_rates_1_and_2_are_256_and_128_hz():
    rtc, clock, n, pic = make_rtc()
    clock.add_timer(rtc)
    rtc_write(rtc, 0x0B, 0x42)
    rtc_write(rtc, 0x0A, 0x21)
    assert clock.next_deadline_ns() == 3_906_250
    rtc_write(rtc, 0x0A, 0x22)
    assert clock.next_deadline_ns() == 7_812_500


def test_rtc_update_ended_and_alarm_interrupts():
    rtc, clock, n, pic = make_rtc()
    clock.add_timer(rtc)
    rtc_write(rtc, 0x0A, 0x20)                    # RS = 0: no periodic flag (PF)
    rtc_write(rtc, 0x01, 0x05)                    # alarm at hh:mm:05 = 00:00:05
    rtc_write(rtc, 0x03, 0x00)
    rtc_write(rtc, 0x05, 0xC0)                    # hours: don't care
    rtc_write(rtc, 0x0B, 0x22)                    # AIE
    n.n = 4_500_000_000
    clock.run_due()
    assert not pic.intr and rtc_read(rtc, 0x0C) & 0x20 == 0
    n.n = 5_000_000_000
    clock.run_due()
    assert pic.intr
    assert rtc_read(rtc, 0x0C) == 0xB0            # IRQF, AF, UF
    rtc_write(rtc, 0x0B, 0x12)                    # UIE only
    assert clock.next_deadline_ns() == 6_000_000_000


def test_rtc_uip_warns_before_each_update():
    rtc, clock, n, pic = make_rtc()
    # MC146818A: UIP = 0 guarantees no update for at least 244 us
    for t in range(8_000_000_000 - 5_000_000, 8_000_000_000, 10_000):
        n.n = t
        if not rtc_read(rtc, 0x0A) & 0x80:
            sec = rtc_read(rtc, 0)
            n.n = t + 244_000
            assert rtc_read(rtc, 0) == sec
    n.n = 8_000_000_000 - 100_000
    assert rtc_read(rtc, 0x0A) & 0x80
    assert rtc_read(rtc, 0x0A) & 0x7F == 0x26


def test_rtc_set_bit_freezes_and_sets_the_time():
    rtc, clock, n, pic = make_rtc()
    rtc_write(rtc, 0x0B, 0x82 | 0x10)             # SET (UIE is cleared by SET)
    assert rtc_read(rtc, 0x0B) == 0x82
    rtc_write(rtc, 0x04, 0x21)
    rtc_write(rtc, 0x02, 0x30)
    rtc_write(rtc, 0x00, 0x00)
    n.n = 10 * 10**9
    assert rtc_read(rtc, 0) == 0x00 and rtc_read(rtc, 0x0A) & 0x80 == 0   # held, no UIP
    rtc_write(rtc, 0x0B, 0x02)
    n.n = 13 * 10**9
    assert [rtc_read(rtc, r) for r in (4, 2, 0)] == [0x21, 0x30, 0x03]


def test_rtc_register_d_nmi_bit_and_nvram():
    rtc, clock, n, pic = make_rtc()
    assert rtc_read(rtc, 0x0D) == 0x80            # VRT
    rtc.io_write(0x70, 1, 0x80 | 0x40)            # bit 7: NMI disable, index 0x40
    rtc.io_write(0x71, 1, 0x5A)
    assert rtc.nmi_disabled and rtc.io_read(0x71, 1) == 0x5A
    rtc_write(rtc, 0x0C, 0xFF)                    # C and D are read-only
    rtc_write(rtc, 0x0D, 0x00)
    assert rtc_read(rtc, 0x0C) == 0 and rtc_read(rtc, 0x0D) == 0x80


@pytest.mark.parametrize("ram, base, ext, high", [
    (64 << 20, 640, 63 * 1024, 48 * 16),
    (1 << 20, 640, 0, 0),
    (512 << 10, 512, 0, 0),
    (128 << 20, 640, 0xFFFF, 112 * 16),
])
def test_rtc_memory_size_bytes(ram, base, ext, high):
    rtc, *_ = make_rtc(ram_size=ram)
    word = lambda lo: rtc_read(rtc, lo) | rtc_read(rtc, lo + 1) << 8
    assert word(0x15) == base
    assert word(0x17) == ext and word(0x30) == ext
    assert word(0x34) == high
    assert word(0x2E) == (sum(rtc_read(rtc, i) for i in range(0x10, 0x2E)) >> 8 |
                          (sum(rtc_read(rtc, i) for i in range(0x10, 0x2E)) & 0xFF) << 8)


# ====================================================================== 8042 KBC
def kbc_cmd(kbc, cmd, data=None):
    kbc.io_write(0x64, 1, cmd)
    if data is not None:
        kbc.io_write(0x60, 1, data)


def drain(kbc):
    out = []
    while kbc.io_read(0x64, 1) & 1:
        out.append(kbc.io_read(0x60, 1))
    return out


def test_kbc_self_tests_and_status():
    kbc = Kbc8042()
    kbc_cmd(kbc, 0xAA)
    st = kbc.io_read(0x64, 1)
    assert st & 0x01 and st & 0x08                # OBF; A2: the last write was a command
    assert st & 0x04                              # SYS set by the passed self-test
    assert drain(kbc) == [0x55]
    kbc_cmd(kbc, 0xAB)
    assert drain(kbc) == [0x00]
    assert kbc.io_read(0x64, 1) & 0x03 == 0       # OBF and IBF clear


def test_kbc_command_byte_and_disable():
    kbc = Kbc8042()
    kbc_cmd(kbc, 0x60, 0x41)                      # translation, keyboard interrupt
    assert kbc.io_read(0x64, 1) & 0x0C == 0       # SYS = command byte bit 2 = 0; A2 = data
    kbc_cmd(kbc, 0x20)
    assert drain(kbc) == [0x41]
    kbc_cmd(kbc, 0xAD)                            # disable keyboard: command byte bit 4
    kbc_cmd(kbc, 0x20)
    assert drain(kbc) == [0x51]
    kbc_cmd(kbc, 0xAE)
    kbc_cmd(kbc, 0xA7)                            # disable aux: bit 5
    kbc_cmd(kbc, 0x20)
    assert drain(kbc) == [0x61]
    kbc_cmd(kbc, 0xA8)
    kbc_cmd(kbc, 0x20)
    assert drain(kbc) == [0x41]


def test_kbc_keyboard_commands_ack():
    kbc = Kbc8042()
    kbc.io_write(0x60, 1, 0xFF)                   # reset: ACK then BAT passed
    assert drain(kbc) == [0xFA, 0xAA]
    kbc.io_write(0x60, 1, 0xF4)
    assert drain(kbc) == [0xFA]
    kbc.io_write(0x60, 1, 0xED)                   # set LEDs + parameter: two ACKs
    assert drain(kbc) == [0xFA]
    kbc.io_write(0x60, 1, 0x07)
    assert drain(kbc) == [0xFA]
    kbc.io_write(0x60, 1, 0xEE)
    assert drain(kbc) == [0xEE]                   # echo


def test_kbc_irq1_follows_obf_and_command_byte():
    pic = PicPair()
    init_pic(pic)
    kbc = Kbc8042(pic)
    kbc_cmd(kbc, 0x60, 0x44)                      # interrupt disabled
    kbc.feed(b"\x1e")
    assert not pic.intr and kbc.io_read(0x64, 1) & 1
    assert kbc.io_read(0x60, 1) == 0x1E
    kbc_cmd(kbc, 0x60, 0x45)                      # keyboard interrupt enabled
    kbc.feed(b"\x1e\x9e")
    assert pic.ack() == 0x21
    pic.io_write(0x20, 1, 0x20)
    assert kbc.io_read(0x60, 1) == 0x1E
    assert pic.intr and pic.ack() == 0x21         # the next byte interrupts again
    pic.io_write(0x20, 1, 0x20)
    assert kbc.io_read(0x60, 1) == 0x9E
    assert not pic.intr


def test_kbc_a20_through_output_port_and_port92():
    kbc = Kbc8042()
    seen = []
    kbc.on_a20 = seen.append
    assert kbc.a20                                # enabled at hand-over
    kbc_cmd(kbc, 0xD1, 0xDD)                      # output port: bit 1 = 0, bit 0 = 1
    assert not kbc.a20 and seen == [False]
    kbc_cmd(kbc, 0xD0)
    assert drain(kbc)[0] & 0x03 == 0x01
    kbc.io_write(0x92, 1, 0x02)                   # fast A20
    assert kbc.a20 and kbc.io_read(0x92, 1) & 0x02
    kbc.io_write(0x92, 1, 0x00)
    assert not kbc.a20
    kbc_cmd(kbc, 0xD1, 0xDF)
    assert kbc.a20 and seen == [False, True, False, True]
    assert kbc.reset_requests == 0


def test_kbc_reset_paths():
    kbc = Kbc8042()
    resets = []
    kbc.on_reset = lambda: resets.append(1)
    kbc_cmd(kbc, 0xFE)                            # pulse output port bit 0
    assert len(resets) == 1
    kbc_cmd(kbc, 0xFF)                            # pulse nothing
    assert len(resets) == 1
    kbc_cmd(kbc, 0xD1, 0xDE)                      # output port bit 0 = 0: reset
    assert len(resets) == 2
    kbc.io_write(0x92, 1, 0x03)                   # port 0x92 bit 0: 0 -> 1 resets
    assert len(resets) == 3 and kbc.a20
    kbc.io_write(0x92, 1, 0x02)
    kbc.io_write(0x92, 1, 0x03)
    assert len(resets) == 4
    assert kbc.reset_requests == 4


def test_kbc_snapshot_round_trip():
    kbc = Kbc8042()
    kbc.feed(b"\x10\x11")
    s = kbc.state()
    assert kbc.io_read(0x60, 1) == 0x10
    kbc.set_state(s)
    assert drain(kbc) == [0x10, 0x11]


# ====================================================================== UART IRQ
def test_uart_irq_line_gated_by_out2():
    levels = []
    u = Uart16550(irq_line=levels.append)
    u.io_write(0x3F9, 1, 0x02)                    # IER: THRE
    assert levels == []                           # OUT2 clear: not connected
    u.io_write(0x3FC, 1, 0x08)                    # MCR OUT2
    assert levels == [1]
    assert u.io_read(0x3FA, 1) == 0x02            # IIR THRE, clears it
    assert levels == [1, 0]
    u.io_write(0x3F9, 1, 0x01)                    # receive interrupt
    u.feed(b"a")
    assert levels == [1, 0, 1]
    u.io_read(0x3F8, 1)
    assert levels == [1, 0, 1, 0]


# ====================================================================== machine wiring
def test_add_pc_devices_wires_ports_and_timers():
    m = Machine(ram_size=32 << 20, pc=False)
    pc = add_pc_devices(m)
    assert pc.clock.timers == (pc.pit, pc.rtc)
    assert m.ports.read(0x21, 1) == 0xFF          # the PIC answers
    m.ports.write(0x70, 1, 0x34)                  # RTC: memory above 16 MiB in 64 KiB
    lo = m.ports.read(0x71, 1)
    m.ports.write(0x70, 1, 0x35)
    assert lo | m.ports.read(0x71, 1) << 8 == 256
    m.ports.write(0x64, 1, 0xAA)
    assert m.ports.read(0x60, 1) == 0x55
    pc.pic.io_write(0x21, 1, 0xEF)                # COM1's IRQ 4 unmasked
    m.uart.io_write(0x3FC, 1, 0x08)
    m.uart.io_write(0x3F9, 1, 0x02)
    assert pc.pic.intr and pc.pic.ack() == 0x0C   # BIOS vector base 0x08 + 4


def test_guest_reads_the_pit_in_virtual_time(strategy):
    """A guest programs counter 0 and latches it; the count it reads is the data sheet's
    function of virtual time: 1000 ns per instruction here."""
    m = Machine(strategy=strategy, pc=False)
    clock = VirtualClock(lambda: m.core.vclock, ns_per_insn=1000)
    add_pc_devices(m, clock)
    code = asm("""
        mov al, 0x34
        out 0x43, al
        mov al, 0x00
        out 0x40, al
        mov al, 0x10
        out 0x40, al
        mov ecx, 100
    spin:
        dec ecx
        jnz spin
        xor eax, eax
        out 0x43, al
        in al, 0x40
        mov bl, al
        in al, 0x40
        mov bh, al
        hlt
    """)
    m.mem.write(0x1000, code)
    m.cpu.eip = 0x1000
    m.cpu.esp = 0x9000
    ex = m.run(max_insns=10_000)
    assert ex.kind == ExitKind.HLT
    # an I/O instruction happens at the time of the instructions retired before it:
    # the count's MSB is written by the 6th instruction (at 5 * 1000 ns), the latch
    # command by the OUT after mov, 100 x (dec, jnz) and xor (208 retired before it)
    t_load = 5 * 1000
    t_latch = (6 + 1 + 200 + 1) * 1000
    tick = lambda ns: ns * PIT_HZ // 10**9
    clocks = tick(t_latch) - (tick(t_load) + 1)
    assert m.cpu.bx == 0x1000 - clocks


# ====================================================================== more corners
def test_pic_pulse_on_a_level_input_requests_nothing():
    pic = PicPair()
    init_pic(pic)
    pic.io_write(0x4D0, 1, 0x08)                  # IRQ 3 level-triggered
    pic.raise_irq(3)                              # high then low before any INTA
    assert not pic.intr and read_irr(pic) == 0


def test_pit_readback_of_all_counters():
    clock, n = make_clock()
    pit = Pit8254(clock, None)
    pit.io_write(0x43, 1, 0x34)                   # counter 0: mode 2
    pit.io_write(0x43, 1, 0x72)                   # counter 1: LSB/MSB, mode 1
    pit.io_write(0x43, 1, 0x90)                   # counter 2: LSB only, mode 0
    pit.io_write(0x43, 1, 0xEE)                   # read-back status of 0, 1, 2
    # OUT: mode 2 high, mode 1 high, mode 0 low; all NULL COUNT
    assert pit.io_read(0x40, 1) == 0xC0 | 0x34
    assert pit.io_read(0x41, 1) == 0xC0 | 0x32
    assert pit.io_read(0x42, 1) == 0x40 | 0x10


def test_pit_mode1_one_shot_on_gate2():
    clock, n = make_clock()
    pit = Pit8254(clock, None)
    pit.io_write(0x43, 1, 0xB2)                   # counter 2, LSB/MSB, mode 1
    pit.io_write(0x42, 1, 10)
    pit.io_write(0x42, 1, 0)
    n.n = edge_ns(50)
    assert pit.io_read(0x61, 1) & 0x20            # waits for a trigger, OUT high
    pit.io_write(0x61, 1, 0x01)                   # GATE rising: trigger, load next CLK
    outs = []
    for k in range(12):
        n.n = edge_ns(51 + k)
        outs.append((pit.io_read(0x61, 1) >> 5) & 1)
    assert outs == [0] * 10 + [1] * 2             # low for N clocks


def test_pit_mode4_software_strobe():
    pit, pic, clock, n = pit_setup(0x38, [5, 0])  # counter 0, mode 4, N = 5
    clock.add_timer(pit)
    outs = []
    for k in range(8):
        n.n = edge_ns(1 + k)
        outs.append(status(pit, 0) >> 7)
    assert outs == [1, 1, 1, 1, 1, 0, 1, 1]       # one clock low at count 0
    assert clock.next_deadline_ns() == edge_ns(1 + 6)
    n.n = edge_ns(1 + 6)
    clock.run_due()
    assert pic.ack() == 0x20


def test_pit_mode_write_raising_out_interrupts():
    pit, pic, clock, n = pit_setup(0x30, [0, 0])  # mode 0: OUT low while counting
    assert not pic.intr
    pit.io_write(0x43, 1, 0x34)                   # mode 2: OUT goes high at once
    assert pic.intr and pic.ack() == 0x20


def test_rtc_alarm_across_a_long_gap_and_hours():
    start = calendar.timegm((2010, 6, 1, 1, 0, 0, 0, 0, 0))
    rtc, clock, n, pic = make_rtc(start_time=start)
    rtc_write(rtc, 0x0A, 0x20)
    rtc_write(rtc, 0x05, 0x03)                    # 03:15:30
    rtc_write(rtc, 0x03, 0x15)
    rtc_write(rtc, 0x01, 0x30)
    n.n = (2 * 3600 + 15 * 60 + 29) * 10**9       # 03:15:29: not yet
    assert rtc_read(rtc, 0x0C) & 0x20 == 0
    n.n = (5 * 3600) * 10**9                      # 06:00:00: went by in the gap
    assert rtc_read(rtc, 0x0C) & 0x20
    rtc_write(rtc, 0x01, 0xC0)                    # every second of 03:15 ...
    n.n = (27 * 3600) * 10**9                     # ... 04:00 the next day: it came by
    assert rtc_read(rtc, 0x0C) & 0x20
    rtc_write(rtc, 0x03, 0x61)                    # minutes 61 never match
    n.n = (60 * 3600) * 10**9
    assert rtc_read(rtc, 0x0C) & 0x20 == 0


def test_rtc_weekday_register_is_independent():
    rtc, clock, n, pic = make_rtc()
    rtc_write(rtc, 0x06, 0x03)                    # the guest says Tuesday
    assert rtc_read(rtc, 0x06) == 0x03
    n.n = 24 * 3600 * 10**9                       # a day later: Wednesday
    assert rtc_read(rtc, 0x06) == 0x04 and rtc_read(rtc, 0x07) == 0x02


def test_rtc_snapshot_round_trip():
    rtc, clock, n, pic = make_rtc()
    rtc_write(rtc, 0x0B, 0x06)
    n.n = 65 * 10**9
    s = rtc.state()
    n.n = 200 * 10**9
    rtc_write(rtc, 0x0B, 0x02)
    rtc_write(rtc, 0x40, 0x11)
    rtc.set_state(s)
    n.n = 65 * 10**9
    assert rtc_read(rtc, 0x02) == 1 and rtc_read(rtc, 0) == 5 and rtc_read(rtc, 0x40) == 0


def test_clock_host_snapshot_resumes():
    clk = VirtualClock(lambda: 0, mode="host")
    s = clk.state()
    clk2 = VirtualClock(lambda: 0, mode="host")
    clk2.set_state(s)
    assert clk2.now_ns() >= s["now_ns"]


def test_machine_snapshot_restores_device_time(strategy):
    m = Machine(strategy=strategy, pc=False)
    pc = add_pc_devices(m)
    code = asm("""
        mov al, 0x34
        out 0x43, al
        mov al, 0xFF
        out 0x40, al
        out 0x40, al
        mov ecx, 2000
    a:
        dec ecx
        jnz a
        hlt
        xor eax, eax
        out 0x43, al
        in al, 0x40
        mov bl, al
        in al, 0x40
        mov bh, al
        hlt
    """)
    m.mem.write(0x1000, code)
    m.cpu.eip = 0x1000
    m.cpu.esp = 0x9000
    assert m.run(max_insns=100_000).kind == ExitKind.HLT
    snap = m.snapshot()
    m.cpu.eip = m.cpu.eip + 1
    m.run(max_insns=100)
    first = m.cpu.bx
    m.restore(snap)
    m.cpu.eip = m.cpu.eip + 1
    m.run(max_insns=100)
    assert m.cpu.bx == first
    # and the value is the data sheet's: 1 ns per instruction
    t_load, t_latch = 4, 4 + 1 + 1 + 4000 + 1 + 1
    clocks = tick_of(t_latch) - (tick_of(t_load) + 1)
    assert first == 0xFFFF - clocks


def test_pit_mode3_odd_count_values():
    pit, pic, clock, n = pit_setup(0x36, [7, 0])  # N = 7: N-1 loaded, down by two
    vals = []
    for k in range(7):
        n.n = edge_ns(1 + k)
        vals.append(latch_read(pit, 0))
    # high phase: 6 4 2 0 (expired; OUT falls one clock later), low phase: 6 4 2
    assert vals == [6, 4, 2, 0, 6, 4, 2]


def test_device_reset_releases_irq_lines():
    clock, n = make_clock()
    pic = PicPair()
    init_pic(pic)
    kbc = Kbc8042(pic)
    rtc = CmosRtc(clock, pic)
    kbc.feed(b"\x01")
    rtc_write(rtc, 0x0B, 0x42)                    # PIE at 1024 Hz
    n.n = 10**6
    rtc_read(rtc, 0x0A)                           # any access brings the flags up to date
    assert pic.master.lines & 0x02 and pic.slave.lines & 0x01
    kbc.reset()
    rtc.reset()
    assert not pic.master.lines & 0x02 and not pic.slave.lines & 0x01


def test_guest_reads_the_rtc_in_virtual_time(strategy):
    """At 10 ms per instruction, 203 instructions are 2.03 s after the default start
    (2000-01-01 00:00:00): the guest reads second 2, minute 0, year 00, century 20."""
    def run_once():
        m = Machine(strategy=strategy, pc=False)
        add_pc_devices(m, VirtualClock(lambda: m.core.vclock, ns_per_insn=10_000_000))
        m.mem.write(0x1000, asm("""
            mov ecx, 100
        a:
            dec ecx
            jnz a
            mov al, 0
            out 0x70, al
            in al, 0x71
            mov bl, al
            mov al, 0x32
            out 0x70, al
            in al, 0x71
            mov bh, al
            hlt
        """))
        m.cpu.eip = 0x1000
        m.cpu.esp = 0x9000
        assert m.run(max_insns=10_000).kind == ExitKind.HLT
        return m.cpu.bx, m.core.insns
    first = run_once()
    assert first[0] == 0x2002
    assert run_once() == first                    # deterministic


def test_pit_stepping_deadline_to_deadline_loses_nothing():
    N = 1193                                      # about 1 kHz
    pit, pic, clock, n = pit_setup(0x34, [N & 0xFF, N >> 8])
    clock.add_timer(pit)
    for k in range(1, 501):
        d = clock.next_deadline_ns()
        assert d == edge_ns(1 + k * N)            # edge k: N clocks after edge k-1
        n.n = d
        clock.run_due()
        assert pic.ack() == 0x20
        pic.io_write(0x20, 1, 0x20)
    assert pit.irq0_edges == 500 and pit.lost_ticks == 0
    assert pic.irq_counts == {0: 500}


def pic_pit_irq0(n):
    """Guest code: the master PIC initialised (vectors 0x20-0x27, only IRQ 0
    unmasked) and PIT counter 0 in mode 2 with reload value n."""
    return f"""
        mov al, 0x11
        out 0x20, al
        mov al, 0x20
        out 0x21, al
        mov al, 0x04
        out 0x21, al
        mov al, 0x01
        out 0x21, al
        mov al, 0xFE
        out 0x21, al
        mov al, 0x34
        out 0x43, al
        mov al, {n & 0xFF}
        out 0x40, al
        mov al, {n >> 8}
        out 0x40, al
"""


def _flat_pm_tables(m, handlers):
    """A flat GDT (0x08 code, 0x10 data) and an IDT of 32-bit interrupt gates."""
    gdt = bytes(8) + bytes.fromhex("ffff0000009acf00") + bytes.fromhex("ffff00000092cf00")
    m.mem.write(0x3000, gdt)
    m.core.set_dtr(0, 0x3000, len(gdt) - 1)
    idt = bytearray(256 * 8)
    for vec, off in handlers.items():
        idt[vec * 8:vec * 8 + 8] = (off & 0xFFFF).to_bytes(2, "little") + \
            (0x08).to_bytes(2, "little") + bytes([0, 0x8E]) + (off >> 16).to_bytes(2, "little")
    m.mem.write(0x4000, bytes(idt))
    m.core.set_dtr(1, 0x4000, len(idt) - 1)


def run_pit_guest(strategy):
    """A guest programs the PIC (base 0x20) and PIT counter 0 (mode 2, N = 1193), then
    HLTs with IF=1 until its IRQ 0 handler ran 5 times.  Virtual time skips ahead at
    each HLT; the 5th interrupt comes at PIT edge 1 + 5N after the count's load."""
    N = 1193
    m = Machine(strategy=strategy, pc=False)
    pc = add_pc_devices(m)
    handler = 0x2000
    m.mem.write(handler, asm("""
        inc dword ptr [0x5000]
        push eax
        mov al, 0x20
        out 0x20, al
        pop eax
        iretd
    """, addr=handler))
    _flat_pm_tables(m, {0x20: handler})
    m.mem.write(0x1000, asm(f"""
        {pic_pit_irq0(N)}
        sti
    wait:
        hlt
        cmp dword ptr [0x5000], 5
        jb wait
        cli
        hlt
    """))
    m.cpu.eip = 0x1000
    m.cpu.esp = 0x9000
    ex = m.run(max_insns=1_000_000)
    assert ex.kind == ExitKind.HLT and not m.cpu.eflags & 0x200
    assert m.mem.read_u32(0x5000) == 5
    assert pc.pit.irq0_edges == 5 and pc.pit.lost_ticks == 0
    assert pc.pic.irq_counts == {0: 5} and pc.pic.spurious == 0
    assert m.core.idle > 0                        # HLT skipped ahead, it did not spin
    # the count's MSB was written by the 15th instruction (14 retired: t = 14 ns)
    fifth = edge_ns(tick_of(14) + 1 + 5 * N)
    assert fifth <= pc.clock.now_ns() <= fifth + 20
    return pc.clock.now_ns(), m.core.insns, m.core.idle


def test_guest_takes_pit_interrupts_through_the_pic(strategy):
    run_pit_guest(strategy)


def test_guest_pit_interrupts_identical_across_strategies():
    runs = {run_pit_guest(s) for s in ("interp", "block", "chain", "native", "block")}
    assert len(runs) == 1                         # same time, instructions, idle


def test_snapshot_in_the_middle_of_timer_interrupts(strategy):
    N = 1193
    m = Machine(strategy=strategy, pc=False)
    pc = add_pc_devices(m)
    m.mem.write(0x2000, asm("""
        inc dword ptr [0x5000]
        mov al, 0x20
        out 0x20, al
        iretd
    """, addr=0x2000))
    _flat_pm_tables(m, {0x20: 0x2000})
    m.mem.write(0x1000, asm(f"""
        {pic_pit_irq0(N)}
        sti
    wait:
        hlt
        cmp dword ptr [0x5000], 5
        jb wait
        cli
        hlt
    """))
    m.cpu.eip = 0x1000
    m.cpu.esp = 0x9000
    m.run(max_insns=40)                           # two interrupts taken, some idle time
    assert 1 <= m.mem.read_u32(0x5000) < 5
    snap = m.snapshot()
    t_snap = pc.clock.now_ns()
    m.run(max_insns=1_000_000)
    end = (pc.clock.now_ns(), m.core.insns, m.mem.read_u32(0x5000))
    m.restore(snap)
    assert pc.clock.now_ns() == t_snap
    m.run(max_insns=1_000_000)
    assert (pc.clock.now_ns(), m.core.insns, m.mem.read_u32(0x5000)) == end
    assert end[2] == 5
