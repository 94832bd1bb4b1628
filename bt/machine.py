"""The Python face of bt: ``Machine`` with its ``cpu``, ``mem`` and ``run()``.

    from bt import Machine
    m = Machine(ram_size=16 << 20, strategy="block")
    m.mem.write(0x1000, code)
    m.cpu.eip = 0x1000; m.cpu.esp = 0x9000
    ex = m.run(max_insns=1_000_000)
"""
import enum
import time
from dataclasses import dataclass, field

import numpy as np

from bt._jit import Core, REG_NAMES, SEG_NAMES
from bt.decoder import OP_NAMES
from bt.devices.bus import MmioBus, PortBus
from bt.devices.misc import DebugConsole, ExitPort, FpuErrorPort, PostPort
from bt.devices.uart import Uart16550

STRATEGIES = ("interp", "block", "chain", "native")
TLB_DEFAULT_ENTRIES = 4096    # see bench/README.md (Paging and the TLB) and bench/results/tlb_sweep.txt

# Default CPU model: a P6-family part that reports only what bt implements:
# FPU (the x87, with FCMOVcc/FCOMI since CMOV is set too), PSE (4 MiB pages), TSC,
# MSR, CX8, SEP (SYSENTER/SYSEXIT), PGE (global pages), CMOV and FXSR
# (FXSAVE/FXRSTOR; no SSE).  No PAE.
CPUID_FEATURES_EDX = ((1 << 0) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 8) | (1 << 11) |
                      (1 << 13) | (1 << 15) | (1 << 24))
DEFAULT_CPUID = {
    0: (1, int.from_bytes(b"Genu", "little"), int.from_bytes(b"ntel", "little"),
        int.from_bytes(b"ineI", "little")),
    1: (0x00000619, 0, 0, CPUID_FEATURES_EDX),
    0x80000000: (0x80000000, 0, 0, 0),
}

# OP_* numbers of the port I/O instructions (from bt.decoder.OP_NAMES)
_OP = {name: num for num, name in OP_NAMES.items()}


class ExitKind(enum.IntEnum):
    """Why ``Machine.run`` returned (mirrors ExitCode in bt/_jit.pyx)."""
    NONE = 0
    MAX_INSNS = 1        # the instruction budget is spent
    HLT = 2              # the guest halted
    EXCEPTION = 3        # an intercepted exception (Machine(intercept=...)), not delivered
    BAD_MEM = 4          # an access outside RAM
    STOP = 5             # stop() was called
    IO = 6               # internal: port I/O, completed by Machine before returning
    UNSUPPORTED = 7      # an instruction bt knows but does not implement yet
    ERROR = 8            # internal: a Python device raised (run() re-raises it)
    GUEST_EXIT = 9       # the guest wrote the exit port; Exit.status holds (v << 1) | 1
    IRQ = 10             # internal: INTR is up, Machine acknowledges the PIC and delivers
    TRIPLE_FAULT = 11    # a fault while delivering a double fault: the CPU shut down
    RESET = 12           # the guest pulsed the reset line (keyboard controller 0xFE, port 0x92)
    FERR = 13            # internal: the x87 raised FERR# (CR0.NE=0): IRQ 13 goes up


EXCEPTION_NAMES = {0: "#DE", 1: "#DB", 3: "#BP", 4: "#OF", 5: "#BR", 6: "#UD", 7: "#NM",
                   8: "#DF", 10: "#TS", 11: "#NP", 12: "#SS", 13: "#GP", 14: "#PF",
                   16: "#MF", 17: "#AC", 18: "#MC"}


@dataclass
class Exit:
    """The result of a run: ``kind`` and where the guest stood."""
    kind: ExitKind
    eip: int
    vector: int | None = None
    error_code: int | None = None
    addr: int | None = None
    insn_bytes: bytes = b""
    message: str = ""
    status: int | None = None      # GUEST_EXIT: the exit-port status

    def __str__(self):
        return self.message or f"{self.kind.name} at eip={self.eip:#x}"


@dataclass
class BlockEvent:
    """A translated block (hook "block"): guest EIP, physical address (None when
    the block is not cached: an instruction that spans two pages), instruction
    count and micro-ops as (eip, op name, length)."""
    eip: int
    pa: int | None
    insns: int
    uops: list


@dataclass
class CalloutEvent:
    """A privileged or sensitive instruction reaching the hypervisor (hook "callout")."""
    op: str
    eip: int


@dataclass
class ExceptionEvent:
    """An exception about to be delivered to the guest, or intercepted (hook "exception")."""
    vector: int
    eip: int
    error_code: int | None


