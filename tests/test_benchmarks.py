"""The benchmark scripts stay runnable: every one answers --help fast; the whole quick suite
(`python benchmarks/run.py --quick`, a few minutes) runs under the `slow` marker."""

import importlib
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


def _bench(name: str = "bench_bo"):
    """A module of ``benchmarks/`` (which imports its siblings by name), imported from there."""
    sys.path.insert(0, str(BENCH))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCH))


def test_median_gap_resamples_seeds_in_pairs():
    bench_bo = _bench()
    b = [float(i % 7) - 0.1 * i for i in range(40)]
    gap, low, high = bench_bo.median_gap([v + 0.3 for v in b], b)       # a constant shift, seed by seed
    assert abs(gap - 0.3) < 1e-12 and abs(low - 0.3) < 1e-12 and abs(high - 0.3) < 1e-12
    gap, low, high = bench_bo.median_gap(b, list(reversed(b)))          # same values, other pairing
    assert gap == 0.0 and low < 0.0 < high
    assert bench_bo.median_gap(b, list(reversed(b))) == (gap, low, high)  # seeded
    with pytest.raises(ValueError, match="same, non-zero length"):
        bench_bo.median_gap(b, b[:-1])


def test_gaps_at_the_recommendation_pair_the_runs_that_have_one():
    """The recommendation's line compares ei with botorch per function over the seeds where both
    have a recommended regret, counts the functions where ei's median is no higher, and leaves
    out runs without one (e.g. rows from before the field)."""
    bench_bo = _bench()
    rows = []
    for fn, shift in (("forrester", -0.5), ("branin", 0.25)):
        for seed in range(6):
            for method, rec in (("ei", seed + shift), ("botorch", float(seed))):
                row = {"function": fn, "method": method, "seed": seed, "noisy": True, "budget": 1, "regret": [1.0],
                       "log10_regret": 0.0}
                if not (method == "ei" and seed == 5):                  # one run without the field
                    row["log10_regret_recommended"] = rec
                rows.append(row)
    line = bench_bo.gaps(rows, "log10_regret_recommended")
    assert line.startswith("noisy at the recommended input: ei no worse than botorch on 1/2 (worse on ['branin'])")
    assert "forrester -0.50 [-0.50, -0.50]" in line and "branin +0.25 [+0.25, +0.25]" in line
    assert "recommended" not in bench_bo.gaps(rows) and "forrester +0.00" in bench_bo.gaps(rows)


def test_gaps_of_another_method_count_the_functions_it_is_no_worse_on():
    bench_bo = _bench()
    rows = [{"function": fn, "method": method, "seed": seed, "noisy": True, "budget": 1, "regret": [1.0],
             "log10_regret": float(seed) + (shift if method == "nei" else 0.0)}
            for fn, shift in (("study", 0.5), ("levy4", -0.5)) for seed in range(5) for method in ("nei", "botorch")]
    line = bench_bo.gaps(rows, method="nei")
    assert line.startswith("noisy: nei no worse than botorch on 1/2 (worse on ['study']); median log10 regret nei - ")
    assert "study +0.50 [+0.50, +0.50]" in line and "levy4 -0.50 [-0.50, -0.50]" in line
    assert bench_bo.gaps(rows) == ""                                   # no ei rows: nothing to say


def test_environments_are_recorded_by_name_and_kept(tmp_path):
    bench_bo = _bench()
    old = {"torch": "2.1", "python": "3.11.7", "platform": "x", "versions": {"botorch": "0.12"}}
    (tmp_path / "environment.json").write_text(__import__("json").dumps(old))   # session 11's one-environment file
    new = {**old, "versions": {"botorch": "0.18.1"}}
    name = bench_bo.record_environment(str(tmp_path), new)
    again = bench_bo.record_environment(str(tmp_path), {**new, "platform": "y"})  # the versions name it
    known = __import__("json").loads((tmp_path / "environment.json").read_text())
    assert name == again and len(name) == 10 and len(known) == 2
    assert known[name]["versions"] == {"botorch": "0.18.1"} and old in known.values()


