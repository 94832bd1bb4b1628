"""Native links (bt/native.pxi e_link): a native block's static exit jumps into
its linked successor's native code; and chain's links (and jump-cache entries)
followed inside the threaded handlers (bt/fastpath.pxi run_uops).  Both must
keep everything run_loop guarantees between blocks, and every comparison here
runs chain too: the instruction budget exact (timer interrupts come at budget
ends), a stop request or an interrupt the guest can take seen within a block,
no link into a dropped block.  Oracles: the interp strategy (same state,
instruction count and virtual time), the guest's own arithmetic."""
import threading
import time

import pytest

from bt import ExitKind, Machine
from bt.devices.platform import add_pc_devices
from oracle import asm
from test_pc_devices import _flat_pm_tables, pic_pit_irq0


def nat(m):
    return m.stats["native"]


def link_hits(m, strategy):
    """Blocks entered through a link without going back to run_loop."""
    return nat(m)["link_hits"] if strategy == "native" else m.stats["chain_hits"]


def machine(src, strategy="native", **kw):
    m = Machine(ram_size=1 << 20, strategy=strategy, **kw)
    m.mem.write(0x1000, asm(src, addr=0x1000))
    m.cpu.eip = 0x1000
    m.cpu.esp = 0x9000
    return m


def test_budget_exact_in_a_linked_loop():
    # two blocks linked to each other, budgets that end anywhere in them
    src = "top:\nadd eax, 1\nadd ebx, eax\njmp mid\nmid:\nxor ecx, ebx\nsub edx, 3\njnz top\nhlt"
    for budget in (1, 2, 3, 5, 6, 7, 100, 1001, 99_999, 1_000_003):
        out = []
        for s in ("interp", "chain", "native"):
            m = machine(src, s)
            m.cpu.edx = 3 * 10_000_000
            ex = m.run(max_insns=budget)
            assert ex.kind == ExitKind.MAX_INSNS
            out.append((m.cpu.state, m.stats["insns"]))
        assert out[0] == out[1] == out[2], budget
        assert out[2][1] == budget
    assert nat(m)["link_hits"] > 1_000_003 // 4 - 10, nat(m)


@pytest.mark.parametrize("strategy", ["native", "chain"])
def test_timer_interrupts_in_a_linked_loop(strategy):
    # PIT interrupts (virtual time: each arrives at the end of a budget) into a
    # busy loop of blocks linked to each other: delivered at the same
    # instruction as under interp, so the loop's counter and the time agree
    N = 1193

    def run(strategy):
        m = Machine(strategy=strategy, pc=False)
        pc = add_pc_devices(m)
        m.mem.write(0x2000, asm("""
            inc dword ptr [0x5000]
            mov dword ptr [0x5004], ebx
            push eax
            mov al, 0x20
            out 0x20, al
            pop eax
            iretd
        """, addr=0x2000))
        _flat_pm_tables(m, {0x20: 0x2000})
        m.mem.write(0x1000, asm(f"""
            {pic_pit_irq0(N)}
            xor ebx, ebx
            sti
        spin:
            add ebx, 1
            mov [0x6000], ebx
            jmp next
        next:
            cmp dword ptr [0x5000], 20
            jb spin
            cli
            hlt
        """, addr=0x1000))
        m.cpu.eip = 0x1000
        m.cpu.esp = 0x9000
        ex = m.run(max_insns=50_000_000)
        assert ex.kind == ExitKind.HLT
        return (m.cpu.state, m.core.insns, pc.clock.now_ns(), m.mem.read(0x5000, 8)), m

    want, _ = run("interp")
    got, m = run(strategy)
    assert got == want
    assert link_hits(m, strategy) > 1000 and m.stats["vectors_delivered"].get(0x20) == 20


@pytest.mark.parametrize("strategy", ["native", "chain"])
def test_stop_and_interrupt_reach_a_linked_loop(strategy):
    # an endless loop of linked blocks: a stop request from another thread
    # ends it; an interrupt line raised from another thread ends it with IF=1
    # (EXIT_IRQ) and is ignored with IF=0
    src = "l: inc eax\nadd ebx, eax\njmp l"
    m = machine(src, strategy)
    t = threading.Timer(0.2, m.stop)
    t.start()
    t0 = time.time()
    assert m.run().kind == ExitKind.STOP and time.time() - t0 < 10
    assert link_hits(m, strategy) > 10_000
    # seen at a linked entry, not when the native run's budget (2^32 - 1) ran out
    assert m.stats["insns"] < 1 << 31

    for if_on in (True, False):
        m = machine(src, strategy)
        m.cpu.eflags = 0x202 if if_on else 0x2
        hits = link_hits(m, strategy)

        def raise_line():
            m.core.irq_line = 1
            if not if_on:
                time.sleep(0.3)
                m.core.request_stop()
        t = threading.Timer(0.2, raise_line)
        t.start()
        t0 = time.time()
        r = m.core.run(1 << 60)
        t.join()
        assert time.time() - t0 < 10
        assert r == (10 if if_on else 5)          # EXIT_IRQ, or EXIT_STOP: IF=0 holds it off
        assert link_hits(m, strategy) > hits + 10_000
        assert m.stats["insns"] < 1 << 31


def run_with_patch(src, patch):
    """src at 0x1000 and patch (code that rewrites src) at 0x3000, run to HLT under
    interp, chain and native: [(state, insns, ebx)] in that order, and the
    native machine."""
    out = []
    for s in ("interp", "chain", "native"):
        m = machine(src, s)
        m.mem.write(0x3000, patch)
        assert m.run(max_insns=100_000).kind == ExitKind.HLT
        out.append((m.cpu.state, m.stats["insns"], m.cpu.ebx))
    return out, m


