"""The 8042 keyboard controller (ports 0x60 data, 0x64 status/command), an MF2 keyboard
behind it, and system control port A (0x92).

Status register (read 0x64): bit 0 OBF (a byte waits at 0x60), bit 1 IBF (always 0:
commands complete at once), bit 2 SYS (the system flag: set by a passed self-test or
command-byte bit 2), bit 3 A2 (1: the last write went to 0x64, a command), bit 4 INH
(1: the keyboard is not inhibited), bit 5 AUXB (the byte is from the auxiliary port),
bits 6-7 timeout / parity error (0).

Controller commands (write 0x64): 0x20-0x3F read controller RAM (0x20: the command byte),
0x60-0x7F write it (the next byte to 0x60), 0xA7/0xA8 disable/enable the aux port,
0xA9 aux interface test (0x00), 0xAA self-test (0x55), 0xAB keyboard interface test
(0x00), 0xAD/0xAE disable/enable the keyboard, 0xC0 read the input port, 0xD0 read the
output port, 0xD1 write the output port (bit 0 = 0 resets the system, bit 1 = A20 gate),
0xD2/0xD3 write the keyboard/aux output buffer, 0xD4 write to the aux device (no mouse is
attached: the byte is dropped), 0xDD/0xDF A20 off/on, 0xE0 read test inputs, 0xF0-0xFF
pulse output-port bits 0-3 low (bit clear in the command = pulsed; 0xFE resets).

Command byte: bit 0 keyboard interrupt (IRQ 1) enable, bit 1 aux interrupt (IRQ 12),
bit 2 system flag, bit 4 keyboard disabled, bit 5 aux disabled, bit 6 translation.

The keyboard answers every command byte written to 0x60 with 0xFA (ACK); 0xFF (reset)
adds 0xAA (self-test passed), 0xF2 (identify) adds 0xAB 0x83, 0xEE (echo) answers
0xEE; commands that take a parameter (0xED, 0xF0, 0xF3) ACK it as well.

Port 0x92: bit 1 fast A20 gate, bit 0 a 0->1 write resets the system ("fast reset").
A20 is enabled when either gate is on (they are ORed, as in PC chipsets).

reset() leaves what a BIOS hands over: command byte 0x45 (translation, SYS, keyboard
interrupt), SYS flag set, A20 enabled (the Multiboot entry state).
"""
import collections

from bt.devices.base import Device

ST_OBF, ST_SYS, ST_A2, ST_INH, ST_AUXB = 0x01, 0x04, 0x08, 0x10, 0x20