def test_summary_of_the_first_seeds_is_printed_and_writes_nothing(tmp_path):
    """``--summary --seeds N`` reads the bars over seeds 0..N-1 only (how a cell stood before more
    seeds were run), and leaves table.md and the figures to the summary of every seed."""
    import json
    rows = [{"function": "branin", "method": method, "seed": seed, "noisy": True, "budget": 1, "regret": [1.0],
             "seconds_per_iteration": 0.1,
             "log10_regret": float(seed) + (0.5 if method == "ei" and seed >= 2 else 0.0)}
            for seed in range(5) for method in ("ei", "botorch")]
    (tmp_path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    run = [sys.executable, str(BENCH / "bench_bo.py"), "--summary", "--out", str(tmp_path)]
    early = subprocess.run(run + ["--seeds", "2"], capture_output=True, text=True, timeout=120, cwd=BENCH.parent)
    assert early.returncode == 0, early.stderr[-2000:]
    assert "noisy: ei no worse than botorch on 1/1" in early.stdout and "n=2)" in early.stdout
    assert not (tmp_path / "table.md").exists() and not list(tmp_path.glob("*.png"))
    full = subprocess.run(run, capture_output=True, text=True, timeout=120, cwd=BENCH.parent)
    assert "noisy: ei no worse than botorch on 0/1 (worse on ['branin'])" in full.stdout and "n=5)" in full.stdout
    assert (tmp_path / "table.md").read_text().strip() in full.stdout
    bad = subprocess.run(run + ["--seeds", "0"], capture_output=True, text=True, timeout=120, cwd=BENCH.parent)
    assert bad.returncode == 2 and "--seeds must be at least 1, got 0" in bad.stderr


def test_variant_screens_compare_the_seeds_every_column_ran():
    compare = _bench("bench_bo_variants").compare
    rows = [{"variant": v, "function": "branin", "seed": s, "noisy": True, "session": 14, "log10_regret": x}
            for v, xs in [("reported-ei", [0.0, 1.0, 2.0, 9.0]), ("reference-ei", [1.0, 1.0, 3.0, 0.0]),
                          ("reference-botorch", [2.0, 0.5, 1.0])] for s, x in enumerate(xs)]
    rows.append({**rows[0], "session": 13, "seed": 3, "variant": "reference-botorch"})   # another session: ignored
    out = compare(rows, "reported-ei", ["branin", "levy4"], range(0, 10), noisy=True).splitlines()
    assert len(out) == 4 and out[2].startswith("| branin | 3 | +1.00 | +1.00 | +1.00 | 3 | 1 | 1 | +0.000 [")
    assert "reported-ei vs reference-ei 2/0 (p=0.50)" in out[3]
    assert "reference-ei vs reference-botorch 1/2 (p=1.00)" in out[3]
    alone = compare(rows, "reference-ei", ["branin"], range(0, 10), noisy=True).splitlines()
    assert alone[0].count("reference-ei") == 3 and "reported-ei" not in alone[0]
    assert compare(rows, "reported-ei", ["branin"], range(0, 10), noisy=False).splitlines()[2].startswith("pooled")


def test_reported_improvement_is_the_expected_gain_at_the_best_observation():
    """The screened acquisition's closed form against Monte Carlo over the same posterior: the
    true value at the incumbent minus the new point's, counted when its noisy value comes lower."""
    import torch

    from pyroml.bo.loop import BayesOpt
    bench_bo_variants = _bench("bench_bo_variants")
    g = torch.Generator().manual_seed(0)
    X = torch.rand(12, 2, generator=g, dtype=torch.float64)
    Y = (X - 0.3).pow(2).sum(1) + 0.05 * torch.randn(12, generator=g, dtype=torch.float64)
    opt = BayesOpt(torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64), hyperparameters="map")
    opt.observe(X, Y)
    model = opt._posterior_model()
    hypers = opt.last["posterior"].samples
    best = float(model.y.min())
    x_inc = X[int(model.y.argmin())]
    cands = torch.stack([(x_inc + 0.02).clamp(0, 1), (x_inc - 0.15).clamp(0, 1), x_inc * 0 + 0.3])
    got = bench_bo_variants.ReportedImprovement(model, hypers, best)(cands[:, None, :])
    assert got.shape == (3,)
    for x, value in zip(cands, got):
        c = model.conditional(torch.stack([x, x_inc]), hypers, full_cov=True)
        L = torch.linalg.cholesky(c.var[0] + 1e-12 * torch.eye(2, dtype=torch.float64))
        f = c.mean[0] + (L @ torch.randn(2, 400_000, generator=g, dtype=torch.float64)).T
        y = f[:, 0] + c.noise[0].sqrt() * torch.randn(400_000, generator=g, dtype=torch.float64)
        gain = (f[:, 1] - f[:, 0]) * (y < best)
        assert abs(float(gain.mean()) - float(value)) < 4 * float(gain.std()) / 400_000 ** 0.5 + 1e-12
