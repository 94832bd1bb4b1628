"""The chain strategy: static exits linked on the same page, unlinked with their page."""
import threading
import time

from bt import ExitKind, Machine
from oracle import asm


def machine(src, addr=0x1000, strategy="chain"):
    m = Machine(ram_size=1 << 20, strategy=strategy)
    m.mem.write(addr, asm(src, 32, addr))
    m.cpu.eip = addr
    m.cpu.esp = 0x8000
    return m


def test_loop_runs_through_links():
    m = machine("mov ecx, 1000\n l: add eax, ecx\n dec ecx\n jnz l\n hlt")
    assert m.run().kind == ExitKind.HLT
    s = m.stats
    assert m.cpu.eax == 500500
    assert s["chain_links"] >= 2 and s["chain_hits"] >= 997
    assert s["jc_hits"] + s["cache_hits"] < 5


def test_no_link_across_a_page():
    # the loop body jumps between two pages: every transfer goes through the caches
    m = Machine(ram_size=1 << 20, strategy="chain")
    m.mem.write(0x1FF8, asm("l: dec ecx\n jmp 0x2000", 32, 0x1FF8))
    m.mem.write(0x2000, asm("jnz 0x1FF8\n hlt", 32, 0x2000))
    m.cpu.ecx = 100
    m.cpu.eip = 0x1FF8
    assert m.run().kind == ExitKind.HLT and m.cpu.ecx == 0
    assert m.stats["chain_hits"] == 0      # only the final fall-through to HLT got linked
    assert m.stats["chain_links"] <= 1


def test_self_modifying_code_in_a_chained_loop():
    # the loop rewrites the immediate of its own "add eax, imm32" each iteration
    src = """
        mov ecx, 10
    l:  add eax, 1
        inc dword ptr [patch]
        dec ecx
        jnz l
        hlt
    patch_ref:
    """
    code = asm(src.replace("[patch]", "[0x1007]"), 32, 0x1000)
    assert code[5:8] == b"\x83\xc0\x01"       # add eax, imm8 at 0x1005: imm8 at 0x1007
    for strategy in ("interp", "block", "chain", "native"):
        m = Machine(ram_size=1 << 20, strategy=strategy)
        m.mem.write(0x1000, code)
        m.cpu.eip = 0x1000
        assert m.run().kind == ExitKind.HLT
        assert m.cpu.eax == sum(range(1, 11)), strategy
        if strategy != "interp":
            assert m.stats["cache_invalidations"] >= 10


def test_budget_and_stop_in_an_endless_chained_loop():
    m = machine("l: inc eax\n jmp l")
    ex = m.run(max_insns=1001)
    assert ex.kind == ExitKind.MAX_INSNS and m.cpu.eax == 501
    t = threading.Timer(0.2, m.stop)
    t.start()
    t0 = time.time()
    ex = m.run()
    assert ex.kind == ExitKind.STOP and time.time() - t0 < 10
    assert m.stats["chain_hits"] > 1000


def test_chain_matches_interp_on_calls_and_branches():
    src = """
        mov ecx, 200
    l:  mov eax, ecx
        and eax, 3
        jz even
        call f
        jmp next
    even:
        sub ebx, ecx
    next:
        loop l
        hlt
    f:  add ebx, eax
        ret
    """
    states = []
    for s in ("interp", "chain", "native"):
        m = machine(src, strategy=s)
        assert m.run().kind == ExitKind.HLT
        states.append((m.cpu.state, m.stats["insns"]))
    assert states[0] == states[1] == states[2]


def test_cache_stays_bounded_under_code_churn(strategy):
    # the guest writes 3000 small functions "mov eax, ecx; ret", then calls each:
    # every call translates a new block; the cache must flush instead of growing
    src = """
        mov edi, 0x10000
        mov ecx, 3000
    w:  mov byte ptr [edi], 0x89
        mov byte ptr [edi+1], 0xc8
        mov byte ptr [edi+2], 0xc3
        add edi, 16
        dec ecx
        jnz w
        mov edi, 0x10000
        mov ecx, 3000
    l:  call edi
        add edi, 16
        dec ecx
        jnz l
        hlt
    """
    m = Machine(ram_size=1 << 20, strategy=strategy, max_blocks=100)
    m.mem.write(0x1000, asm(src, 32, 0x1000))
    m.cpu.eip = 0x1000
    m.cpu.esp = 0x8000
    peak = 0
    while True:
        ex = m.run(max_insns=500)
        peak = max(peak, m.stats["cache_blocks"])
        if ex.kind != ExitKind.MAX_INSNS:
            break
    assert ex.kind == ExitKind.HLT and m.cpu.eax == 1
    assert peak <= 100
    if strategy != "interp":
        assert m.stats["cache_flushes"] >= 3000 // 100


def test_exact_budgets_through_linked_blocks():
    # run_uops follows links, and RET / JMP r/m through the jump cache, without
    # going back to run_loop: every budget must still stop on the exact
    # instruction, with the state interp has there
    src = """
        mov ecx, 300
    l:  test ecx, 1
        jz even
        add eax, ecx
        jmp next
    even:
        sub ebx, ecx
    next:
        test ecx, 2
        jnz skip
        xor edx, eax
    skip:
        call f
        call g
        dec ecx
        jnz l
        hlt
    f:  add esi, 3
        ret
    g:  pop edx
        add edi, ecx
        jmp edx
    """
    import random
    rng = random.Random(7)
    chunks = [rng.randint(1, 23) for _ in range(400)]
    runs = {}
    for s in ("interp", "block", "chain"):
        m = machine(src, strategy=s)
        trace = []
        for k in chunks:
            ex = m.run(max_insns=k)
            trace.append((ex.kind, m.cpu.state, m.stats["insns"]))
            if ex.kind == ExitKind.HLT:
                break
        runs[s] = trace
    assert runs["interp"] == runs["block"] == runs["chain"]
    assert runs["chain"][-1][0] == ExitKind.HLT


def test_returns_to_addresses_that_share_a_jump_cache_slot():
    # f returns alternately to 0x4105 and 0x5105: one direct-mapped jump-cache
    # slot (linear EIP & 0xFFF) for both; the RET, followed inside the threaded
    # handlers, must check the whole address and never enter the other block
    out = []
    for s in ("interp", "chain"):
        m = Machine(ram_size=1 << 20, strategy=s)
        m.mem.write(0x1000, asm("mov ecx, 300\n l: call 0x4100\n call 0x5100\n dec ecx\n"
                                " jnz l\n hlt", 32, 0x1000))
        m.mem.write(0x4100, asm("call 0x6000\n add eax, 1\n ret", 32, 0x4100))
        m.mem.write(0x5100, asm("call 0x6000\n add ebx, 1\n ret", 32, 0x5100))
        m.mem.write(0x6000, asm("add edx, 1\n ret", 32, 0x6000))
        m.cpu.eip = 0x1000
        m.cpu.esp = 0x8000
        assert m.run().kind == ExitKind.HLT
        out.append((m.cpu.state, m.stats["insns"]))
    assert out[0] == out[1]
    assert (m.cpu.eax, m.cpu.ebx, m.cpu.edx) == (300, 300, 600)
