"""The CMOS real-time clock (MC146818A register set) at ports 0x70 (index) / 0x71 (data).

Port 0x70: bits 6-0 select one of 128 CMOS bytes, bit 7 = 1 disables NMI (remembered in
``nmi_disabled``; bt has no NMI source yet).  Registers:

    0x00 seconds  0x01 alarm s  0x02 minutes  0x03 alarm m  0x04 hours  0x05 alarm h
    0x06 weekday (1 = Sunday)   0x07 day  0x08 month  0x09 year (two digits)
    0x0A A: UIP (7), DV2-0 (6-4), RS3-0 (3-0)      0x0B B: SET PIE AIE UIE SQWE DM 24/12 DSE
    0x0C C: IRQF PF AF UF (read-only, cleared by the read)   0x0D D: VRT (always 1)
    0x32 century; 0x15/0x16 base memory KiB; 0x17/0x18 and 0x30/0x31 extended memory KiB
    above 1 MiB (at most 0xFFFF); 0x34/0x35 memory above 16 MiB in 64 KiB units;
    0x2E/0x2F the checksum of 0x10-0x2D.

The time is ``start_time`` plus ``clock.now_ns()``: with the virtual clock and a fixed
start (default 2000-01-01 00:00:00 UTC, a Saturday) every run reads the same dates.
The seconds roll over at whole seconds of clock time.  UIP reads 1 during the 244 us +
1984 us before each update (the MC146818A's timing with a 32.768 kHz time base); the
guest then knows the registers are about to change.  SET = 1 freezes the time (and
UIP reads 0) so the guest can write it; clearing SET starts it again from what was
written.  DV2-0 are stored but the divider is always running.

Interrupts (IRQ 8 through the PIC): PF at each edge of the periodic rate selected by
RS3-0 (whether or not PIE is set), UF at each update, AF when an update finds the
alarm bytes equal to the time (a byte with bits 7-6 = 11 matches anything).  IRQF =
(PF & PIE) | (AF & AIE) | (UF & UIE) drives IRQ 8 until register C is read.
"""
import calendar
import datetime
import time

from bt.devices.base import Device

DEFAULT_START = 946684800           # 2000-01-01 00:00:00 UTC
NS = 1_000_000_000
UIP_NS = 244_000 + 1_984_000        # UIP is high this long before each update
REG_A, REG_B, REG_C, REG_D = 0x0A, 0x0B, 0x0C, 0x0D
B_SET, B_PIE, B_AIE, B_UIE, B_DM, B_24H = 0x80, 0x40, 0x20, 0x10, 0x04, 0x02
C_IRQF, C_PF, C_AF, C_UF = 0x80, 0x40, 0x20, 0x10
TIME_REGS = (0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32)


def _start_epoch(start_time):
    if start_time is None:
        return DEFAULT_START
    if start_time == "host":
        return int(time.time())
    if isinstance(start_time, datetime.datetime):
        if start_time.tzinfo is None:
            start_time = start_time.replace(tzinfo=datetime.timezone.utc)
        return int(start_time.timestamp())
    if isinstance(start_time, (int, float)):
        return int(start_time)
    raise ValueError(f"start_time must be None, 'host', epoch seconds or a datetime, "
                     f"got {start_time!r}")


def periodic_ns(rate):
    """Period of the periodic interrupt for RS3-0 = rate (32.768 kHz base), as a fraction
    (numerator, denominator) of nanoseconds; None for rate 0."""
    if rate == 0:
        return None
    if rate < 3:
        rate += 7                       # 1 and 2 give 256 Hz and 128 Hz, as 8 and 9
    return (NS << (rate - 1), 32768)


