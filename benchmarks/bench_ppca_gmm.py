"""PPCA and GMM fitted by pyroml's SVI engine against their classical solutions, on MNIST
(pixels on [0, 1]), with fit times (one thread):

* PPCA (q = 2): the closed-form maximum-likelihood solution (Tipping & Bishop, 1999) versus
  ``pyroml.fit`` with ``PPCA.fit_defaults``; exact test log-likelihood per image.
* GMM (K = 10, variance floor 0.01): EM with the same **hard** floor (a variance below the
  floor is set to it, as in the M-step of a floored EM — not scikit-learn's ``reg_covar``, which
  adds to every variance), versus ``pyroml.fit`` with ``GMM.fit_defaults``, each pair from the
  same k-means++ start, over several starts (``--starts``); exact test log-likelihood per image.
  ``--sklearn`` adds scikit-learn's
  ``GaussianMixture(covariance_type="diag", reg_covar=0.01)`` for context (a different model:
  every variance is shifted by 0.01).

    python benchmarks/bench_ppca_gmm.py --data-dir ../shared/data
    python benchmarks/bench_ppca_gmm.py --quick
"""

from __future__ import annotations

import argparse
import math
from typing import Union

import pyro
import torch
from common import add_args, machine_info, mnist_for_quality, out_path, print_table, timed, write_result

import pyroml
from pyroml.models.gmm import component_log_density


@torch.no_grad()
def em_gmm(x: torch.Tensor, init: pyroml.GMM, floor: Union[float, torch.Tensor], max_iter: int = 300,
           tol: float = 1e-3):
    """EM for a diagonal Gaussian mixture with a hard variance floor, from ``init``'s
    parameters; stops when the mean log-likelihood per example improves by less than ``tol``.

    ``floor`` is one number for every feature or a tensor of shape ``(D,)``, one per feature
    (``init.floor``, the floor :class:`pyroml.GMM` itself uses): an M-step variance below it is set
    to it. Returns ``(means, variances, log_weights, iterations)``."""
    flat = x.reshape(x.shape[0], -1)
    means = init.means.detach().clone()
    var = init.variances.detach().clone()
    logw = torch.log_softmax(init.logits.detach(), -1)
    prev = -math.inf
    for it in range(max_iter):  # noqa: B007 (the count is returned)
        logj = component_log_density(flat, means, var) + logw           # E-step, (N, K)
        ll = torch.logsumexp(logj, -1, keepdim=True)
        mean_ll = float(ll.mean())
        if mean_ll - prev < tol:
            break
        prev = mean_ll
        r = (logj - ll).exp()
        nk = r.sum(0) + 1e-10                                             # M-step
        means = (r.T @ flat) / nk[:, None]
        var = ((r.T @ (flat * flat)) / nk[:, None] - means ** 2).clamp_min(floor)
        logw = (nk / flat.shape[0]).log()
    return means, var, logw, it + 1


def main(args):
    torch.set_num_threads(args.threads)
    train, test = mnist_for_quality(args, quick_subset=10000)
    rows = []

    cf, t_cf = timed(lambda: pyroml.PPCA.closed_form(train.x))
    rows.append({"model": "PPCA q=2", "method": "closed form (eigh)", "seconds": t_cf,
                 "test_ll": float(cf.log_likelihood(test.x).mean())})
    d = pyroml.PPCA.fit_defaults
    torch.manual_seed(0)
    ppca = pyroml.PPCA()
    _, t = timed(lambda: pyroml.fit(ppca, train, epochs=1 if args.quick else d["epochs"], batch_size=d["batch_size"],
                                    lr=d["lr"], lr_schedule=d["lr_schedule"], seed=0, progress=False))
    rows.append({"model": "PPCA q=2", "method": f"pyroml.fit SVI ({'1' if args.quick else d['epochs']} epochs)",
                 "seconds": t, "test_ll": float(ppca.log_likelihood(test.x).mean())})

    # GMM: EM and SVI from the same k-means++ start, for several starts (the local optimum each
    # method lands in moves the test log-likelihood by about a nat, so one start proves little)
    test_flat = test.x.reshape(len(test), -1)
    d = pyroml.GMM.fit_defaults
    epochs = 1 if args.quick else d["epochs"]
    gmm_rows = []
    for s in range(1 if args.quick else args.starts):
        pyro.set_rng_seed(s)
        start = pyroml.GMM(n_components=10, var_floor=0.01, event_shape=train.x.shape[1:])
        start.init_from_data(train.x)
        (means, var, logw, iters), t_em = timed(lambda: em_gmm(train.x, start, 0.01, max_iter=5 if args.quick else 300))
        em_ll = float(torch.logsumexp(component_log_density(test_flat, means, var) + logw, -1).mean())
        g = pyroml.GMM(n_components=10, var_floor=0.01, event_shape=train.x.shape[1:])
        g.load_state_dict(start.state_dict())
        _, t = timed(lambda: pyroml.fit(g, train, epochs=epochs, batch_size=d["batch_size"], lr=d["lr"],
                                        lr_schedule=d["lr_schedule"], seed=s, progress=False))
        gmm_rows.append({"start": s, "em_iterations": iters, "em_seconds": t_em, "em_test_ll": em_ll,
                         "svi_seconds": t, "svi_test_ll": float(g.log_likelihood(test.x).mean())})
        gmm_rows[-1].update(time_ratio=t / t_em, ll_difference=gmm_rows[-1]["svi_test_ll"] - em_ll)
        print_table(gmm_rows[-1:], list(gmm_rows[-1]))
    mean = lambda k: sum(r[k] for r in gmm_rows) / len(gmm_rows)  # noqa: E731
    rows.append({"model": "GMM K=10", "method": f"EM, hard floor 0.01 (mean of {len(gmm_rows)} k-means++ starts, "
                 f"{mean('em_iterations'):.0f} iterations)", "seconds": mean("em_seconds"),
                 "test_ll": mean("em_test_ll")})
    rows.append({"model": "GMM K=10", "method": f"pyroml.fit SVI ({epochs} epochs, batch {d['batch_size']}; "
                 f"same starts)", "seconds": mean("svi_seconds"), "test_ll": mean("svi_test_ll")})
    if args.sklearn:
        from sklearn.mixture import GaussianMixture
        sk = GaussianMixture(10, covariance_type="diag", reg_covar=0.01, random_state=0, init_params="k-means++")
        _, t = timed(lambda: sk.fit(train.x.reshape(len(train), -1).numpy()))
        rows.append({"model": "GMM K=10", "method": "scikit-learn, reg_covar=0.01 (adds 0.01)", "seconds": t,
                     "test_ll": float(sk.score(test_flat.numpy()))})
    for r in rows:
        ref = rows[0] if r["model"].startswith("PPCA") else rows[2]
        r["vs_reference_ll"] = r["test_ll"] - ref["test_ll"]
        r["time_ratio"] = r["seconds"] / ref["seconds"]
    print_table(rows, ["model", "method", "seconds", "time_ratio", "test_ll", "vs_reference_ll"])
    write_result(out_path(args, "ppca_gmm"), {"machine": machine_info(args.threads), "quick": args.quick,
                                              "n_train": len(train), "n_test": len(test), "rows": rows,
                                              "gmm_starts": gmm_rows})


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_args(p)
    p.add_argument("--starts", type=int, default=5, help="GMM k-means++ starts in full mode (default 5)")
    p.add_argument("--sklearn", action="store_true",
                   help="add scikit-learn's GaussianMixture (pip install -e .[bench])")
    main(p.parse_args())