class Kbc8042(Device):
    """8042 keyboard controller and port 0x92.

    Args:
        pic: the PicPair (IRQ 1 for keyboard bytes, IRQ 12 for aux bytes), or None.

    Callbacks (attributes, None by default): ``on_reset()`` when the guest resets the
    system (0xFE, 0xD1 with bit 0 clear, port 0x92 bit 0); ``on_a20(enabled)`` when the
    A20 gate changes.  ``a20`` is the gate's state; ``reset_requests`` counts resets.
    """

    name = "kbc"
    ports = [(0x60, 1), (0x64, 1), (0x92, 1)]

    def __init__(self, pic=None):
        self.pic = pic
        self.on_reset = None
        self.on_a20 = None
        self.reset_requests = 0
        self._a20 = True
        self.reset()

    def reset(self):
        self.ram = bytearray(32)
        self.ram[0] = 0x45
        self.sys_flag = True
        self.a2 = False
        self.out_port = 0xCF            # reset line high, A20 on, kbd clock/data high
        self.port92 = 0x00              # fast A20 off: the output port's gate holds A20
        self.obuf = collections.deque() # (byte, is_aux)
        self.last_read = 0
        self.expect = None              # the controller command waiting for its data byte
        self.kbd_expect = None          # the keyboard command waiting for its parameter
        for irq, level in getattr(self, "irq_lines", {}).items():
            if level:
                self._drive(irq, 0)     # the output buffer is empty: release the IRQ
        self.irq_lines = {1: 0, 12: 0}
        self._update_a20()

    # ------------------------------------------------------------------ outputs
    @property
    def command_byte(self):
        return self.ram[0]

    @property
    def a20(self):
        """The A20 gate: output port bit 1 OR port 0x92 bit 1."""
        return self._a20

    def _update_a20(self):
        on = bool(self.out_port & 0x02 or self.port92 & 0x02)
        if on != self._a20:
            self._a20 = on
            if self.on_a20 is not None:
                self.on_a20(on)

    def _system_reset(self):
        self.reset_requests += 1
        if self.on_reset is not None:
            self.on_reset()

    def _push(self, byte, aux=False):
        self.obuf.append((byte & 0xFF, aux))
        self._update_irq()

    def _update_irq(self, reread=False):
        want = {1: 0, 12: 0}
        if self.obuf:
            aux = self.obuf[0][1]
            if aux and self.ram[0] & 0x02:
                want[12] = 1
            elif not aux and self.ram[0] & 0x01:
                want[1] = 1
        for irq, level in want.items():
            if reread and level and self.irq_lines[irq]:
                self._drive(irq, 0)     # the next byte makes a fresh edge
            if level != self.irq_lines[irq]:
                self._drive(irq, level)

    def _drive(self, irq, level):
        self.irq_lines[irq] = level
        if self.pic is not None:
            self.pic.set_irq(irq, level)

    def feed(self, scancodes):
        """Queue bytes from the keyboard (scan codes as the guest should read them)."""
        if self.ram[0] & 0x10:
            return                      # keyboard disabled: its clock is held low
        for b in bytes(scancodes):
            self._push(b)

    # ------------------------------------------------------------------ ports
    def io_read(self, port, size):
        if port == 0x64:
            st = ST_INH
            if self.obuf:
                st |= ST_OBF
                if self.obuf[0][1]:
                    st |= ST_AUXB
            if self.sys_flag:
                st |= ST_SYS
            if self.a2:
                st |= ST_A2
            return st
        if port == 0x92:
            return self.port92          # bit 1 as written; bit 0 reads 0 after the pulse
        if self.obuf:
            self.last_read = self.obuf.popleft()[0]
            self._update_irq(reread=True)
        return self.last_read           # an empty buffer reads the last byte again

    def io_write(self, port, size, value):
        value &= 0xFF
        if port == 0x92:
            old = self.port92
            self.port92 = value & ~0x01 & 0xFF
            self._update_a20()
            if value & 0x01 and not old & 0x01:
                self._system_reset()
            return
        if port == 0x64:
            self.a2 = True
            self._command(value)
            return
        self.a2 = False
        exp, self.expect = self.expect, None
        if exp is None:
            self._keyboard(value)
        elif 0x60 <= exp <= 0x7F:
            self.ram[exp - 0x60] = value
            if exp == 0x60:
                self.sys_flag = bool(value & 0x04)
                self._update_irq()
        elif exp == 0xD1:
            self._write_out_port(value)
        elif exp == 0xD2:
            self._push(value)
        elif exp == 0xD3:
            self._push(value, aux=True)
        # 0xD4: to the aux device, which is not there

    def _write_out_port(self, value):
        self.out_port = value | 0x01 if value & 0x01 else value
        self._update_a20()
        if not value & 0x01:
            self.out_port |= 0x01       # the reset pulse is over when the machine restarts
            self._system_reset()

    def _command(self, cmd):
        self.expect = None
        if 0x20 <= cmd <= 0x3F:
            self._push(self.ram[cmd - 0x20])
        elif 0x60 <= cmd <= 0x7F or cmd in (0xD1, 0xD2, 0xD3, 0xD4):
            self.expect = cmd
        elif cmd == 0xA7:
            self.ram[0] |= 0x20
        elif cmd == 0xA8:
            self.ram[0] &= ~0x20 & 0xFF
        elif cmd == 0xA9:
            self._push(0x00)
        elif cmd == 0xAA:
            self.sys_flag = True
            self._push(0x55)
        elif cmd == 0xAB:
            self._push(0x00)
        elif cmd == 0xAD:
            self.ram[0] |= 0x10
        elif cmd == 0xAE:
            self.ram[0] &= ~0x10 & 0xFF
        elif cmd == 0xC0:
            self._push(0x80)            # input port: keyboard not inhibited
        elif cmd == 0xD0:
            v = self.out_port & 0xCF
            if self.obuf:
                v |= 0x20 if self.obuf[0][1] else 0x10
            self._push(v)
        elif cmd == 0xDD:
            self.out_port &= ~0x02 & 0xFF
            self._update_a20()
        elif cmd == 0xDF:
            self.out_port |= 0x02
            self._update_a20()
        elif cmd == 0xE0:
            self._push(0x00)
        elif cmd >= 0xF0:
            if not cmd & 0x01:
                self._system_reset()    # output port bit 0 pulsed low
        # anything else: ignored

    def _keyboard(self, b):
        """A byte for the keyboard itself."""
        if self.kbd_expect is not None:
            self.kbd_expect = None
            self._push(0xFA)            # the parameter of ED/F0/F3
            return
        if b == 0xEE:
            self._push(0xEE)
            return
        self._push(0xFA)
        if b == 0xFF:
            self._push(0xAA)
        elif b == 0xF2:
            self._push(0xAB)
            self._push(0x83)
        elif b in (0xED, 0xF0, 0xF3):
            self.kbd_expect = b

    # ------------------------------------------------------------------ snapshot
    def state(self):
        return {"ram": bytes(self.ram), "sys_flag": self.sys_flag, "a2": self.a2,
                "out_port": self.out_port, "port92": self.port92,
                "obuf": list(self.obuf), "last_read": self.last_read,
                "expect": self.expect, "kbd_expect": self.kbd_expect,
                "irq_lines": dict(self.irq_lines), "a20": self._a20,
                "reset_requests": self.reset_requests}

    def set_state(self, s):
        self.ram = bytearray(s["ram"])
        for k in ("sys_flag", "a2", "out_port", "port92", "last_read", "expect",
                  "kbd_expect", "reset_requests"):
            setattr(self, k, s[k])
        self.obuf = collections.deque(tuple(x) for x in s["obuf"])
        self.irq_lines = dict(s["irq_lines"])
        self._a20 = s["a20"]
