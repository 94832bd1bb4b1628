"""0x66 (16-bit operand) and 0x67 (16-bit address) forms in 32-bit code, bt against
Unicorn, 200 random states per form.

With 0x67 an effective address has 16 bits, so it reaches only linear 0..0xFFFF
(flat segments): those forms address LOW, a window of random data at
0x4000..0xFFFF that is compared too, with BX/SI/DI/BP (upper halves random) set
so that every address lands in it.  0x66 forms with 32-bit addresses use DATA as
the other tests do.  Forms are hand-encoded (keystone is unreliable with these
prefixes) and their disassembly is in the comment.
"""
import random

import pytest

from bt import STRATEGIES
from oracle import (AF, ARITH, CODE, DATA, OF, PF, SF, ZF, UnicornRunner, make_machine,
                    random_state, run_bt)

LOW, LOW_END = 0x4000, 0x10000
N_STATES = 200
ALL = 0xFFFFFFFF


def H(s):
    return bytes.fromhex(s.replace(" ", ""))


def low_regs(rng, st):
    # 16-bit bases into LOW: the sum of two plus a displacement stays below 0xFFFF
    for r in ("ebx", "esi", "edi", "ebp"):
        st.regs[r] = (st.regs[r] & 0xFFFF0000) | (0x4000 + rng.randrange(0x3800))


def data_regs(rng, st):
    # 32-bit bases into DATA
    for r in ("eax", "ebx", "esi", "edi"):
        st.regs[r] = DATA + rng.randrange(0x8000)


def small_cx(rng, st):
    st.regs["ecx"] = (st.regs["ecx"] & 0xFFFF0000) | rng.randrange(40)


def small_ecx(rng, st):
    st.regs["ecx"] = rng.randrange(40)


def chain(*fs):
    def fix(rng, st):
        for f in fs:
            f(rng, st)
    return fix


def rel16(n):
    return (n & 0xFFFF).to_bytes(2, "little")


