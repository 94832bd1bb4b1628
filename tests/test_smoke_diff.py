import random

import pytest

from oracle import ARITH, asm, check, random_state

FORMS = ["add eax, ebx", "sub ecx, edx", "adc eax, 0x7f", "sbb bl, cl", "xor esi, edi",
         "cmp eax, ebx", "inc ecx", "dec dx", "neg eax"]


@pytest.mark.parametrize("src", FORMS)
def test_alu_smoke(src, strategy):
    code = asm(src)
    for seed in range(50):
        rng = random.Random(seed)
        check(code, random_state(rng), strategy, seed=seed)
