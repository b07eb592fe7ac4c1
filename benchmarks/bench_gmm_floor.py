"""Why the GMM's variance floor is hard: the same SVI fit (``GMM.fit_defaults``, one k-means++
start) with the earlier soft floor :math:`v = v_{\\min} + \\mathrm{softplus}(\\rho)` and with
the hard floor :math:`v = \\exp\\max(s, \\log v_{\\min})` kept by projection, on MNIST.

For the soft-floor end point it prints which component-pixel variances one EM M-step would put
on the floor (the fraction, and how far above the floor SVI left them), and the test
log-likelihood before and after setting just those variances to the floor: the whole cost of
the soft floor, separated from where the optimisation ended.

    python benchmarks/bench_gmm_floor.py --data-dir ../shared/data
    python benchmarks/bench_gmm_floor.py --data-dir ../shared/data --batch-size 1000 \
        --out benchmarks/results/gmm_floor_batch1000.json
    python benchmarks/bench_gmm_floor.py --quick
"""

from __future__ import annotations

import argparse

import pyro
import torch
import torch.nn.functional as F
from bench_ppca_gmm import em_gmm
from common import MNIST_SHAPE, add_args, machine_info, mnist_for_quality, out_path, print_table, timed, write_result

import pyroml


class SoftFloorGMM(pyroml.GMM):
    """The earlier parametrisation: ``log_var`` read as :math:`\\rho`, :math:`v = v_{\\min} +
    \\mathrm{softplus}(\\rho)`, and no projection step."""

    def project_parameters(self) -> None:
        """No projection: the soft floor needs none."""

    @property
    def variances(self) -> torch.Tensor:
        return self.var_floor + F.softplus(self.log_var)


def main(args):
    torch.set_num_threads(args.threads)
    train, test = mnist_for_quality(args, quick_subset=10000)
    d = pyroml.GMM.fit_defaults
    epochs = 5 if args.quick else d["epochs"]
    pyro.set_rng_seed(args.start)
    hard = pyroml.GMM(n_components=10, var_floor=0.01, event_shape=MNIST_SHAPE)
    hard.init_from_data(train.x)
    soft = SoftFloorGMM(n_components=10, var_floor=0.01, event_shape=MNIST_SHAPE)
    soft.load_state_dict(hard.state_dict())
    with torch.no_grad():                                       # the same start: rho = softplus^{-1}(v - v_min)
        soft.log_var.copy_(torch.log(torch.expm1(hard.variances - soft.var_floor)))
    rows = []
    for name, model in (("soft floor", soft), ("hard floor (projection)", hard)):
        _, t = timed(lambda: pyroml.fit(model, train, epochs=epochs, batch_size=args.batch_size, lr=d["lr"],
                                        lr_schedule=d["lr_schedule"], seed=args.start, progress=False))
        rows.append({"floor": name, "seconds": t, "train_ll": float(model.log_likelihood(train.x).mean()),
                     "test_ll": float(model.log_likelihood(test.x).mean())})

    # the soft-floor end point, with the variances one M-step puts on the floor set to the floor
    _, em_var, _, _ = em_gmm(train.x, soft, soft.var_floor, max_iter=1)
    on_floor = em_var <= soft.var_floor
    with torch.no_grad():
        v = soft.variances
        soft.log_var.copy_(torch.where(on_floor, torch.full_like(v, -30.0), soft.log_var))   # softplus(-30) ~ 1e-13
    excess = v[on_floor] / soft.var_floor - 1
    rows.append({"floor": "soft, its floor entries set to the floor", "seconds": float("nan"),
                 "train_ll": float(soft.log_likelihood(train.x).mean()),
                 "test_ll": float(soft.log_likelihood(test.x).mean())})
    facts = {"fraction_on_floor": float(on_floor.float().mean()),
             "median_excess_over_floor": float(excess.median()),
             "p99_excess_over_floor": float(excess.quantile(0.99)),
             "test_gain_from_floor_entries": rows[2]["test_ll"] - rows[0]["test_ll"]}
    print_table(rows, ["floor", "seconds", "train_ll", "test_ll"])
    print_table([facts], list(facts))
    write_result(out_path(args, "gmm_floor"), {"machine": machine_info(args.threads), "quick": args.quick,
                                               "start": args.start, "epochs": epochs, "batch_size": args.batch_size,
                                               "rows": rows, **facts})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--start", type=int, default=0, help="seed of the k-means++ start (default 0)")
    p.add_argument("--batch-size", type=int, default=pyroml.GMM.fit_defaults["batch_size"],
                   help="SVI batch size (default GMM.fit_defaults')")
    main(p.parse_args())
