"""Differential oracle: run the same code from the same state in Unicorn
(QEMU's CPU) and in bt, and compare registers, flags, EIP and memory.

Layout shared by both machines (physical = linear, segments based at 0):
    CODE  0x01000  code under test (bt gets a HLT appended as a stop mark)
    DATA  0x10000  64 KiB of data that memory operands point into
    STACK 0x20000  64 KiB; ESP starts at STACK_TOP
"""
import ctypes
import random
from dataclasses import dataclass, field

import keystone
import numpy as np
import unicorn
from unicorn import x86_const as U

from bt import Machine, ExitKind

CODE = 0x1000
DATA = 0x10000
DATA_SIZE = 0x10000
STACK = 0x20000
STACK_SIZE = 0x10000
STACK_TOP = 0x2F000
MAP_SIZE = 0x100000          # Unicorn maps the first MiB
RAM_SIZE = 1 << 20

REGS = ("eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi")
_UC_REG = {n: getattr(U, "UC_X86_REG_" + n.upper()) for n in REGS}

# EFLAGS bits
CF, PF, AF, ZF, SF, TF, IF, DF, OF = 1, 4, 0x10, 0x40, 0x80, 0x100, 0x200, 0x400, 0x800
ARITH = CF | PF | AF | ZF | SF | OF

_ks = {32: keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32),
       16: keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_16)}


def asm(src, bits=32, addr=CODE):
    """Assemble with keystone; returns bytes (check the bytes for forms keystone gets wrong)."""
    enc, _ = _ks[bits].asm(src, addr)
    if enc is None:
        raise ValueError(f"keystone produced nothing for {src!r}")
    return bytes(enc)


@dataclass
class Result:
    regs: dict
    eip: int
    eflags: int
    data: bytes
    stack: bytes
    vector: int | None = None      # exception/interrupt that ended the run
    insns: int | None = None

    def diff(self, other, flag_mask=0xFFFFFFFF, skip_regs=()):
        """List of human-readable differences (empty when equal)."""
        out = []
        for r in REGS:
            if r in skip_regs:
                continue
            if self.regs[r] != other.regs[r]:
                out.append(f"{r}: {self.regs[r]:#010x} != {other.regs[r]:#010x}")
        if self.eip != other.eip:
            out.append(f"eip: {self.eip:#x} != {other.eip:#x}")
        if (self.eflags ^ other.eflags) & flag_mask:
            out.append(f"eflags: {self.eflags:#x} != {other.eflags:#x} (mask {flag_mask:#x}, "
                       f"differ {(self.eflags ^ other.eflags) & flag_mask:#x})")
        if self.vector != other.vector:
            out.append(f"exception: {self.vector} != {other.vector}")
        for name in ("data", "stack"):
            a, b = getattr(self, name), getattr(other, name)
            if a != b:
                i = next(k for k in range(len(a)) if a[k] != b[k])
                base = DATA if name == "data" else STACK
                out.append(f"{name} differs first at {base + i:#x}: {a[i]:#04x} != {b[i]:#04x}")
        return out


@dataclass
class State:
    regs: dict
    eflags: int = 0x2
    data: bytes = b""
    stack: bytes = b""
    extra_mem: list = field(default_factory=list)   # [(addr, bytes)]
    # segment selectors to load before the run, e.g. {"ds": 0x1000, "ss": 0x2000}:
    # in real mode (bits=16) both machines then use base = selector * 16
    segs: dict | None = None


