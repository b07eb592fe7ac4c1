"""Run every benchmark: ``python benchmarks/run.py --quick`` (a few minutes) or
``python benchmarks/run.py`` (full: tens of minutes on 2 cores).

Each script prints its table and writes JSON under ``benchmarks/results/``; this runner
runs them one after another (never in parallel: they time things) and stops with a non-zero
exit status if any fails. ``--only NAME ...`` picks scripts; extra flags after ``--`` are
passed to every script (e.g. ``-- --data-dir ../shared/data``).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_engine", "bench_evaluate", "bench_ppca_gmm", "bench_gmm_floor", "bench_tables", "bench_gp",
           "bench_vae_quality", "bench_streaming", "bench_ddp", "bench_sparse_gp", "bench_nuts"]
#: scripts whose whole point is a reference from the ``bench`` extra: skipped, saying so, without it
NEEDS = {"bench_nuts": "numpyro"}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="quick mode of every script")
    p.add_argument("--only", nargs="+", choices=SCRIPTS, default=None, help="run only these scripts")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="flags passed to every script (after --)")
    args = p.parse_args()
    extra = [a for a in args.rest if a != "--"]
    failed = []
    for name in args.only or SCRIPTS:
        script = HERE / f"{name}.py"
        if not script.exists():
            print(f"== {name}: missing, skipped")
            continue
        if name in NEEDS and importlib.util.find_spec(NEEDS[name]) is None:
            print(f"== {name}: skipped, needs {NEEDS[name]} (pip install -e .[bench])")
            continue
        cmd = [sys.executable, str(script), *(["--quick"] if args.quick else []), *extra]
        print(f"== {name}: {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call(cmd, cwd=HERE.parent)
        print(f"== {name}: exit {rc} in {time.perf_counter() - t0:.1f} s", flush=True)
        if rc:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