FORMS = [
    # id, bytes (disassembly), flag mask, fixup
    ("mov66", H("66 8b 03  66 c7 00 34 12  66 89 4e 02  66 b8 cd ab"), ALL, data_regs),
    # mov ax,[ebx]; mov word [eax],0x1234; mov [esi+2],cx; mov ax,0xabcd
    ("mov67", H("67 8b 07  67 66 89 42 10  67 8a 20  67 89 0e 00 50  67 c6 03 5a"), ALL, low_regs),
    # mov eax,[bx]; mov [bp+si+0x10],ax; mov ah,[bx+si]; mov [0x5000],ecx; mov byte [bp+di],0x5a
    ("add66", H("66 01 d8  66 83 c1 fd  66 05 34 12  66 03 16  66 81 06 34 12"), ALL, data_regs),
    # add ax,bx; add cx,-3; add ax,0x1234; add dx,[esi]; add word [esi],0x1234
    ("alu67", H("67 03 00  67 66 81 47 02 34 12  67 2b 4e fc  67 31 1b"), ALL & ~AF, low_regs),
    # add eax,[bx+si]; add word [bx+2],0x1234; sub ecx,[bp-4]; xor [bp+di],ebx
    ("adc_sbb66", H("66 11 d8  66 19 ca  66 83 d6 7f"), ALL, None),
    ("inc_dec_neg66", H("66 40  66 4b  66 f7 d9  66 ff 03"), ALL, data_regs),
    ("movzx_movsx66", H("66 0f b6 c3  66 0f be 0e  0f b7 d1  67 66 0f bf 37"), ALL,
     chain(data_regs, low_regs)),
    # movzx ax,bl; movsx cx,byte [esi]; movzx edx,cx; movsx si,word [bx]
    ("xchg66", H("66 91  66 87 1e  67 66 87 17"), ALL, chain(data_regs, low_regs)),
    ("shift66", H("66 d3 e0  66 c1 fb 03  66 d1 d1"), ALL & ~(AF | OF), None),
    ("imul_div66", H("66 0f af c3  66 31 d2  66 f7 f1"), ALL & ~ARITH,
     lambda rng, st: st.regs.__setitem__("ecx", st.regs["ecx"] | 1)),
    ("push_pop66", H("66 50  66 6a fd  66 68 34 12  66 ff 33  66 8f 06  66 59  66 5a  66 58"), ALL, data_regs),
    # push ax; push -3; push 0x1234; push word [ebx]; pop word [esi]; pop cx; pop dx; pop ax
    ("pusha_popa66", H("66 60  89 e0  66 61"), ALL, None),
    ("pushf66", H("66 9c  66 58  66 25 d5 0c  66 50  66 9d"), ALL, None),
    # (PUSH Sreg with 0x66 is in test_diff_16: here Unicorn's selectors are 0, bt's 0x08/0x10)
    ("lea66", H("66 8d 04 18  66 8d 4c 4e 10"), ALL, None),
    # lea ax,[eax+ebx]; lea cx,[esi+ecx*2+0x10]
    ("lea67", H("67 8d 00  67 66 8d 46 ff  67 8d 1e 34 12  67 8d 4b 80"), ALL, None),
    # lea eax,[bx+si]; lea ax,[bp-1]; lea ebx,[0x1234]; lea ecx,[bp+di-0x80]
    ("rep_movsw66", H("f3 66 a5"), ALL, chain(data_regs, small_ecx)),
    ("rep_movsb67", H("f3 67 a4"), ALL, chain(low_regs, small_cx)),
    ("rep_movsw67_66", H("fd f3 67 66 a5"), ALL, chain(low_regs, small_cx)),
    ("rep_stos67", H("f3 67 ab  67 aa"), ALL, chain(low_regs, small_cx)),
    ("repe_cmps67", H("f3 67 a6"), ALL, chain(low_regs, small_cx)),
    ("lods_scas67", H("67 66 ad  67 ae"), ALL, low_regs),
    ("xlat67", H("67 d7"), ALL, low_regs),
    # jcc/loop with 0x67 use CX; 0x66 branches truncate EIP to 16 bits
    ("loop67", H("01 d8  67 e2 fb"), ALL,
     lambda rng, st: st.regs.__setitem__("ecx", (rng.getrandbits(16) << 16) | (1 + rng.randrange(30)))),
    ("jcxz67", H("67 e3 01 40  e3 01 43"), ALL,
     lambda rng, st: st.regs.__setitem__("ecx", rng.choice([0, 0x10000, 7, 0x10007]))),
    ("loope67", H("40  39 d0  67 e1 fa"), ALL & ~ARITH, small_cx),   # flags: see test_diff_16 loope
    ("jcc66", b"".join(H("66 0f") + bytes([0x80 + cc]) + rel16(2) + bytes([0x6A, cc]) for cc in range(16)),
     ALL, None),
    ("jmp66", H("66 e9") + rel16(1) + H("40  66 eb 01 41"), ALL, None),
    ("call_ret66", H("66 e8 02 00  eb 05  66 89 e0  66 c3"), ALL, None),
    ("ret_imm66", H("6a 01 6a 02 66 e8 02 00  eb 07  66 89 e0  66 c2 04 00"), ALL, None),
    ("call_ind66", H("66 ff d3  eb 04  89 e0  66 c3"), ALL,
     lambda rng, st: st.regs.__setitem__("ebx", (st.regs["ebx"] & 0xFFFF0000) | (CODE + 5))),
    ("enter_leave66", H("66 c8 08 00 01  89 e0  66 c9"), ALL,
     lambda rng, st: st.regs.__setitem__("ebp", 0x2E000 + rng.randrange(0x800))),
]


def make_state(seed, fix):
    rng = random.Random(seed)
    st = random_state(rng, 32)
    st.extra_mem = [(LOW, bytes(rng.getrandbits(8) for _ in range(256)) * ((LOW_END - LOW) // 256))]
    if fix:
        fix(rng, st)
    return st


@pytest.mark.parametrize("fid,code,mask,fix", FORMS, ids=[f[0] for f in FORMS])
def test_prefix32(fid, code, mask, fix):
    uc = UnicornRunner(32)
    machines = {s: make_machine(s, 32) for s in STRATEGIES}
    for seed in range(N_STATES):
        st = make_state(seed, fix)
        want = uc.run(code, st)
        want_low = bytes(uc.uc.mem_read(LOW, LOW_END - LOW))
        for strategy, m in machines.items():
            m.reset("prot")
            got = run_bt(code, st, strategy, 32, m=m)
            d = want.diff(got, flag_mask=mask)
            got_low = m.mem.read(LOW, LOW_END - LOW)
            if got_low != want_low:
                i = next(k for k in range(len(got_low)) if got_low[k] != want_low[k])
                d.append(f"low memory differs first at {LOW + i:#x}: {want_low[i]:#04x} != {got_low[i]:#04x}")
            if d:
                regs = " ".join(f"{r}={v:#x}" for r, v in st.regs.items())
                raise AssertionError(f"[{fid}] bt ({strategy}) differs from unicorn for bytes {code.hex()} "
                                     f"(seed {seed}); start {regs} eflags={st.eflags:#x}\n  " + "\n  ".join(d))
