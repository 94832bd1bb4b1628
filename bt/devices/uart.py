"""16550A UART (COM1 at 0x3F8, IRQ 4).

Registers (offset from the base; DLAB = LCR bit 7):
    0  RBR (read) / THR (write) / DLL with DLAB
    1  IER / DLM with DLAB
    2  IIR (read) / FCR (write)
    3  LCR   4 MCR   5 LSR   6 MSR   7 SCR
Transmission is instantaneous: LSR always shows THRE and TEMT.  Received bytes
come from a string given up front, or from stdin read by a background thread.
Loopback mode (MCR bit 4) feeds THR back into the receiver as the chip does.

Interrupts: ``irq_line`` (callable(level) or None) is driven with the UART's interrupt
output as a PC board wires it: the pending IIR condition, gated by MCR OUT2 (bit 3),
which PC serial drivers set to connect the UART to its IRQ.  It is re-evaluated after
every register access and ``feed()``; bytes the stdin thread receives are noticed at
the next access or ``update_irq()`` (the thread never calls into the PIC).
"""
import collections
import sys
import threading

from bt.devices.base import Device

LSR_DR, LSR_THRE, LSR_TEMT = 0x01, 0x20, 0x40
IER_RDA, IER_THRE = 0x01, 0x02


class Uart16550(Device):
    name = "uart"

    def __init__(self, base=0x3F8, irq=4, out=None, input_data=b"", stdin=False,
                 irq_line=None):
        """out: a file-like with write(str) and flush(), a callable(bytes), or None.
        irq_line: callable(level) driven with the interrupt output (see above), or None."""
        self.base = base
        self.irq = irq
        self.irq_line = irq_line
        self._line = 0
        self.ports = [(base, 8)]
        self._out = out
        self.output = bytearray()        # everything the guest transmitted
        self._rx = collections.deque(input_data.encode() if isinstance(input_data, str)
                                     else bytes(input_data))
        self._lock = threading.Lock()
        if stdin:
            threading.Thread(target=self._stdin_reader, daemon=True).start()
        self.reset()

    def reset(self):
        self.ier = 0
        self.lcr = 0x03
        self.mcr = 0
        self.scr = 0
        self.dll, self.dlm = 0x0C, 0x00  # 9600 baud
        self.fcr = 0
        self.thr_empty_pending = False   # THRE interrupt condition, cleared by reading IIR
        self.lsr_errors = 0
        self.update_irq()

    def update_irq(self):
        """Drive irq_line with the interrupt output (pending condition and OUT2)."""
        level = 1 if (self.mcr & 0x08 and self.irq_pending) else 0
        if level != self._line:
            self._line = level
            if self.irq_line is not None:
                self.irq_line(level)

    def _stdin_reader(self):
        while True:
            b = sys.stdin.buffer.read1(64) if hasattr(sys.stdin.buffer, "read1") else sys.stdin.buffer.read(1)
            if not b:
                return
            with self._lock:
                self._rx.extend(b)

    def feed(self, data):
        """Queue bytes for the guest to receive."""
        with self._lock:
            self._rx.extend(data.encode() if isinstance(data, str) else data)
        self.update_irq()

    def _transmit(self, byte):
        if self.mcr & 0x10:              # loopback: back into our own receiver
            with self._lock:
                self._rx.append(byte)
            return
        self.output.append(byte)
        out = self._out
        if out is None:
            return
        if callable(out):
            out(bytes([byte]))
        else:
            out.write(chr(byte))
            if byte == 10:
                out.flush()

    def flush(self):
        if self._out is not None and hasattr(self._out, "flush"):
            self._out.flush()

    @property
    def irq_pending(self):
        return not (self._iir() & 0x01)

    def _iir(self):
        fifo = 0xC0 if self.fcr & 1 else 0
        if self.ier & IER_RDA and self._rx:
            return fifo | 0x04
        if self.ier & IER_THRE and self.thr_empty_pending:
            return fifo | 0x02
        return fifo | 0x01

    def io_read(self, port, size):
        v = self._io_read(port)
        if self.irq_line is not None:
            self.update_irq()
        return v

    def _io_read(self, port):
        r = port - self.base
        dlab = self.lcr & 0x80
        if r == 0:
            if dlab:
                return self.dll
            with self._lock:
                return self._rx.popleft() if self._rx else 0
        if r == 1:
            return self.dlm if dlab else self.ier
        if r == 2:
            v = self._iir()
            if (v & 0x0F) == 0x02:
                self.thr_empty_pending = False   # reading IIR clears a THRE interrupt
            return v
        if r == 3:
            return self.lcr
        if r == 4:
            return self.mcr
        if r == 5:
            v = LSR_THRE | LSR_TEMT | self.lsr_errors
            self.lsr_errors = 0
            if self._rx:
                v |= LSR_DR
            return v
        if r == 6:
            if self.mcr & 0x10:
                # loopback: DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD
                m = self.mcr
                return (((m & 1) << 5) | ((m & 2) << 3) | ((m & 4) << 4) | ((m & 8) << 4))
            return 0xB0                  # CTS, DSR, DCD: a terminal is attached
        return self.scr

    def io_write(self, port, size, value):
        self._io_write(port, value & 0xFF)
        if self.irq_line is not None:
            self.update_irq()

    def _io_write(self, port, value):
        r = port - self.base
        dlab = self.lcr & 0x80
        if r == 0:
            if dlab:
                self.dll = value
            else:
                self._transmit(value)
                self.thr_empty_pending = True
        elif r == 1:
            if dlab:
                self.dlm = value
            else:
                if value & IER_THRE and not self.ier & IER_THRE:
                    self.thr_empty_pending = True   # THR is empty right now
                self.ier = value & 0x0F
        elif r == 2:
            self.fcr = value & 0xC9
            if value & 0x02:
                with self._lock:
                    self._rx.clear()
        elif r == 3:
            self.lcr = value
        elif r == 4:
            self.mcr = value & 0x1F
        elif r == 7:
            self.scr = value

    def state(self):
        return {"ier": self.ier, "lcr": self.lcr, "mcr": self.mcr, "scr": self.scr,
                "dll": self.dll, "dlm": self.dlm, "fcr": self.fcr,
                "thr_empty_pending": self.thr_empty_pending, "rx": bytes(self._rx),
                "line": self._line}

    def set_state(self, s):
        for k in ("ier", "lcr", "mcr", "scr", "dll", "dlm", "fcr", "thr_empty_pending"):
            setattr(self, k, s[k])
        self._line = s.get("line", 0)    # the PIC's own state holds the line's level
        with self._lock:
            self._rx = collections.deque(s["rx"])