@dataclass
class InterruptEvent:
    """An external interrupt acknowledged from the PIC (hook "interrupt")."""
    irq: int | None
    vector: int


HOOK_KINDS = {"block": 1, "callout": 2, "exception": 4, "interrupt": 0}


class BtError(Exception):
    """A clear, user-facing error (bad option, bad image, bad address)."""


class Memory:
    """Guest physical memory: a numpy uint8 array, with cache-coherent writes."""

    def __init__(self, machine):
        self._m = machine
        self.ram = machine.ram

    def _check(self, addr, n):
        if addr < 0 or n < 0 or addr + n > self.ram.shape[0]:
            raise BtError(f"physical range {addr:#x}+{n:#x} is outside RAM "
                          f"(size {self.ram.shape[0]:#x})")

    def read(self, addr, n):
        """Read n bytes of physical memory at addr."""
        self._check(addr, n)
        return self.ram[addr:addr + n].tobytes()

    def write(self, addr, data):
        """Write bytes at physical addr; translations of those pages are dropped."""
        data = bytes(data)
        self._check(addr, len(data))
        self.ram[addr:addr + len(data)] = np.frombuffer(data, np.uint8)
        self._m.core.invalidate(addr, len(data))

    def read_u32(self, addr):
        return int.from_bytes(self.read(addr, 4), "little")

    def virt_to_phys(self, addr):
        """The physical address of linear addr under the guest's page tables (addr
        itself with paging off); BtError when it is not mapped.  No side effects."""
        pa = self._m.core.virt_to_phys(addr & 0xFFFFFFFF)
        if pa is None:
            raise BtError(f"linear address {addr:#x} is not mapped by the guest's page tables "
                          f"(cr3={self._m.core.get_cr(3):#x})")
        return pa

    def _virt_pages(self, addr, n):
        # (physical address, length) pieces of the linear range, page by page
        if addr < 0 or n < 0 or addr + n > 1 << 32:
            raise BtError(f"linear range {addr:#x}+{n:#x} is outside the 4 GiB address space")
        out = []
        while n:
            k = min(n, 0x1000 - (addr & 0xFFF))
            pa = self.virt_to_phys(addr)
            if pa + k > self.ram.shape[0]:
                raise BtError(f"linear address {addr:#x} maps to {pa:#x}, outside RAM "
                              f"(size {self.ram.shape[0]:#x})")
            out.append((pa, k))
            addr += k
            n -= k
        return out

    def read_virt(self, addr, n):
        """Read n bytes at linear addr through the guest's page tables (as a debugger
        does: no permission checks, no Accessed/Dirty bits, no TLB fill)."""
        return b"".join(self.read(pa, k) for pa, k in self._virt_pages(addr, n))

    def write_virt(self, addr, data):
        """Write bytes at linear addr through the guest's page tables (no permission
        checks, no A/D bits); translations of the physical pages written are dropped.
        Nothing is written when any page of the range is unmapped."""
        data = bytes(data)
        pos = 0
        for pa, k in self._virt_pages(addr, len(data)):
            self.write(pa, data[pos:pos + k])
            pos += k

    def write_u32(self, addr, value):
        self.write(addr, (value & 0xFFFFFFFF).to_bytes(4, "little"))