def test_linked_successor_dropped_and_retranslated():
    # block A links to block B on the same page; code on another page patches
    # B's immediate every few passes (whole-page drops first, then, once the page
    # is fine-tracked, only B): A must never jump into the stale B
    src = """
        mov ecx, 200
        xor ebx, ebx
    A:
        add eax, 1
        jmp B
        nop
    B:
        add ebx, 0x11111111
        dec ecx
        jz done
        test ecx, 7
        jnz A
        call 0x3000
        jmp A
    done:
        hlt
    """
    code = asm(src, addr=0x1000)
    imm_at = 0x1000 + code.index(bytes.fromhex("81c311111111")) + 2
    patch = asm(f"mov dword ptr [{imm_at:#x}], ecx\nret", addr=0x3000)
    out, m = run_with_patch(src, patch)
    assert out[0] == out[1] == out[2]
    # the guest's arithmetic: the immediate is 0x11111111 for 8 passes, then 8
    # passes with each patched value 192, 184, ..., 8
    assert out[2][2] == (8 * 0x11111111 + sum(8 * k for k in range(192, 0, -8))) & 0xFFFFFFFF
    st = m.stats
    assert st["smc_range_invalidations"] >= 5 and nat(m)["link_hits"] >= 100, st


def test_ret_links_through_the_jump_cache():
    # recursion: every RET of a native block goes on into the returned-to block's
    # native code when run_loop's jump cache knows it; same state and count as
    # interp for whole runs and for budgets ending anywhere
    src = """
        mov eax, 18
        call fib
        hlt
    fib:
        cmp eax, 2
        jae rec
        ret
    rec:
        push eax
        dec eax
        call fib
        pop ecx
        push eax
        lea eax, [ecx - 2]
        call fib
        pop ecx
        add eax, ecx
        ret
    """
    for budget in (None, 7, 1000, 12_345, 33_333):
        out = []
        for s in ("interp", "chain", "native"):
            m = machine(src, s)
            ex = m.run(max_insns=budget)
            assert ex.kind == (ExitKind.HLT if budget is None else ExitKind.MAX_INSNS)
            out.append((m.cpu.state, m.stats["insns"], m.mem.read(0x8000, 0x1000)))
        assert out[0] == out[1] == out[2], budget
    assert m.cpu.state == out[0][0]
    n = nat(m)
    assert n["ret_link_hits"] > 1000 and n["link_hits"] > 1000, n


def test_ret_link_sees_a_rewritten_return_target():
    # the returned-to code is rewritten between runs (by a store from another
    # page): the jump cache is dropped with the block, so the RET link must not
    # jump into the old code
    src = """
        mov ecx, 40
    L:
        call f
    back:
        add ebx, 1
        dec ecx
        jz done
        test ecx, 7
        jnz L
        call 0x3000
        jmp L
    done:
        hlt
    f:
        add edx, 3
        ret
    """
    code = asm(src, addr=0x1000)
    at = 0x1000 + code.index(bytes.fromhex("83c301")) + 2      # add ebx, imm8: the imm8
    patch = asm(f"mov byte ptr [{at:#x}], cl\nret", addr=0x3000)
    out, m = run_with_patch(src, patch)
    assert out[0] == out[1] == out[2]
    # the guest's arithmetic: 8 passes add 1, then 8 passes each add 32, 24, 16, 8
    assert m.cpu.ebx == 8 * 1 + 8 * (32 + 24 + 16 + 8)
    assert nat(m)["ret_link_hits"] >= 20, nat(m)


def test_random_looped_programs_with_budgets_against_interp():
    # test_native's random blocks (every exit kind, partial native blocks, CALL
    # and RET, stores into the code page) looped so that their blocks link to
    # each other (20 passes), run to the end and to random budgets: native and interp agree
    # on registers, EFLAGS, EIP, memory and the instruction count
    import random
    from oracle import DATA, random_state_full
    from test_native import program
    rng = random.Random(99)
    tot = {"link_hits": 0, "ret_link_hits": 0, "partial": 0}
    for seed in range(60):
        src = "mov dword ptr [0x2e000], 20\nTOP:\n" + program(rng) + \
            "\ndec dword ptr [0x2e000]\njnz TOP\nhlt"
        code = asm(src, addr=0x1000)
        st = random_state_full(rng)
        regs = dict(st.regs)
        regs["ebx"] = DATA + 0x100 + rng.randrange(0x400)
        regs["esi"] = DATA + 0x2000 + rng.randrange(0x400)
        data = rng.randbytes(0x40000)
        budgets = [None] + [rng.randrange(1, 1500) for _ in range(3)]
        for budget in budgets:
            out = []
            for s in ("interp", "chain", "native"):
                m = Machine(ram_size=1 << 20, strategy=s)
                m.mem.write(0x10000, data)
                m.mem.write(0x1000, code)
                for r, v in regs.items():
                    setattr(m.cpu, r, v)
                m.cpu.esp = 0x2F000
                m.cpu.eflags = st.eflags
                m.cpu.eip = 0x1000
                ex = m.run(max_insns=budget or 100_000)
                out.append((ex.kind, m.cpu.state, m.stats["insns"], m.mem.read(0x1000, 0x3F000)))
            assert out[0][:3] == out[1][:3] == out[2][:3], (seed, budget, src)
            assert out[0][3] == out[1][3] == out[2][3], (seed, budget, "memory")
            if budget is None:
                for k in tot:
                    tot[k] += nat(m)[k]
    assert tot["link_hits"] > 1000 and tot["ret_link_hits"] > 50 and tot["partial"] > 100, tot
