"""pytest-benchmark suites for the engine's parts (see bench/README.md).

    python -m pytest bench/test_engine.py --benchmark-only --benchmark-autosave
    python -m pytest bench/test_engine.py --benchmark-only --benchmark-compare

Each test reports its unit in ``extra_info`` (pytest-benchmark's own columns are
seconds per round): decoder instructions per second, translation microseconds per
guest instruction, callout and dispatch nanoseconds per event.  No assertion is
about time; the assertions check that the guest did what was measured.
"""
import keystone
import pytest

from bt import ExitKind, Machine
from bt.decoder import Decoder
from bt.devices.base import Device

CODE = 0x1000
_ks = keystone.Ks(keystone.KS_ARCH_X86, keystone.KS_MODE_32)


def asm(src, addr=CODE):
    return bytes(_ks.asm(src, addr)[0])


def machine(code, strategy="block", ram=4 << 20, **kw):
    m = Machine(ram_size=ram, strategy=strategy, **kw)
    m.mem.write(CODE, code)
    m.cpu.eip = CODE
    m.cpu.esp = 0x9000
    return m


# A mix of the integer instructions compilers emit: ALU, memory operands, LEA,
# shifts, MOVZX, IMUL, a conditional move; 16 instructions, ~60 bytes.
MIX = """
    add eax, ebx
    mov ecx, [esi+8]
    lea edx, [eax+ecx*4+16]
    xor edi, edx
    shl eax, 3
    movzx ebx, byte ptr [esi+2]
    imul ecx, edx, 37
    sub esi, 4
    mov [ebp-8], eax
    and edx, 0xff00
    or ecx, edx
    cmp eax, ecx
    cmovl eax, ecx
    inc edi
    test esi, esi
    sar ecx, 2
"""


def test_decoder_throughput(benchmark):
    """Decoder().decode over a buffer of mixed instructions (one Python call per
    instruction: this includes building the result dict, so it bounds the C decoder
    from below; the translator calls the same bt_decode from C)."""
    code = asm(MIX * 64)
    dec = Decoder()

    def decode_all():
        off, n = 0, 0
        while off < len(code):
            off += dec.decode(code[off:off + 16])["len"]
            n += 1
        return n

    n = benchmark(decode_all)
    assert n == 16 * 64
    benchmark.extra_info["insns_per_round"] = n
    benchmark.extra_info["insns_per_s"] = round(n / benchmark.stats.stats.median)


def test_translation_cost(benchmark):
    """A long straight line (64 Ki instructions, so 1024 blocks of the 64-instruction
    cap) run once under ``block``: every instruction is translated once and run once,
    so translate_ns / insns_translated is the translation cost per guest instruction."""
    body = asm("mov esi, 0x100000\nmov ebp, 0x200000\n" + MIX * 4096 + "hlt")
    holder = {}

    def setup():
        holder["m"] = machine(body)
        return (holder["m"],), {}

    ex = benchmark.pedantic(lambda m: m.run(), setup=setup, rounds=5, iterations=1)
    assert ex.kind == ExitKind.HLT
    st = holder["m"].stats
    assert st["insns"] == 2 + 16 * 4096 + 1
    benchmark.extra_info["insns_translated"] = st["insns_translated"]
    benchmark.extra_info["blocks_translated"] = st["blocks_translated"]
    benchmark.extra_info["translate_us_per_insn"] = round(
        st["translate_ns"] / st["insns_translated"] / 1e3, 3)
    benchmark.extra_info["run_us_per_insn"] = round(
        benchmark.stats.stats.median / st["insns"] * 1e6, 3)


class NullDevice(Device):
    name = "null"
    ports = [(0x510, 1)]

    def __init__(self):
        self.writes = 0

    def io_write(self, port, size, value):
        self.writes += 1


LOOPS = 100_000