class CmosRtc(Device):
    """CMOS RTC and NVRAM.

    Args:
        clock: a bt.clock.VirtualClock.
        pic: the PicPair for IRQ 8 (or None).
        ram_size: guest RAM in bytes, for the memory-size bytes.
        start_time: None (2000-01-01 00:00:00 UTC), "host" (the host's time now), epoch
            seconds, or a datetime (naive means UTC).
    """

    name = "rtc"
    ports = [(0x70, 2)]

    def __init__(self, clock, pic=None, ram_size=16 << 20, start_time=None):
        self.clock = clock
        self.pic = pic
        self.ram_size = ram_size
        self.start_epoch = _start_epoch(start_time)
        self.cmos = bytearray(128)
        self.cmos[REG_A] = 0x26         # 32.768 kHz divider, 1024 Hz periodic rate
        self.cmos[REG_B] = B_24H        # 24-hour, BCD
        self._set_memory_bytes()
        self.index = 0
        self.nmi_disabled = False
        # the time: base_epoch seconds at clock time base_ns (always a whole second of
        # clock time); frozen (SET) keeps the broken-down time while it is held
        self.base_epoch = self.start_epoch
        self.base_ns = 0
        self.frozen = None
        self.wday_offset = 0            # the guest may write a weekday the date disagrees with
        self.reset()

    def _set_memory_bytes(self):
        ram = self.ram_size
        base_kib = min(640, ram // 1024)
        ext_kib = min(0xFFFF, max(0, ram - (1 << 20)) // 1024)
        high_64k = min(0xFFFF, max(0, ram - (16 << 20)) // 65536)
        c = self.cmos
        c[0x15], c[0x16] = base_kib & 0xFF, base_kib >> 8
        c[0x17], c[0x18] = ext_kib & 0xFF, ext_kib >> 8
        c[0x30], c[0x31] = ext_kib & 0xFF, ext_kib >> 8
        c[0x34], c[0x35] = high_64k & 0xFF, high_64k >> 8
        s = sum(c[0x10:0x2E])
        c[0x2E], c[0x2F] = s >> 8, s & 0xFF

    def reset(self):
        """The RESET pin: clears PIE, AIE, UIE, SQWE and the flags; time, A, DM,
        24/12 and DSE are kept (the chip is battery backed)."""
        self.cmos[REG_B] &= ~(B_PIE | B_AIE | B_UIE | 0x08) & 0xFF
        self.flags = 0
        self.last_ns = self.clock.now_ns()
        if getattr(self, "irq_line", 0):
            self._set_line()            # IRQF cleared: release IRQ 8
        self.irq_line = 0

    # ------------------------------------------------------------------ the time
    def _epoch(self, now):
        """Seconds since 1970 the clock shows at clock time now (ns)."""
        if self.frozen is not None:
            return self.frozen
        return self.base_epoch + now // NS - self.base_ns // NS

    def _fields(self, now):
        t = time.gmtime(self._epoch(now))
        wday = (t.tm_wday + 1) % 7 + 1             # gmtime: Monday = 0; RTC: Sunday = 1
        wday = (wday - 1 + self.wday_offset) % 7 + 1
        return {0x00: t.tm_sec, 0x02: t.tm_min, 0x04: t.tm_hour, 0x06: wday,
                0x07: t.tm_mday, 0x08: t.tm_mon, 0x09: t.tm_year % 100,
                0x32: t.tm_year // 100}

    def _set_fields(self, f, now):
        year = min(max(f[0x32] * 100 + f[0x09], 1), 9999)
        month = min(max(f[0x08], 1), 12)
        epoch = calendar.timegm((year, month, max(f[0x07], 1), f[0x04], f[0x02], f[0x00],
                                 0, 0, 0))
        true_wday = (time.gmtime(epoch).tm_wday + 1) % 7 + 1
        self.wday_offset = (f[0x06] - true_wday) % 7
        if self.frozen is not None:
            self.frozen = epoch
        else:
            self.base_epoch = epoch
            self.base_ns = now - now % NS

    def _enc(self, v):
        return ((v // 10) << 4 | v % 10) if not self.cmos[REG_B] & B_DM else v

    def _dec(self, v):
        return v if self.cmos[REG_B] & B_DM else ((v >> 4) & 0xF) * 10 + (v & 0xF)

    def _enc_hour(self, h):
        if self.cmos[REG_B] & B_24H:
            return self._enc(h)
        pm = 0x80 if h >= 12 else 0
        return self._enc(h % 12 or 12) | pm

    def _dec_hour(self, v):
        if self.cmos[REG_B] & B_24H:
            return self._dec(v)
        h = self._dec(v & 0x7F) % 12
        return h + 12 if v & 0x80 else h

    # ------------------------------------------------------------------ interrupts
    def _sync(self, now):
        """Set PF, UF and AF for the events in (last_ns, now]."""
        last = self.last_ns
        if now <= last:
            return
        b = self.cmos[REG_B]
        per = periodic_ns(self.cmos[REG_A] & 0x0F)
        if per is not None and self._pidx(now, per) > self._pidx(last, per):
            self.flags |= C_PF
        if self.frozen is None and now // NS > last // NS:
            self.flags |= C_UF
            if self._alarm_hit(last, now):
                self.flags |= C_AF
        self.last_ns = now
        irqf = ((self.flags & C_PF and b & B_PIE) or (self.flags & C_AF and b & B_AIE) or
                (self.flags & C_UF and b & B_UIE))
        if irqf:
            self.flags |= C_IRQF
        self._set_line()

    @staticmethod
    def _pidx(t, per):
        num, den = per
        return t * den // num

    def _alarm_hit(self, last, now):
        """Did an update in (last, now] find the time equal to the alarm?"""
        want = []
        for reg, limit in ((0x01, 60), (0x03, 60), (0x05, 24)):
            b = self.cmos[reg]
            if b & 0xC0 == 0xC0:
                want.append(None)               # don't care
                continue
            v = self._dec_hour(b) if reg == 0x05 else self._dec(b)
            if v >= limit or (self._enc_hour(v) if reg == 0x05 else self._enc(v)) != b:
                return False                    # the chip compares bytes: never equal
            want.append(v)
        if want == [None, None, None]:
            return True
        first = last // NS + 1                  # the updates happened at these seconds
        count = now // NS - first + 1
        tod0 = self._epoch(first * NS) % 86400
        if count >= 86400:
            return True
        sec, mins, hour = want

        def match(tod):
            return ((sec is None or tod % 60 == sec) and
                    (mins is None or tod // 60 % 60 == mins) and
                    (hour is None or tod // 3600 == hour))
        if count <= 3600:
            return any(match((tod0 + i) % 86400) for i in range(count))
        for h in (range(24) if hour is None else (hour,)):
            for m in (range(60) if mins is None else (mins,)):
                for s_ in (range(60) if sec is None else (sec,)):
                    if (h * 3600 + m * 60 + s_ - tod0) % 86400 < count:
                        return True
        return False

    def _recompute_irqf(self):
        b = self.cmos[REG_B]
        if ((self.flags & C_PF and b & B_PIE) or (self.flags & C_AF and b & B_AIE) or
                (self.flags & C_UF and b & B_UIE)):
            self.flags |= C_IRQF
        self._set_line()

    def _set_line(self):
        level = 1 if self.flags & C_IRQF else 0
        if level != self.irq_line:
            self.irq_line = level
            if self.pic is not None:
                self.pic.set_irq(8, level)

    def next_deadline_ns(self, now_ns):
        """The next event that would raise IRQ 8, or None (none enabled, or IRQ 8 is
        already asserted: nothing changes until register C is read)."""
        if self.flags & C_IRQF:
            return None
        b = self.cmos[REG_B]
        best = None
        last = self.last_ns
        per = periodic_ns(self.cmos[REG_A] & 0x0F)
        if b & B_PIE and per is not None:
            num, den = per
            k = self._pidx(last, per) + 1
            best = -((-k * num) // den)
        if b & (B_UIE | B_AIE) and self.frozen is None:
            d = (last // NS + 1) * NS
            best = d if best is None else min(best, d)
        return best

    def update(self, now_ns):
        self._sync(now_ns)

    # ------------------------------------------------------------------ ports
    def io_write(self, port, size, value):
        value &= 0xFF
        if port == 0x70:
            self.index = value & 0x7F
            self.nmi_disabled = bool(value & 0x80)
            return
        i = self.index
        now = self.clock.now_ns()
        self._sync(now)
        if i in TIME_REGS:
            f = self._fields(now)
            f[i] = self._dec_hour(value) if i == 0x04 else self._dec(value)
            self._set_fields(f, now)
        elif i == REG_A:
            self.cmos[REG_A] = value & 0x7F             # UIP is read-only
        elif i == REG_B:
            old = self.cmos[REG_B]
            if value & B_SET:
                if not old & B_SET:
                    value &= ~B_UIE                     # SET going high clears UIE
                    self.frozen = self._epoch(now)
            elif old & B_SET:
                self.base_epoch = self.frozen
                self.base_ns = now - now % NS
                self.frozen = None
            self.cmos[REG_B] = value
            self._recompute_irqf()
        elif i in (REG_C, REG_D):
            pass                                        # read-only
        else:
            self.cmos[i] = value

    def io_read(self, port, size):
        if port == 0x70:
            return 0xFF                                 # the index register is write-only
        i = self.index
        now = self.clock.now_ns()
        self._sync(now)
        if i in TIME_REGS:
            f = self._fields(now)
            return self._enc_hour(f[i]) if i == 0x04 else self._enc(f[i])
        if i == REG_A:
            uip = self.frozen is None and now % NS >= NS - UIP_NS
            return self.cmos[REG_A] | (0x80 if uip else 0)
        if i == REG_C:
            v = self.flags
            self.flags = 0
            self._set_line()
            return v
        if i == REG_D:
            return 0x80                                 # VRT: the battery is good
        return self.cmos[i]

    # ------------------------------------------------------------------ snapshot
    _KEYS = ("index", "nmi_disabled", "base_epoch", "base_ns", "frozen", "wday_offset",
             "flags", "irq_line", "last_ns")

    def state(self):
        d = {k: getattr(self, k) for k in self._KEYS}
        d["cmos"] = bytes(self.cmos)
        return d

    def set_state(self, s):
        for k in self._KEYS:
            setattr(self, k, s[k])
        self.cmos = bytearray(s["cmos"])     # the PIC's own state holds the IRQ 8 line