class Cpu:
    """Registers as attributes: eax..edi, ax..di, al..bh, eip, eflags, cs..gs, cr0..cr4.

    ``state`` is a dict of the whole CPU state that round-trips exactly.
    """

    def __init__(self, machine):
        object.__setattr__(self, "_m", machine)
        object.__setattr__(self, "_core", machine.core)

    def __getattr__(self, name):
        core = self._core
        if name in _REG32:
            return core.get_reg(_REG32[name])
        if name in _REG16:
            return core.get_reg(_REG16[name]) & 0xFFFF
        if name in _REG8:
            r, sh = _REG8[name]
            return (core.get_reg(r) >> sh) & 0xFF
        if name in _SEGS:
            return core.get_seg(_SEGS[name])[0]
        if name in _CRS:
            return core.get_cr(_CRS[name])
        if name in ("eip", "eflags", "cpl", "halted"):
            return getattr(core, name)
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name == "state":
            object.__setattr__(self, name, value)     # the property's setter
            return
        core = self._core
        value = int(value)
        if name in _REG32:
            core.set_reg(_REG32[name], value & 0xFFFFFFFF)
        elif name in _REG16:
            r = _REG16[name]
            core.set_reg(r, (core.get_reg(r) & 0xFFFF0000) | (value & 0xFFFF))
        elif name in _REG8:
            r, sh = _REG8[name]
            core.set_reg(r, (core.get_reg(r) & ~(0xFF << sh) & 0xFFFFFFFF) | ((value & 0xFF) << sh))
        elif name in _SEGS:
            self.load_seg(name, value)
        elif name in _CRS:
            core.set_cr(_CRS[name], value & 0xFFFFFFFF)
        elif name in ("eip", "eflags", "cpl", "halted"):
            setattr(core, name, value)
        else:
            raise AttributeError(name)

    def load_seg(self, name, sel):
        """Load segment register ``name`` with selector sel as the guest's MOV would.

        In real mode the base becomes sel*16.  In protected mode the descriptor
        comes from the GDT/LDT; without a GDT (limit 0) only the selector changes.
        """
        i = _SEGS[name]
        core = self._core
        if core.get_cr(0) & 1 and core.get_dtr(0)[1] == 0:
            s = core.get_seg(i)
            core.set_seg(i, sel & 0xFFFF, s[1], s[2], s[3], s[4])
            return
        vec = core.load_seg(i, sel & 0xFFFF)
        if vec is not None:
            raise BtError(f"loading {name}={sel:#x} faults with vector {vec}")

    def set_seg(self, name, sel, base, limit, attr):
        """Set a segment register with an explicit hidden part (base, byte limit,
        attr = descriptor byte 5 | (byte 6 >> 4) << 8)."""
        self._core.set_seg(_SEGS[name], sel, base, limit, attr)

    def get_seg(self, name):
        sel, base, limit, attr, _ = self._core.get_seg(_SEGS[name])
        return {"sel": sel, "base": base, "limit": limit, "attr": attr}

    @property
    def state(self):
        core = self._core
        d = {n: core.get_reg(i) for i, n in enumerate(REG_NAMES)}
        d["eip"] = core.eip
        d["eflags"] = core.eflags
        for i, n in enumerate(SEG_NAMES + ("ldtr", "tr")):
            d[n] = core.get_seg(i)
        d["gdtr"] = core.get_dtr(0)
        d["idtr"] = core.get_dtr(1)
        for i in range(5):
            d[f"cr{i}"] = core.get_cr(i)
        for i in range(8):
            d[f"dr{i}"] = core.get_dr(i)
        d["cpl"] = core.cpl
        d["halted"] = core.halted
        d["shadow"] = core.shadow
        d["msrs"] = core.get_msrs()
        d["fpu"] = core.get_fpu()
        return d

    @state.setter
    def state(self, d):
        core = self._core
        for i, n in enumerate(REG_NAMES):
            core.set_reg(i, d[n])
        core.eip = d["eip"]
        core.eflags = d["eflags"]
        for i, n in enumerate(SEG_NAMES + ("ldtr", "tr")):
            core.set_seg(i, *d[n])
        core.set_dtr(0, *d["gdtr"])
        core.set_dtr(1, *d["idtr"])
        for i in range(5):
            core.set_cr(i, d[f"cr{i}"])
        for i in range(8):
            core.set_dr(i, d[f"dr{i}"])
        core.cpl = d["cpl"]
        core.halted = d["halted"]
        core.shadow = d["shadow"]
        core.set_msrs(d["msrs"])
        if "fpu" in d:
            core.set_fpu(d["fpu"])
        core.flush()


_REG32 = {n: i for i, n in enumerate(REG_NAMES)}
_REG16 = {n[1:]: i for i, n in enumerate(REG_NAMES)}
_REG8 = {"al": (0, 0), "cl": (1, 0), "dl": (2, 0), "bl": (3, 0),
         "ah": (0, 8), "ch": (1, 8), "dh": (2, 8), "bh": (3, 8)}
_SEGS = {n: i for i, n in enumerate(SEG_NAMES)}
_CRS = {f"cr{i}": i for i in range(5)}


def _intercept_mask(intercept):
    """Core.intercept bits for Machine(intercept=...)."""
    if intercept is None:
        return 0
    if intercept == "all":
        return (1 << 33) - 1
    if isinstance(intercept, str):
        raise BtError(f"intercept must be None, 'all' or a list of vectors, got {intercept!r}")
    mask = 0
    for v in intercept:
        if v == "int":
            mask |= 1 << 32
        elif isinstance(v, int) and 0 <= v < 32:
            mask |= 1 << v
        else:
            raise BtError(f"intercept: {v!r} is not an exception vector 0-31 or 'int'")
    return mask


