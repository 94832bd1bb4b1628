"""The PC/AT platform devices around the CPU: PIC pair, PIT, CMOS RTC, keyboard controller.

    from bt.clock import VirtualClock
    from bt.devices.platform import add_pc_devices
    pc = add_pc_devices(m, VirtualClock(lambda: m.core.insns))
    pc.pic.on_intr_change = ...       # the machine connects INTR to the core

Interrupt wiring (ISA): IRQ 0 PIT counter 0, IRQ 1 keyboard, IRQ 2 cascade, IRQ 4 COM1,
IRQ 8 RTC, IRQ 12 aux (mouse) port.
"""
from dataclasses import dataclass

from bt.clock import VirtualClock
from bt.devices.kbc import Kbc8042
from bt.devices.pic import PicPair
from bt.devices.pit import Pit8254
from bt.devices.rtc import CmosRtc


@dataclass
class PcDevices:
    """What add_pc_devices attached."""
    clock: VirtualClock
    pic: PicPair
    pit: Pit8254
    rtc: CmosRtc
    kbc: Kbc8042


def add_pc_devices(machine, clock=None, *, rtc_start=None):
    """Create the PC platform devices, attach them to machine and register the timers.

    Args:
        machine: a bt.Machine (devices are attached with ``machine.add_device``).
        clock: a VirtualClock; None makes a virtual one counting ``machine.core.insns``
            at the default rate.  The clock is attached too (no ports), so machine
            snapshots carry it.
        rtc_start: the RTC's start time (None: 2000-01-01 00:00:00 UTC; "host": now;
            epoch seconds or a datetime).

    Returns:
        PcDevices: clock, pic, pit, rtc, kbc.  Callbacks left for the machine to set:
        ``pic.on_intr_change``, ``kbc.on_reset``, ``kbc.on_a20``.
    """
    if clock is None:
        clock = VirtualClock(lambda: machine.core.insns)
    if clock not in machine.devices:
        machine.add_device(clock)
    pic = machine.add_device(PicPair())
    pit = machine.add_device(Pit8254(clock, pic))
    rtc = machine.add_device(CmosRtc(clock, pic, ram_size=int(machine.ram.shape[0]),
                                     start_time=rtc_start))
    kbc = machine.add_device(Kbc8042(pic))
    clock.add_timer(pit)
    clock.add_timer(rtc)
    uart = getattr(machine, "uart", None)
    if uart is not None and hasattr(uart, "irq_line"):
        irq = uart.irq
        uart.irq_line = lambda level: pic.set_irq(irq, level)
        uart.update_irq()
    return PcDevices(clock=clock, pic=pic, pit=pit, rtc=rtc, kbc=kbc)
