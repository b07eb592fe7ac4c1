"""The benchmark scripts stay runnable: every one answers --help fast; the whole quick suite
(`python benchmarks/run.py --quick`, a few minutes) runs under the `slow` marker."""

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p.name for p in BENCH.glob("bench_*.py")) + ["run.py"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_script_help(script):
    res = subprocess.run([sys.executable, str(BENCH / script), "--help"], capture_output=True, text=True,
                         timeout=120, cwd=BENCH.parent)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "usage" in res.stdout.lower()


@pytest.mark.slow
def test_quick_benchmarks_run(tmp_path):
    res = subprocess.run([sys.executable, str(BENCH / "run.py"), "--quick"], capture_output=True, text=True,
                         timeout=1800, cwd=BENCH.parent)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