@pytest.mark.parametrize("path,insn", [
    ("python-device", "out dx, al"),        # OUT to a Python device: exit to Machine.run
    ("c-cli-sti", "cli\n    sti"),          # handled in C inside the run loop
    ("c-cpuid", "cpuid"),
])
def test_callout_cost(benchmark, path, insn):
    """A loop around one callout; the same loop with a NOP instead is measured too
    and subtracted, giving nanoseconds per callout."""
    def prog(body):
        return asm(f"mov ecx, {LOOPS}\nmov dx, 0x510\nl: push ecx\nxor eax, eax\n"
                   f"{body}\npop ecx\ndec ecx\njnz l\nhlt")
    code, base = prog(insn), prog("nop")
    holder = {}

    def setup():
        m = machine(code)
        holder["dev"] = m.add_device(NullDevice())
        holder["m"] = m
        return (m,), {}

    ex = benchmark.pedantic(lambda m: m.run(), setup=setup, rounds=3, iterations=1)
    assert ex.kind == ExitKind.HLT
    if path == "python-device":
        assert holder["dev"].writes == LOOPS
    import time
    mb = machine(base)
    t0 = time.perf_counter()
    assert mb.run().kind == ExitKind.HLT
    t_base = time.perf_counter() - t0
    benchmark.extra_info["ns_per_callout"] = round(
        (benchmark.stats.stats.median - t_base) / LOOPS * 1e9, 1)


@pytest.mark.parametrize("strategy", ["block", "chain"])
def test_dispatch_cost(benchmark, strategy):
    """A loop through 64 tiny blocks (one INC and a JMP to the next: 2 instructions
    each), so nearly all the time is block dispatch: the jump cache under ``block``,
    direct links under ``chain``.  Reports nanoseconds per executed block."""
    blocks = "".join(f"b{i}: inc eax\n jmp b{i + 1}\n" for i in range(64))
    code = asm(f"mov ecx, 20000\ntop: {blocks} b64: dec ecx\njnz top\nhlt")
    holder = {}

    def setup():
        holder["m"] = machine(code, strategy=strategy)
        return (holder["m"],), {}

    ex = benchmark.pedantic(lambda m: m.run(), setup=setup, rounds=5, iterations=1)
    assert ex.kind == ExitKind.HLT
    m = holder["m"]
    assert m.cpu.eax == 64 * 20000
    executed = 20000 * 65 + 2
    benchmark.extra_info["blocks_executed"] = executed
    benchmark.extra_info["ns_per_block"] = round(benchmark.stats.stats.median / executed * 1e9, 2)
    benchmark.extra_info["chain_hits"] = m.stats["chain_hits"]


@pytest.mark.parametrize("hook", ["none", "block", "callout", "exception", "interrupt"])
def test_hook_cost(benchmark, hook):
    """The cost of research hooks that are set but have nothing to report: the
    dispatch loop above (64 tiny blocks, no callout, no exception) with one hook of
    each kind added before the run.  Hooks are looked at only on slow paths, so
    every column should equal "none" within noise (a "block" hook fires once per
    translation, 66 times here).  Reports nanoseconds per executed block."""
    blocks = "".join(f"b{i}: inc eax\n jmp b{i + 1}\n" for i in range(64))
    code = asm(f"mov ecx, 20000\ntop: {blocks} b64: dec ecx\njnz top\nhlt")
    holder = {}

    def setup():
        m = holder["m"] = machine(code, strategy="chain")
        holder["events"] = []
        if hook != "none":
            m.hook_add(hook, holder["events"].append)
        return (m,), {}

    ex = benchmark.pedantic(lambda m: m.run(), setup=setup, rounds=5, iterations=1)
    assert ex.kind == ExitKind.HLT
    executed = 20000 * 65 + 2
    benchmark.extra_info["ns_per_block"] = round(benchmark.stats.stats.median / executed * 1e9, 2)
    benchmark.extra_info["hook_events"] = len(holder["events"])
