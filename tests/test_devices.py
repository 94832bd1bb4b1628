"""The 16550A UART register by register, the exit port, POST and debug ports, MMIO."""
import pytest

from bt import ExitKind, Machine
from bt.devices import Device, Uart16550
from oracle import asm

COM1 = 0x3F8


def test_uart_transmit_and_lsr():
    got = []
    u = Uart16550(out=got.append)
    u.io_write(COM1, 1, ord("A"))
    assert got == [b"A"] and u.output == b"A"
    assert u.io_read(COM1 + 5, 1) == 0x60          # THRE | TEMT, no data ready


def test_uart_receive_from_string():
    u = Uart16550(input_data=b"ok")
    assert u.io_read(COM1 + 5, 1) & 1
    assert u.io_read(COM1, 1) == ord("o")
    assert u.io_read(COM1, 1) == ord("k")
    assert u.io_read(COM1 + 5, 1) & 1 == 0
    assert u.io_read(COM1, 1) == 0                 # empty receiver reads 0


def test_uart_divisor_latch_and_lcr():
    u = Uart16550()
    u.io_write(COM1 + 3, 1, 0x80)                  # DLAB
    u.io_write(COM1 + 0, 1, 0x01)                  # DLL: 115200 baud
    u.io_write(COM1 + 1, 1, 0x00)                  # DLM
    assert (u.io_read(COM1, 1), u.io_read(COM1 + 1, 1)) == (1, 0)
    assert u.output == b""                         # DLL write is not a transmit
    u.io_write(COM1 + 3, 1, 0x03)                  # 8N1, DLAB off
    assert u.io_read(COM1 + 3, 1) == 0x03
    u.io_write(COM1 + 1, 1, 0x05)
    assert u.io_read(COM1 + 1, 1) == 0x05          # IER again


def test_uart_iir_fcr_and_interrupt_causes():
    u = Uart16550()
    assert u.io_read(COM1 + 2, 1) == 0x01          # no interrupt, FIFOs off
    u.io_write(COM1 + 2, 1, 0x07)                  # enable and clear FIFOs
    assert u.io_read(COM1 + 2, 1) == 0xC1
    u.io_write(COM1 + 1, 1, 0x02)                  # THRE interrupt
    assert u.io_read(COM1 + 2, 1) == 0xC2 and u.irq_pending is False  # read clears it
    u.feed(b"x")
    u.io_write(COM1 + 1, 1, 0x01)                  # receive-data interrupt
    assert u.io_read(COM1 + 2, 1) == 0xC4 and u.irq_pending
    u.io_write(COM1 + 2, 1, 0x03)                  # clear the receive FIFO
    assert u.io_read(COM1 + 5, 1) & 1 == 0


def test_uart_mcr_msr_loopback_scr():
    u = Uart16550()
    assert u.io_read(COM1 + 6, 1) == 0xB0
    u.io_write(COM1 + 4, 1, 0x1F)                  # loopback, all outputs on
    assert u.io_read(COM1 + 4, 1) == 0x1F
    assert u.io_read(COM1 + 6, 1) == 0xF0
    u.io_write(COM1, 1, 0x5A)                      # looped back, not transmitted
    assert u.output == b"" and u.io_read(COM1, 1) == 0x5A
    u.io_write(COM1 + 7, 1, 0xA5)
    assert u.io_read(COM1 + 7, 1) == 0xA5


def test_uart_state_round_trip():
    u = Uart16550(input_data=b"abc")
    u.io_write(COM1 + 7, 1, 0x42)
    v = Uart16550()
    v.set_state(u.state())
    assert v.state() == u.state()


def _run(src, strategy, **kw):
    m = Machine(ram_size=1 << 20, strategy=strategy, **kw)
    m.mem.write(0x1000, asm(src, 32, 0x1000))
    m.cpu.eip = 0x1000
    m.cpu.esp = 0x8000
    return m, m.run(max_insns=100_000)


def test_guest_drives_uart_and_exit_port(strategy):
    m, ex = _run("""
        mov dx, 0x3FD
    wait: in al, dx
        test al, 0x20
        jz wait
        mov dx, 0x3F8
        mov al, 0x4F
        out dx, al
        mov al, 0x4B
        out dx, al
        mov dx, 0x3F8
        in al, dx          /* from serial_input */
        mov bl, al
        mov al, 42
        out 0xF4, al
        hlt
    """, strategy, serial_input=b"Z")
    assert m.uart.output == b"OK" and m.cpu.bl == ord("Z")
    assert ex.kind == ExitKind.GUEST_EXIT and ex.status == 85
    assert ex.eip == m.cpu.eip and m.mem.read(m.cpu.eip, 1) == b"\xf4"


