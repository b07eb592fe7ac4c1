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


def test_median_gap_resamples_seeds_in_pairs():
    sys.path.insert(0, str(BENCH))
    try:
        import bench_bo
    finally:
        sys.path.remove(str(BENCH))
    b = [float(i % 7) - 0.1 * i for i in range(40)]
    gap, low, high = bench_bo.median_gap([v + 0.3 for v in b], b)       # a constant shift, seed by seed
    assert abs(gap - 0.3) < 1e-12 and abs(low - 0.3) < 1e-12 and abs(high - 0.3) < 1e-12
    gap, low, high = bench_bo.median_gap(b, list(reversed(b)))          # same values, other pairing
    assert gap == 0.0 and low < 0.0 < high
    assert bench_bo.median_gap(b, list(reversed(b))) == (gap, low, high)  # seeded
    with pytest.raises(ValueError, match="same, non-zero length"):
        bench_bo.median_gap(b, b[:-1])
