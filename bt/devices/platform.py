"""The PC/AT platform devices around the CPU: PIC pair, PIT, CMOS RTC, keyboard controller.

    from bt.devices.platform import add_pc_devices
    pc = add_pc_devices(m)            # or add_pc_devices(m, VirtualClock(..., mode="host"))
    pc.kbc.on_reset = ...             # what a keyboard-controller reset does

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
        clock: a VirtualClock; None makes a virtual one counting the core's virtual
            instructions (``core.vclock``: retired plus skipped by HLT) at the default
            rate.  The clock is attached too (no ports), so machine snapshots carry it.
        rtc_start: the RTC's start time (None: 2000-01-01 00:00:00 UTC; "host": now;
            epoch seconds or a datetime).

    The machine's ``clock`` and ``pic`` are set, and the PIC's INTR output drives the
    core's ``irq_line``.  Left for the machine to set: ``kbc.on_reset`` and
    ``kbc.on_a20``.

    Returns:
        PcDevices: clock, pic, pit, rtc, kbc.
    """
    core = machine.core
    if clock is None:
        clock = VirtualClock(lambda: core.vclock)
    if clock not in machine.devices:
        machine.add_device(clock)
    pic = machine.add_device(PicPair())
    pit = machine.add_device(Pit8254(clock, pic))
    rtc = machine.add_device(CmosRtc(clock, pic, ram_size=int(machine.ram.shape[0]),
                                     start_time=rtc_start))
    kbc = machine.add_device(Kbc8042(pic))
    clock.add_timer(pit)
    clock.add_timer(rtc)
    machine.clock = clock
    machine.pic = pic

    def intr(level):
        core.irq_line = 1 if level else 0
    pic.on_intr_change = intr
    intr(pic.intr)
    uart = getattr(machine, "uart", None)
    if uart is not None and hasattr(uart, "irq_line"):
        irq = uart.irq
        uart.irq_line = lambda level: pic.set_irq(irq, level)
        uart.update_irq()
    return PcDevices(clock=clock, pic=pic, pit=pit, rtc=rtc, kbc=kbc)