def test_post_and_debugcon_and_unmapped(strategy):
    m, ex = _run("""
        mov al, 0x12
        out 0x80, al
        mov al, 0x34
        out 0x80, al
        mov al, 0x41
        out 0xE9, al
        in al, 0xE9
        mov bl, al
        mov dx, 0x1234
        in eax, dx
        out dx, eax
        hlt
    """, strategy)
    assert ex.kind == ExitKind.HLT
    assert m.post.codes == [0x12, 0x34] and m.debugcon.output == b"A" and m.cpu.bl == 0xE9
    assert m.cpu.eax == 0xFFFFFFFF
    s = m.stats
    assert s["unmapped_port_reads"] == {0x1234: 1} and s["unmapped_port_writes"] == {0x1234: 1}


class Regs(Device):
    name = "regs"
    mmio = [(0xF000_0000, 0x1000)]

    def __init__(self):
        self.mem = {}

    def mmio_read(self, addr, size):
        return self.mem.get(addr, 0x11223344) & ((1 << 8 * size) - 1)

    def mmio_write(self, addr, size, value):
        self.mem[addr] = value


def test_mmio_device(strategy):
    m = Machine(ram_size=1 << 20, strategy=strategy)
    dev = m.add_device(Regs())
    m.mem.write(0x1000, asm("""
        mov eax, [0xF0000010]
        mov dword ptr [0xF0000020], 0xCAFEBABE
        mov ebx, [0xF0000020]
        mov cx, [0xF0000010]
        hlt
    """, 32, 0x1000))
    m.cpu.eip = 0x1000
    assert m.run().kind == ExitKind.HLT
    assert m.cpu.eax == 0x11223344 and m.cpu.ebx == 0xCAFEBABE and m.cpu.cx == 0x3344
    assert dev.mem[0xF0000020] == 0xCAFEBABE and m.stats["mmio_accesses"] == 4


class Broken(Device):
    name = "broken"
    ports = [(0x300, 1)]
    mmio = [(0xF100_0000, 0x1000)]

    def io_read(self, port, size):
        raise RuntimeError("device bug (port)")

    def mmio_read(self, addr, size):
        raise RuntimeError("device bug (mmio)")


@pytest.mark.parametrize("code,what", [("in al, dx", "port"), ("mov eax, [0xF1000000]", "mmio")])
def test_device_exception_is_reraised_with_eip(strategy, code, what):
    m = Machine(ram_size=1 << 20, strategy=strategy)
    m.add_device(Broken())
    m.mem.write(0x1000, asm("nop\n" + code + "\nhlt", 32, 0x1000))
    m.cpu.eip = 0x1000
    m.cpu.edx = 0x300
    with pytest.raises(RuntimeError, match=f"device bug \\({what}\\)") as ei:
        m.run()
    assert any("eip=0x1001" in n for n in ei.value.__notes__)
    assert m.cpu.eip == 0x1001          # the faulting instruction did not retire


def test_access_outside_ram_without_mmio_is_bad_mem(strategy):
    m = Machine(ram_size=1 << 20, strategy=strategy)
    m.mem.write(0x1000, asm("mov eax, [0x200000]", 32, 0x1000))
    m.cpu.eip = 0x1000
    ex = m.run()
    assert ex.kind == ExitKind.BAD_MEM and ex.addr == 0x200000 and ex.eip == 0x1000


class CodePatcher(Device):
    """An MMIO register whose write makes the device rewrite guest code (DMA-like)."""
    name = "patcher"
    mmio = [(0xF200_0000, 0x1000)]

    def __init__(self, m):
        self.m = m

    def mmio_write(self, addr, size, value):
        # overwrite the instruction right after the store: mov eax, 1 -> mov eax, 2
        self.m.mem.write(0x1000 + 10, bytes.fromhex("b802000000"))


def test_device_rewrites_running_block(strategy):
    m = Machine(ram_size=1 << 20, strategy=strategy)
    m.add_device(CodePatcher(m))
    code = asm("mov dword ptr [0xF2000000], 1\n mov eax, 1\n hlt", 32, 0x1000)
    assert code[10:15] == bytes.fromhex("b801000000")
    m.mem.write(0x1000, code)
    for _ in range(3):                     # translate first, then run from the cache
        m.cpu.eip = 0x1000
        m.mem.write(0x100A, bytes.fromhex("b801000000"))
        assert m.run().kind == ExitKind.HLT
        assert m.cpu.eax == 2