class Machine:
    """An IA-32 machine: CPU, RAM and the I/O-port bus, run by bt's engine.

    Args:
        ram_size: bytes of RAM at physical 0 (a multiple of 4 KiB).
        strategy: "interp" (one instruction at a time, the reference),
            "block" (translated blocks, cached) or "chain" (blocks, with static exits
            linked straight to their successors on the same page).
        mode: "prot" (32-bit flat protected mode, CPL 0, paging off, IF=0:
            a Multiboot entry state) or "real" (16-bit real mode, CS=0).
        max_blocks: bound on cached translated blocks; a full cache is flushed.
        tlb_entries: entries of the software TLB (a power of two; per privilege level:
            supervisor and user have a table each).
        cpuid: {leaf: (eax, ebx, ecx, edx)} overriding the default CPU model.
        serial: where COM1 output goes: a text file-like, a callable(bytes), or None
            (kept in ``m.uart.output`` either way).
        serial_input: bytes the guest can read from COM1; ``serial_stdin=True`` reads stdin.
        debugcon: where port 0xE9 output goes (default: the same place as serial).
        intercept: exceptions that end the run (``ExitKind.EXCEPTION``) instead of
            going to the guest through its IDT/IVT, like a Unicorn interrupt hook:
            None (deliver everything, as hardware does), "all" (every exception and
            every INT n), or an iterable of vectors 0-31 (plus "int" for INT n, n >= 32).
        on_triple_fault: "stop" (end the run with ``ExitKind.TRIPLE_FAULT`` and a
            report of the exception that could not be delivered) or "reset" (reset
            the CPU into real mode at the reset vector, as a PC does).
        pc: attach the PC platform devices (8259A PIC pair, 8254 PIT, CMOS RTC,
            8042 keyboard controller; ``m.pc``), driven by ``m.clock``.
        clock: "virtual" (time advances with retired instructions, ``ns_per_insn``
            each: deterministic, the same run every time) or "host" (wall-clock time).
        ns_per_insn: the virtual clock's rate (1.0: a 1 GHz CPU at one instruction
            per cycle).
        rtc_start: the RTC's start time (None: 2000-01-01 00:00:00 UTC, deterministic;
            "host": now; epoch seconds or a datetime).

    Devices: COM1 16550A UART (``m.uart``), the exit port at 0xF4 (``m.exit_port``), POST
    codes at 0x80 (``m.post``), the 0xE9 debug console (``m.debugcon``).  More devices:
    ``m.add_device(dev)``.
    """

    def __init__(self, ram_size=16 << 20, strategy="block", mode="prot",
                 max_blocks=65536, cpuid=None, serial=None, serial_input=b"",
                 serial_stdin=False, debugcon=None, intercept=None, on_triple_fault="stop",
                 pc=True, clock="virtual", ns_per_insn=1.0, rtc_start=None, tlb_entries=None):
        if strategy not in STRATEGIES:
            raise BtError(f"unknown strategy {strategy!r} (choose from: {', '.join(STRATEGIES)})")
        if mode not in ("prot", "real"):
            raise BtError(f"unknown mode {mode!r} (choose from: prot, real)")
        if not isinstance(ram_size, int) or ram_size < 4096 or ram_size % 4096 or ram_size >= 1 << 32:
            raise BtError(f"ram_size must be a multiple of 4 KiB between 4 KiB and 4 GiB, got {ram_size!r}")
        if max_blocks < 1:
            raise BtError("max_blocks must be at least 1")
        if on_triple_fault not in ("stop", "reset"):
            raise BtError(f"on_triple_fault must be 'stop' or 'reset', got {on_triple_fault!r}")
        self.on_triple_fault = on_triple_fault
        if clock not in ("virtual", "host"):
            raise BtError(f"unknown clock {clock!r} (choose from: virtual, host)")
        if not ns_per_insn > 0:
            raise BtError(f"ns_per_insn must be positive, got {ns_per_insn!r}")
        if tlb_entries is None:
            tlb_entries = TLB_DEFAULT_ENTRIES
        if (not isinstance(tlb_entries, int) or tlb_entries < 2 or tlb_entries > 1 << 20
                or tlb_entries & (tlb_entries - 1)):
            raise BtError(f"tlb_entries must be a power of two between 2 and {1 << 20}, "
                          f"got {tlb_entries!r}")
        self.ram = np.zeros(ram_size, dtype=np.uint8)
        self.core = Core(self.ram, strategy, max_blocks, tlb_entries)
        self.cpu = Cpu(self)
        self.mem = Memory(self)
        self.ports = PortBus()
        self.mmio = MmioBus()
        self.core.mmio_handler = self._mmio_access
        self.devices = []
        self._guest_exit = None
        self.strategy = strategy
        self.io_exits = 0
        self.run_ns = 0
        model = dict(DEFAULT_CPUID)
        model.update(cpuid or {})
        for leaf, regs in model.items():
            self.core.set_cpuid(leaf, *regs)
        self.core.intercept = _intercept_mask(intercept)
        self._hooks = {k: [] for k in HOOK_KINDS}
        self._hook_ids = {}
        self._next_hook = 1
        self.core._hook = self._dispatch_hook
        self.clock = None           # a bt.clock.VirtualClock once timers exist
        self.pic = None             # the interrupt controller: .ack() -> vector
        self.triple_faults = 0
        self.reset(mode)
        self.uart = self.add_device(Uart16550(out=serial, input_data=serial_input,
                                              stdin=serial_stdin))
        self.exit_port = self.add_device(ExitPort(self))
        self.post = self.add_device(PostPort(core=self.core))
        self.debugcon = self.add_device(DebugConsole(out=debugcon if debugcon is not None
                                                     else serial))
        self.pc = None
        self._reset_request = False
        if pc:
            from bt.clock import VirtualClock
            from bt.devices.platform import add_pc_devices
            core = self.core
            self.pc = add_pc_devices(self, VirtualClock(lambda: core.vclock, ns_per_insn, clock),
                                     rtc_start=rtc_start)
            self.pc.kbc.on_reset = self._request_reset
            self.fpu_error_port = self.add_device(FpuErrorPort(self.pc.pic, self.core))

    # ------------------------------------------------------------------ hooks
    def hook_add(self, kind, fn):
        """Call fn(event) on every event of kind: "block" (a block translated:
        BlockEvent), "callout" (CalloutEvent), "exception" (ExceptionEvent) or
        "interrupt" (InterruptEvent).  Returns a handle for hook_del().

        Hooks take effect at once, also for code translated before (adding a
        "block" hook drops the translation cache so that every block is seen).
        An exception raised by fn stops the run and is re-raised from run().
        With no hook set, the engine pays nothing on its hot path.
        """
        if kind not in HOOK_KINDS:
            raise BtError(f"unknown hook kind {kind!r} (choose from: {', '.join(HOOK_KINDS)})")
        if not callable(fn):
            raise BtError(f"hook for {kind!r} is not callable: {fn!r}")
        h = self._next_hook
        self._next_hook += 1
        self._hooks[kind].append((h, fn))
        self._hook_ids[h] = kind
        if kind == "block":
            self.core.flush()
        self._update_hook_mask()
        return h

    def hook_del(self, handle):
        """Remove a hook added by hook_add()."""
        kind = self._hook_ids.pop(handle, None)
        if kind is None:
            raise BtError(f"no hook with handle {handle!r}")
        self._hooks[kind] = [(h, f) for h, f in self._hooks[kind] if h != handle]
        self._update_hook_mask()

    def _update_hook_mask(self):
        self.core.hook_mask = sum(bit for k, bit in HOOK_KINDS.items() if self._hooks[k])

    def _dispatch_hook(self, kind, args):
        if kind == 1:
            eip, pa, n, uops = args
            ev = BlockEvent(eip, None if pa == 0xFFFFFFFF else pa, n,
                            [(e, OP_NAMES.get(op, str(op)), ln) for e, op, ln in uops])
            hooks = self._hooks["block"]
        elif kind == 2:
            ev = CalloutEvent(OP_NAMES.get(args[0], str(args[0])).lower(), args[1])
            hooks = self._hooks["callout"]
        else:
            ev = ExceptionEvent(*args)
            hooks = self._hooks["exception"]
        for _, fn in list(hooks):
            fn(ev)

    def add_device(self, dev):
        """Attach a device (see bt.devices.Device): its ports and MMIO windows are routed."""
        for first, count in dev.ports:
            self.ports.register(dev, first, count)
        for base, size in dev.mmio:
            if base < self.ram.shape[0]:
                raise BtError(f"MMIO window {base:#x} of {dev.name} overlaps RAM")
            self.mmio.register(dev, base, size)
            self.core.mmio_enabled = 1
        self.devices.append(dev)
        return dev

    def guest_exit(self, status):
        """Called by the exit port: end the run with this status after the current insn."""
        self._guest_exit = status
        self.core.request_stop()

    def _mmio_access(self, addr, size, write, value):
        dev = self.mmio.find(addr, size)
        if dev is None:
            return None
        if write:
            dev.mmio_write(addr, size, value)
            return 0
        return dev.mmio_read(addr, size)

    def reset(self, mode="prot"):
        """Put the CPU in the start state of ``mode`` ("prot" or "real")."""
        core = self.core
        for i in range(8):
            core.set_reg(i, 0)
        core.eflags = 0x2
        core.cpl = 0
        core.halted = 0
        for i in range(8):
            core.set_dr(i, 0)
        core.set_dr(6, 0xFFFF0FF0)
        core.set_dr(7, 0x400)
        for i in range(1, 5):
            core.set_cr(i, 0)
        core.set_dtr(0, 0, 0)
        core.set_dtr(1, 0, 0x3FF if mode == "real" else 0)
        core.set_seg(6, 0, 0, 0xFFFF, 0x82)
        core.set_seg(7, 0, 0, 0xFFFF, 0x8B)
        core.fpu_init()
        if mode == "real":
            core.set_cr(0, 0x10)
            for i in range(6):
                core.set_seg(i, 0, 0, 0xFFFF, 0x93)
            # CS: a code segment that real mode still lets CS: overrides write
            # (SF_VALID | SF_READ | SF_WRITE | SF_EXEC)
            core.set_seg(1, 0, 0, 0xFFFF, 0x9B, 1 | 2 | 4 | 64)
        else:
            core.set_cr(0, 0x11)           # PE, ET
            for i in range(6):
                if i == 1:
                    core.set_seg(i, 0x08, 0, 0xFFFFFFFF, 0xC9B)
                else:
                    core.set_seg(i, 0x10, 0, 0xFFFFFFFF, 0xC93)
        core.eip = 0
        core.flush()
        for d in getattr(self, "devices", ()):
            d.reset()

    # ------------------------------------------------------------------ running
    def run(self, max_insns=None):
        """Run the guest until it stops or max_insns instructions retired.

        Returns:
            Exit: why the run stopped (HLT, MAX_INSNS, EXCEPTION, ...).
        """
        core = self.core
        left = (1 << 62) if max_insns is None else int(max_insns)
        if left < 0:
            raise BtError("max_insns must be >= 0")
        t0 = time.perf_counter_ns()
        try:
            while True:
                budget = left
                clock = self.clock
                if clock is not None:
                    clock.run_due()
                    dl = clock.next_deadline_ns()
                    if dl is not None:
                        # stop exactly at the next timer event (virtual time)
                        budget = max(1, min(left, clock.insns_until(dl)))
                before = core.insns
                kind = ExitKind(core.run(budget))
                left -= core.insns - before
                if kind == ExitKind.MAX_INSNS and left > 0:
                    continue                       # a timer deadline, not the budget
                if kind == ExitKind.IO:
                    done = self._complete_io()
                    if done is not True:
                        if done is None:            # INS/OUTS faulted: the guest's handler is next
                            continue
                        return self._exit(done)
                    left -= 1
                    if self._guest_exit is not None or self._reset_request:
                        kind = ExitKind.STOP
                    elif left > 0:
                        continue
                    else:
                        kind = ExitKind.MAX_INSNS
                if core.take_ferr() and self.pc is not None:
                    self.pc.pic.set_irq(13, 1)          # lowered by an OUT to port 0xF0
                if kind == ExitKind.FERR:
                    if left > 0:
                        continue
                    kind = ExitKind.MAX_INSNS
                if kind == ExitKind.IRQ:
                    kind = self._take_irq()
                    if kind is None:
                        continue
                if kind == ExitKind.HLT and self._wait_for_interrupt():
                    continue
                if kind == ExitKind.TRIPLE_FAULT and self.on_triple_fault == "reset":
                    self.triple_faults += 1
                    self.reset("real")
                    self._to_reset_vector()
                    if left > 0:
                        continue
                    kind = ExitKind.MAX_INSNS
                if kind == ExitKind.ERROR:
                    err = self.core.take_error()
                    err.add_note(f"bt: raised by a device or a hook during the guest instruction "
                                 f"at eip={self.core.eip:#x}")
                    raise err
                if kind == ExitKind.STOP and self._reset_request:
                    self._reset_request = False
                    self.core.request_stop_clear()
                    return Exit(kind=ExitKind.RESET, eip=self.core.eip,
                                message=f"the guest reset the machine (keyboard controller) "
                                        f"at eip={self.core.eip:#x}")
                if kind == ExitKind.STOP and self._guest_exit is not None:
                    status, self._guest_exit = self._guest_exit, None
                    self.core.request_stop_clear()
                    return Exit(kind=ExitKind.GUEST_EXIT, eip=self.core.eip, status=status,
                                message=f"guest exit with status {status} at eip={self.core.eip:#x}")
                return self._exit(kind)
        finally:
            self.run_ns += time.perf_counter_ns() - t0

    def _take_irq(self):
        """INTR is up and the guest takes it: the INTA cycle, then IDT delivery.
        Returns None to go on running, or the ExitKind that ends the run."""
        if self.pic is None:
            self.core.irq_line = 0
            return None
        vec = self.pic.ack()
        if self._hooks["interrupt"]:
            ev = InterruptEvent(getattr(self.pic, "last_irq", None), vec)
            for _, fn in list(self._hooks["interrupt"]):
                fn(ev)
        r = self.core.deliver_irq(vec)
        return ExitKind(r) if r else None

    def _wait_for_interrupt(self):
        """HLT with IF=1: skip virtual time to the next timer event and let its
        interrupt wake the guest.  False when nothing can ever wake it."""
        core = self.core
        if not core.eflags & 0x200:
            return False
        if core.irq_line and self.pic is not None:
            return True                 # INTR already up: it wakes the HLT now
        if self.clock is None:
            return False
        for _ in range(1000):
            if core.irq_line:
                return True
            dl = self.clock.next_deadline_ns()
            if dl is None:
                return False
            if self.clock.mode == "host":
                # wall-clock time: wait for the deadline instead of skipping to it
                time.sleep(max(0, dl - self.clock.now_ns()) / 1e9)
            else:
                core.idle = core.idle + max(0, self.clock.insns_until(dl))
            self.clock.run_due()
        return bool(core.irq_line)

    def _request_reset(self):
        # the keyboard controller pulsed the CPU's reset line: finish the I/O
        # instruction, then end the run (there is no BIOS to reset into)
        self._reset_request = True
        self.core.request_stop()

    def _to_reset_vector(self):
        # the state after RESET: CS=F000 with base FFFF0000, EIP=FFF0
        self.core.set_seg(1, 0xF000, 0xFFFF0000, 0xFFFF, 0x9B, 1 | 2 | 4 | 64)
        self.core.eip = 0xFFF0

    def stop(self):
        """Ask a running guest to stop at the next block boundary (thread-safe)."""
        self.core.request_stop()

    def _exit(self, kind):
        info = self.core.exit_info()
        ex = Exit(kind=kind, eip=self.core.eip)
        if kind == ExitKind.EXCEPTION:
            ex.vector = info["vector"]
            ex.error_code = info["error_code"]
            name = EXCEPTION_NAMES.get(ex.vector, f"vector {ex.vector}")
            cur = self.core.current_insn()
            ex.insn_bytes = cur["bytes"] if cur else b""
            ex.message = (f"exception {name}" +
                          (f" (error code {ex.error_code:#x})" if ex.error_code is not None else "") +
                          f" at eip={ex.eip:#x}")
            if ex.vector == 6 and ex.insn_bytes:
                ex.message += f" bytes {ex.insn_bytes[:8].hex(' ')}"
        elif kind == ExitKind.BAD_MEM:
            ex.addr = info["addr"]
            ex.message = (f"guest access to {info['addr']:#x} (size {info['size']}) outside RAM "
                          f"({self.ram.shape[0]:#x} bytes) at eip={ex.eip:#x}")
        elif kind == ExitKind.TRIPLE_FAULT:
            ex.vector = info["vector"]
            ex.error_code = info["error_code"]
            cur = self.core.current_insn()
            ex.insn_bytes = cur["bytes"] if cur else b""
            name = EXCEPTION_NAMES.get(ex.vector, f"vector {ex.vector}")
            last = EXCEPTION_NAMES.get(info["addr"], f"vector {info['addr']}")
            idt = self.core.get_dtr(1)
            ex.message = (f"triple fault: exception {name} at eip={ex.eip:#x}"
                          + (f" (bytes {ex.insn_bytes[:8].hex(' ')})" if ex.insn_bytes else "")
                          + f" could not be delivered (then {last} during #DF; "
                          f"IDT base={idt[0]:#x} limit={idt[1]:#x})")
        elif kind == ExitKind.UNSUPPORTED:
            cur = self.core.current_insn()
            ex.insn_bytes = cur["bytes"] if cur else b""
            if info["addr"] >= 0x10000:
                ex.vector = info["addr"] & 0xFF
                ex.message = (f"unsupported: delivery of vector {ex.vector} through a task gate "
                              f"or to virtual-8086 mode, at eip={ex.eip:#x}")
                return ex
            opname = OP_NAMES.get(info["addr"], "?")
            ex.message = (f"unsupported instruction {opname} at eip={ex.eip:#x} "
                          f"bytes {ex.insn_bytes.hex(' ')}")
        elif kind == ExitKind.HLT:
            ex.message = f"HLT at eip={ex.eip:#x}"
        return ex

    def _complete_io(self):
        """Finish an IN/OUT/INS/OUTS that the loop handed to Python.  Returns True
        when it retired, None when INS/OUTS faulted and the fault went to the guest,
        or the ExitKind that ends the run."""
        core = self.core
        self.io_exits += 1
        port, size, write, string, length = core.io_info()
        try:
            if string:
                cur = core.current_insn()
                r = self._string_io("OUTS" if write else "INS", cur, port)
                if r is not True:
                    return r
            elif write:
                self.ports.write(port, size, core.get_reg(0) & ((1 << (8 * size)) - 1))
            else:
                val = self.ports.read(port, size)
                mask = (1 << (8 * size)) - 1
                core.set_reg(0, (core.get_reg(0) & ~mask & 0xFFFFFFFF) | (val & mask))
        except Exception as e:
            e.add_note(f"bt: raised by a device during the guest's "
                       f"{'OUT' if write else 'IN'}{'S' if string else ''} to port {port:#x} "
                       f"at eip={core.eip:#x}")
            raise
        core.eip = (core.eip + length) & (0xFFFFFFFF if core.get_seg(1)[4] & 16 else 0xFFFF)
        core.insns = core.insns + 1
        return True

    def _string_io(self, op, cur, port):
        # INS/OUTS (with REP), element by element: the memory side is the guest's own
        # access (segment limits, paging, A/D bits, #PF), so a fault in the middle of
        # REP INS/OUTS leaves ECX/ESI/EDI at the faulting element and restarts there
        core = self.core
        size = cur["esize"]
        amask = 0xFFFFFFFF if cur["asz"] == 4 else 0xFFFF
        rep = cur["prefix"] & 6
        step = -size if core.eflags & 0x400 else size
        count = (core.get_reg(1) & amask) if rep else 1
        for _ in range(count):
            if op == "INS":
                di = core.get_reg(7)
                # the write is probed before the port is read: a faulting INS reads nothing
                st, _v = core.io_mem(0, di & amask, size, 2)
                if st == 0:
                    st, _v = core.io_mem(0, di & amask, size, 1, self.ports.read(port, size))
                if st:
                    return self._string_io_fault(st)
                core.set_reg(7, (di & ~amask & 0xFFFFFFFF) | ((di + step) & amask))
            else:
                si = core.get_reg(6)
                st, val = core.io_mem(cur["seg"], si & amask, size, 0)
                if st:
                    return self._string_io_fault(st)
                self.ports.write(port, size, val)
                core.set_reg(6, (si & ~amask & 0xFFFFFFFF) | ((si + step) & amask))
            if rep:
                cx = core.get_reg(1)
                core.set_reg(1, (cx & ~amask & 0xFFFFFFFF) | ((cx - 1) & amask))
        return True

    def _string_io_fault(self, st):
        if st == 2:
            return ExitKind(self.core.exit_info()["kind"])
        r = self.core.deliver_pending_fault()
        return ExitKind(r) if r else None

    # ------------------------------------------------------------------ state
    @property
    def stats(self):
        """Counters of everything the engine did (see README: Counters)."""
        d = self.core.counters()
        d["callouts"] = {OP_NAMES.get(k, str(k)).lower(): v for k, v in d["callouts"].items()}
        d["exceptions"] = {EXCEPTION_NAMES.get(k, str(k)): v for k, v in d["exceptions"].items()}
        d["io_exits"] = self.io_exits
        d["idle_insns"] = self.core.idle
        if self.pc is not None:
            d["irqs"] = dict(sorted(self.pc.pic.irq_counts.items()))
            d["spurious_irqs"] = self.pc.pic.spurious
            d["virtual_time_ns"] = self.clock.now_ns()
        d["post_codes"] = self.post.count
        d["unmapped_port_reads"] = dict(self.ports.unmapped_reads)
        d["unmapped_port_writes"] = dict(self.ports.unmapped_writes)
        d["run_ns"] = self.run_ns
        d["mips"] = round(d["insns"] / self.run_ns * 1e3, 2) if self.run_ns else 0.0
        d["strategy"] = self.strategy
        return d

    def snapshot(self):
        """A copy of the whole machine state (CPU and RAM)."""
        return {"cpu": self.cpu.state, "ram": self.ram.copy(), "insns": self.core.insns,
                "idle": self.core.idle, "irq_line": self.core.irq_line,
                "devices": [d.state() for d in self.devices]}

    def restore(self, snap):
        """Return to a state taken by snapshot()."""
        self.ram[:] = snap["ram"]
        self.cpu.state = snap["cpu"]
        self.core.insns = snap["insns"]
        self.core.idle = snap.get("idle", 0)
        self.core.irq_line = snap.get("irq_line", 0)
        for d, st in zip(self.devices, snap["devices"]):
            d.set_state(st)