def random_state(rng, bits=32, eflags_random=True):
    """Random registers (ESP fixed in the stack), random flags and data."""
    regs = {r: rng.getrandbits(32) for r in REGS}
    regs["esp"] = STACK_TOP if bits == 32 else STACK_TOP & 0xFFFF
    fl = 0x2
    if eflags_random:
        fl |= rng.getrandbits(32) & ARITH
    data = bytes(rng.getrandbits(8) for _ in range(256)) * (DATA_SIZE // 256)
    stack = bytes(rng.getrandbits(8) for _ in range(256)) * (STACK_SIZE // 256)
    return State(regs=regs, eflags=fl, data=data, stack=stack)


def run_unicorn(code, st, bits=32, max_insns=10_000):
    """Run code from state st in a fresh Unicorn (see UnicornRunner for reuse)."""
    return UnicornRunner(bits).run(code, st, max_insns)


def make_machine(strategy, bits=32):
    return Machine(ram_size=RAM_SIZE, strategy=strategy, mode="prot" if bits == 32 else "real",
                   intercept="all")


def run_bt(code, st, strategy, bits=32, max_insns=10_000, m=None):
    """Run code+HLT in bt; the HLT is the stop mark and is not counted in the result."""
    if m is None:
        m = make_machine(strategy, bits)
    m.mem.write(CODE, code + b"\xf4")
    m.mem.write(DATA, st.data)
    m.mem.write(STACK, st.stack)
    for a, b in st.extra_mem:
        m.mem.write(a, b)
    for r in REGS:
        setattr(m.cpu, r, st.regs[r])
    m.cpu.eflags = st.eflags
    for name, sel in (st.segs or {}).items():
        setattr(m.cpu, name, sel)
    m.cpu.eip = CODE
    ex = m.run(max_insns=max_insns)
    vector = None
    eip = m.cpu.eip
    insns = m.stats["insns"]
    if ex.kind == ExitKind.HLT:
        eip -= 1          # the stop mark
        insns -= 1
    elif ex.kind == ExitKind.EXCEPTION:
        vector = ex.vector
    elif ex.kind != ExitKind.MAX_INSNS:
        raise AssertionError(f"bt stopped unexpectedly: {ex}")
    return Result(regs={r: getattr(m.cpu, r) for r in REGS}, eip=eip, eflags=m.cpu.eflags,
                  data=m.mem.read(DATA, DATA_SIZE), stack=m.mem.read(STACK, STACK_SIZE),
                  vector=vector, insns=insns)


def check(code, st, strategy, bits=32, flag_mask=0xFFFFFFFF, seed=None, skip_regs=()):
    """Run both and assert equality; the failure message names seed, bytes and state."""
    want = run_unicorn(code, st, bits)
    got = run_bt(code, st, strategy, bits)
    d = want.diff(got, flag_mask=flag_mask, skip_regs=skip_regs)
    if d:
        regs = " ".join(f"{r}={st.regs[r]:#x}" for r in REGS)
        raise AssertionError(
            f"bt ({strategy}, {bits}-bit) differs from unicorn for bytes {code.hex()} "
            f"(seed {seed}); start {regs} eflags={st.eflags:#x}\n  " + "\n  ".join(d))
    return want, got


def random_state_full(rng, bits=32, eflags_random=True):
    """Like random_state, but DATA and STACK are random throughout (no 256-byte
    period), so that an access at a wrong address is seen."""
    regs = {r: rng.getrandbits(32) for r in REGS}
    regs["esp"] = STACK_TOP if bits == 32 else STACK_TOP & 0xFFFF
    fl = 0x2
    if eflags_random:
        fl |= rng.getrandbits(32) & ARITH
    return State(regs=regs, eflags=fl, data=rng.randbytes(DATA_SIZE), stack=rng.randbytes(STACK_SIZE))


class Runner:
    """A faster check(): one Unicorn and one bt Machine per strategy, reused for
    every state; Unicorn runs once per state and every strategy is compared
    with it.  ``count=True`` also compares instruction counts (slower: a
    Unicorn code hook)."""

    def __init__(self, strategies, bits=32):
        self.bits = bits
        self.uc = unicorn.Uc(unicorn.UC_ARCH_X86, unicorn.UC_MODE_32 if bits == 32 else unicorn.UC_MODE_16)
        self.uc.mem_map(0, MAP_SIZE)
        self.box = {"vector": None, "n": 0}
        box = self.box

        def on_intr(uc_, intno, _):
            box["vector"] = intno
            uc_.emu_stop()

        self.uc.hook_add(unicorn.UC_HOOK_INTR, on_intr)
        # QEMU remembers the last exception (env->old_exception) to detect double
        # faults; the hook stops before delivery, so every run starts from a
        # saved context or a second #DE would turn into #DF.
        self.ctx0 = self.uc.context_save()
        self._on_code = None
        self.machines = {s: make_machine(s, bits) for s in strategies}
        self._code = None
        # register batches through the binding's low-level calls (the per-register
        # API costs ~20 us a register)
        ids = [_UC_REG[r] for r in REGS] + [U.UC_X86_REG_EFLAGS, U.UC_X86_REG_EIP]
        n = len(ids)
        self._ids = (ctypes.c_int * n)(*ids)
        self._vals = (ctypes.c_uint64 * n)()
        base = ctypes.addressof(self._vals)
        self._ptrs = (ctypes.c_void_p * n)(*(base + 8 * i for i in range(n)))
        self._n = n

    def _count_hook(self, on):
        box = self.box
        if on and self._on_code is None:
            def on_code(uc_, addr, size, _):
                box["n"] += 1
            self._on_code = self.uc.hook_add(unicorn.UC_HOOK_CODE, on_code)
        elif not on and self._on_code is not None:
            self.uc.hook_del(self._on_code)
            self._on_code = None

    def run_unicorn(self, code, st, count=False, max_insns=0):
        uc = self.uc
        if code != self._code:
            uc.mem_write(CODE, code + b"\xf4")
            uc.ctl_remove_cache(CODE, CODE + len(code) + 1)
        uc.mem_write(DATA, st.data)
        uc.mem_write(STACK, st.stack)
        for a, b in st.extra_mem:
            uc.mem_write(a, b)
        uc.context_restore(self.ctx0)
        vals = self._vals
        for i, r in enumerate(REGS):
            vals[i] = st.regs[r]
        vals[8] = st.eflags
        vals[9] = CODE
        if uc._do_reg_write_batch(self._ids, self._ptrs, ctypes.c_int(self._n)) != 0:
            raise AssertionError("unicorn: register write failed")
        self.box["vector"] = None
        self.box["n"] = 0
        self._count_hook(count)
        try:
            uc.emu_start(CODE, CODE + len(code), count=max_insns)
        except unicorn.UcError as e:
            if self.box["vector"] is None:
                # Unicorn reports #UD as an error, not through the interrupt hook
                self.box["vector"] = 6 if e.errno == unicorn.UC_ERR_INSN_INVALID else ("ucerr", e.errno)
        ctypes.memset(self._vals, 0, 8 * self._n)
        if uc._do_reg_read_batch(self._ids, self._ptrs, ctypes.c_int(self._n)) != 0:
            raise AssertionError("unicorn: register read failed")
        v = [x & 0xFFFFFFFF for x in self._vals]
        return Result(regs=dict(zip(REGS, v)), eip=v[9], eflags=v[8],
                      data=bytes(uc.mem_read(DATA, DATA_SIZE)),
                      stack=bytes(uc.mem_read(STACK, STACK_SIZE)),
                      vector=self.box["vector"], insns=self.box["n"] if count else None)

    def run_bt(self, code, st, strategy, max_insns=10_000, count=False):
        m = self.machines[strategy]
        if code != self._code:
            m.mem.write(CODE, code + b"\xf4")
        # DATA and STACK hold no code: write the RAM array directly (Memory.write
        # also drops translations, which only the code page needs)
        m.ram[DATA:DATA + len(st.data)] = np.frombuffer(st.data, np.uint8)
        m.ram[STACK:STACK + len(st.stack)] = np.frombuffer(st.stack, np.uint8)
        for a, b in st.extra_mem:
            m.mem.write(a, b)
        cpu = m.cpu
        core = m.core
        for i, r in enumerate(REGS):
            core.set_reg(i, st.regs[r])
        cpu.eflags = st.eflags
        cpu.eip = CODE
        cpu.halted = 0
        before = m.stats["insns"] if count else m.core.insns
        ex = m.run(max_insns=max_insns)
        vector = None
        eip = cpu.eip
        insns = (m.stats["insns"] if count else m.core.insns) - before
        if ex.kind == ExitKind.HLT:
            eip -= 1
            insns -= 1
        elif ex.kind == ExitKind.EXCEPTION:
            vector = ex.vector
        elif ex.kind != ExitKind.MAX_INSNS:
            raise AssertionError(f"bt stopped unexpectedly: {ex}")
        return Result(regs={r: core.get_reg(i) for i, r in enumerate(REGS)}, eip=eip, eflags=cpu.eflags,
                      data=m.ram[DATA:DATA + DATA_SIZE].tobytes(), stack=m.ram[STACK:STACK + STACK_SIZE].tobytes(),
                      vector=vector, insns=insns)

    def check(self, code, st, flag_mask=0xFFFFFFFF, seed=None, skip_regs=(), count=False, what=""):
        """Run Unicorn once and every strategy; raise naming seed, bytes and state."""
        want = self.run_unicorn(code, st, count=count)
        for s in self.machines:
            got = self.run_bt(code, st, s, count=count)
            d = want.diff(got, flag_mask=flag_mask, skip_regs=skip_regs)
            # Unicorn's code hook also counts an instruction that faults; bt does
            # not retire it
            if count and want.insns - (want.vector is not None) != got.insns:
                d.append(f"insns: {want.insns} (unicorn, incl. a faulting one) != {got.insns}")
            if d:
                regs = " ".join(f"{r}={st.regs[r]:#x}" for r in REGS)
                raise AssertionError(
                    f"bt ({s}, {self.bits}-bit) differs from unicorn for {what} bytes {code.hex()} "
                    f"(seed {seed}); start {regs} eflags={st.eflags:#x}\n  " + "\n  ".join(d))
        self._code = code
        return want


class UnicornRunner:
    """run_unicorn() with one Unicorn instance reused across runs (mapping the
    MiB is most of a run's cost).  Use it for runs of the same code: every run
    rewrites code, DATA, STACK, extra_mem, the registers, EFLAGS and segs."""

    def __init__(self, bits=32):
        self.bits = bits
        self._open()

    def _open(self):
        mode = unicorn.UC_MODE_32 if self.bits == 32 else unicorn.UC_MODE_16
        self.uc = uc = unicorn.Uc(unicorn.UC_ARCH_X86, mode)
        uc.mem_map(0, MAP_SIZE)
        self.box = box = {"vector": None, "n": 0}

        def on_intr(uc_, intno, _):
            box["vector"] = intno
            uc_.emu_stop()

        def on_code(uc_, addr, size, _):
            box["n"] += 1

        uc.hook_add(unicorn.UC_HOOK_INTR, on_intr)
        uc.hook_add(unicorn.UC_HOOK_CODE, on_code)

    def run(self, code, st, max_insns=10_000):
        if self.box["vector"] is not None:
            self._open()    # an exception leaves QEMU state behind (a later #DE became #DF)
        uc, box = self.uc, self.box
        box["vector"], box["n"] = None, 0
        uc.mem_write(CODE, code)
        uc.mem_write(DATA, st.data)
        uc.mem_write(STACK, st.stack)
        for a, b in st.extra_mem:
            uc.mem_write(a, b)
        for r in REGS:
            uc.reg_write(_UC_REG[r], st.regs[r])
        uc.reg_write(U.UC_X86_REG_EFLAGS, st.eflags)
        # real mode: undo a previous run's segment loads; protected mode: only st.segs
        segs = {"cs": 0, "ds": 0, "es": 0, "ss": 0, "fs": 0, "gs": 0} if self.bits == 16 else {}
        segs.update(st.segs or {})
        for name, sel in segs.items():
            uc.reg_write(getattr(U, "UC_X86_REG_" + name.upper()), sel)
        try:
            uc.emu_start(CODE, CODE + len(code), count=max_insns)
        except unicorn.UcError as e:
            if box["vector"] is None:
                box["vector"] = ("ucerr", e.errno)
        return Result(regs={r: uc.reg_read(_UC_REG[r]) for r in REGS},
                      eip=uc.reg_read(U.UC_X86_REG_EIP),
                      eflags=uc.reg_read(U.UC_X86_REG_EFLAGS),
                      data=bytes(uc.mem_read(DATA, DATA_SIZE)),
                      stack=bytes(uc.mem_read(STACK, STACK_SIZE)),
                      vector=box["vector"], insns=box["n"])
