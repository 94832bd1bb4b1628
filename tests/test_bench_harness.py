"""bt bench end to end on the --quick sizes: bt, native and Unicorn agree on every
workload's checksum, the JSON is written, a missing runner is reported as skipped,
and bad options are one-line errors.  No timing is asserted anywhere."""
import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("ziglang")
pytest.importorskip("unicorn")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _bt(args, env=None, timeout=300):
    return subprocess.run([sys.executable, "-m", "bt"] + args, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("bench-cache"))


def test_bench_quick_end_to_end(tmp_path, cache):
    out = tmp_path / "out"
    # PATH holds only Python's directory: the QEMUs cannot be found and must be
    # reported as skipped, not silently dropped.
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    args = ["bench", "--quick", "--reps", "1", "--out", str(out), "--cache", cache,
            "--runners", "bt-block,bt-chain,native,unicorn,qemu-system",
            "--workloads", "sieve,crc32,matmul,qsort,fib,nano", "--timeout", "60"]
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        args.append("--no-plot")
    r = _bt(args, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Traceback" not in r.stderr
    assert "skipped qemu-system: qemu-system-i386 not found" in r.stdout
    doc = json.loads((out / "bench.json").read_text())
    assert doc["failures"] == []
    assert doc["skipped"].keys() == {"qemu-system"}
    assert set(doc["results"]) == {"sieve", "crc32", "matmul", "qsort", "fib"}
    for w, res in doc["results"].items():
        sums = {name: e["checksum"] for name, e in res["runners"].items()}
        assert set(sums) == {"bt-block", "bt-chain", "native", "unicorn"}, w
        assert len(set(sums.values())) == 1 and res["checksum"] in sums.values(), (w, sums)
        assert res["guest_insns"] > 0
    assert doc["results"]["fib"]["checksum"] == "0x000003db"       # fib(16) = 987
    assert set(doc["nano"]) == {"bt-block", "bt-chain"}
    # every privileged nanobenchmark runs on bt: IDT delivery, ring 3 and paging exist
    for runner in ("bt-block", "bt-chain"):
        assert {"int80+iret", "sysenter+sysexit", "mov cr3", "invlpg", "#PF round trip",
                "#DE round trip", "pte write+invlpg"} <= set(doc["nano"][runner]["ns_per_op"])
    if "--no-plot" not in args:
        assert (out / "bench.png").stat().st_size > 0


@pytest.mark.parametrize("args,msg", [
    (["--runners", "bochs"], "unknown runner 'bochs'"),
    (["--workloads", "linpack"], "unknown workload 'linpack'"),
    (["--reps", "0"], "--reps must be at least 1"),
    (["--src", "/nonexistent"], "needs bt's source tree"),
])
def test_bench_bad_options(tmp_path, args, msg):
    r = _bt(["bench", "--quick", "--no-plot", "--out", str(tmp_path)] + args)
    assert r.returncode == 2, r.stderr
    assert msg in r.stderr
    assert "Traceback" not in r.stderr
    assert len([l for l in r.stderr.splitlines() if l.startswith("bt") and "error" in l]) == 1
