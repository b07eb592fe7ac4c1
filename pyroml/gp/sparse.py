"""Sparse GP regression for large N: inducing points, the collapsed variational bound (VFE / SGPR).

With :math:`M \\ll N` inducing inputs :math:`Z`, :math:`Q = K_{fu} K_{uu}^{-1} K_{uf}` and noise
:math:`\\sigma_n^2`, Titsias' (2009) bound on the log marginal likelihood is

.. math::

    \\mathcal L = \\log \\mathcal N(\\tilde y \\mid 0, Q + \\sigma_n^2 I)
        - \\frac{1}{2\\sigma_n^2} \\operatorname{tr}(K_{ff} - Q),

computed (:mod:`pyroml.gp.sparse_bound`) from :math:`S = AA^\\top` and :math:`a = A\\tilde y` alone,
:math:`A = L^{-1}K_{uf}` with :math:`L = \\mathrm{chol}(K_{uu})`: one :math:`O(NM^2)` pass over chunks
of the data, then :math:`O(M^3)` work with :math:`C = S/\\sigma_n^2`,
:math:`L_B = \\mathrm{chol}(I + C)` and :math:`c = L_B^{-1}a/\\sigma_n^2`.

The hyperparameters (same kernels, working scales and default priors as :class:`~pyroml.gp.GP`)
and the inducing inputs (started by k-means++ seeding on the data) are learned together by L-BFGS
with a strong-Wolfe line search on :math:`-(\\mathcal L + \\log p(\\theta))/N`, its gradient chained
by hand through :math:`S` and :math:`a` (:func:`~pyroml.gp.sparse_bound.whitened_stats_vjp`).
The predictive of :math:`f_*` is :math:`m = K_{*u} L^{-\\top} L_B^{-\\top} c`,
:math:`v = k_{**} - \\lVert L^{-1}K_{u*}\\rVert^2 + \\lVert L_B^{-1}L^{-1}K_{u*}\\rVert^2`, in batches.
With :math:`Z = X` it is the exact GP's (tested).
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Dict, Optional, Tuple, Union

import torch

from pyroml._validation import check_int, check_positive
from pyroml.gp.data import check_xy
from pyroml.gp.kernel_base import Kernel, base_hyper, hyper_kind
from pyroml.gp.kernels import hyper_names, kernel_matrix, resolve_kernel
from pyroml.gp.priors import as_float64, default_priors
from pyroml.gp.sparse_bound import (
    Factors,
    chunk_size,
    collapsed_bound,
    factors,
    kmeans_pp,
    kuu_cholesky,
    whitened_stats,
    whitened_stats_vjp,
)
from pyroml.gp.transforms import Standardize, UnitCube

__all__ = ["SparseGP"]


class SparseGP:
    """Inducing-point GP regression (VFE) with learned inducing inputs.

    :param Tensor X: inputs ``(N, d)``; ``y``: targets ``(N,)``.
    :param int num_inducing: :math:`M`, started by k-means++ seeding on the (unit-cube) inputs
        (fewer when the data have fewer distinct points).
    :param kernel: a kernel name or spec (``"rbf"``, ``"rbf+periodic"``), a
        :class:`~pyroml.gp.kernels.Kernel` or a ``pyro.contrib.gp`` instance, as for :class:`~pyroml.gp.GP`
        (priors set on an instance are used).
    :param float noise: a fixed noise variance in ``y``'s units squared (default: learned).
    :param bool noiseless: noise fixed at :math:`10^{-6}` of the working scale.
    :param bounds, normalize, standardize, ard: as for :class:`~pyroml.gp.GP`.
    :param float jitter: added to :math:`K_{uu}`'s diagonal.
    :param int seed: seeds the inducing inputs' start.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, num_inducing: int = 128,
                 kernel: Union[str, Kernel, Any] = "matern52", noise: Optional[float] = None, noiseless: bool = False,
                 bounds: Any = None, normalize: bool = True, standardize: bool = True, ard: Optional[bool] = None,
                 jitter: float = 1e-6, seed: int = 0):
        self.X, self.y = check_xy(X, y)
        check_int("num_inducing", num_inducing, 1)
        check_positive("jitter", jitter)
        check_int("seed", seed, 0)
        if noise is not None:
            check_positive("noise", noise)
        d = self.X.shape[1]
        spec = resolve_kernel(kernel, d)
        self.kernel, self.kernel_name, self.jitter = spec.kernel, spec.name, float(jitter)
        self.input_transform = UnitCube.identity(d) if not normalize else \
            (UnitCube.from_bounds(bounds, d) if bounds is not None else UnitCube.from_data(self.X))
        self.output_transform = Standardize.from_data(self.y) if standardize else Standardize.identity()
        self.Xt, self.yt = self.input_transform.forward(self.X), self.output_transform.forward(self.y)
        self.learn_noise = noise is None and not noiseless
        self.noise = 1e-6 if noise is None else float(noise) / self.output_transform.scale ** 2
        self.hyper_names = list(hyper_names(self.kernel, d, d > 1 if ard is None else ard)) + \
            (["noise"] if self.learn_noise else [])
        priors = default_priors(d)
        self.priors = {h: as_float64(spec.priors.get(base_hyper(h), priors[hyper_kind(h)])) for h in self.hyper_names}
        self.Z = kmeans_pp(self.Xt, num_inducing, torch.Generator().manual_seed(seed))
        start = {"noise": math.log(0.01), "variance": 0.0}        # lengthscales (and periods) at 0.2 cube widths
        self.log_hypers = {h: torch.tensor(start.get(hyper_kind(h), math.log(0.2)), dtype=torch.float64)
                           for h in self.priors}
        #: after :meth:`fit`: iterations, evaluations (and how many of them failed a Cholesky factorisation),
        #: the objective at the end, whether it converged
        self.fit_info: Dict[str, Any] = {}

    def _hypers(self, log_h: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        h = {k: v.exp() for k, v in log_h.items()}
        noise = h.pop("noise") if "noise" in h else torch.tensor(self.noise, dtype=torch.float64)
        return h, noise

    def _stats(self, log_h: Dict[str, torch.Tensor], Z: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """:math:`S = AA^\\top` and :math:`a = A\\tilde y` (:func:`~pyroml.gp.sparse_bound.whitened_stats`)."""
        h = self._hypers(log_h)[0]
        L = kuu_cholesky(self.kernel, h, Z, self.jitter)
        return whitened_stats(self.kernel, h, Z, L, self.Xt, self.yt, chunk_size(Z.shape[0]))

    def _small_part(self, log_h: Dict[str, torch.Tensor], S: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """:math:`\\mathcal L` given the data statistics (the :math:`O(M^3)` part)."""
        h, noise = self._hypers(log_h)
        return collapsed_bound(S, a, self.yt @ self.yt, self.Xt.shape[0], self.kernel.diag(h), noise)

    def bound(self, log_h: Optional[Dict[str, torch.Tensor]] = None, Z: Optional[torch.Tensor] = None
              ) -> torch.Tensor:
        """The collapsed bound :math:`\\mathcal L` (working scale) at log hyperparameters ``log_h``
        and inducing inputs ``Z`` ``(M, d)`` (default: the current ones); a scalar tensor,
        differentiable by autograd in both (for large N, :meth:`fit` chains the gradient by hand)."""
        log_h = self.log_hypers if log_h is None else log_h
        Z = self.Z if Z is None else Z
        return self._small_part(log_h, *self._stats(log_h, Z))

    def log_prior(self, log_h: Dict[str, torch.Tensor]) -> torch.Tensor:
        """:math:`\\log p(\\theta)` on the log scale (a LogNormal prior is Normal there)."""
        return sum((torch.distributions.Normal(p.loc, p.scale).log_prob(log_h[h]) for h, p in self.priors.items()),
                   torch.tensor(0.0, dtype=torch.float64))

    def loss_and_grad(self, log_h: Dict[str, torch.Tensor], Z: torch.Tensor, learn_inducing: bool = True
                      ) -> Tuple[float, Dict[str, torch.Tensor], Optional[torch.Tensor]]:
        """The objective :math:`-(\\mathcal L + \\log p(\\theta))/N` and its gradient in each log
        hyperparameter and (with ``learn_inducing``, else ``None``) in ``Z`` ``(M, d)``: autograd on the
        :math:`O(M^3)` part, then the chain rule through :math:`S` and :math:`a` chunk by chunk
        (:func:`~pyroml.gp.sparse_bound.whitened_stats_vjp`), never a graph over :math:`K_{uf}`."""
        n = self.Xt.shape[0]
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in log_h.items()}
        Zl = Z.detach().clone().requires_grad_(learn_inducing)
        with torch.no_grad():
            S, a = self._stats(leaves, Zl)
        S.requires_grad_(True)
        a.requires_grad_(True)
        with torch.enable_grad():
            loss = -(self._small_part(leaves, S, a) + self.log_prior(leaves)) / n
            wrt = [S, a, *leaves.values()]
            grads = torch.autograd.grad(loss, wrt, allow_unused=True)
        G, g, rest = grads[0], grads[1], list(grads[2:]) + [None]      # the same leaves as `chained`
        assert G is not None and g is not None
        chained = whitened_stats_vjp(self.kernel, self._hypers, leaves, Zl, self.jitter, self.Xt, self.yt,
                                     S.detach(), a.detach(), G, g, chunk_size(Z.shape[0]))
        total = [v if u is None else u if v is None else u + v for u, v in zip(rest, chained)]
        grad_h = {k: torch.zeros((), dtype=torch.float64) if t is None else t for k, t in zip(leaves, total)}
        return float(loss.detach()), grad_h, total[-1]

    def fit(self, max_iter: int = 500, tol: float = 1e-9, learn_inducing: bool = True,
            steps: Optional[int] = None, lr: Optional[float] = None) -> SparseGP:
        """Maximise :math:`\\mathcal L + \\log p(\\theta)` over the log hyperparameters and (with
        ``learn_inducing``) the inducing inputs by L-BFGS (history 20, strong-Wolfe line search),
        from the current values; returns ``self``, with :attr:`fit_info`.

        :param int max_iter: at most this many L-BFGS iterations (and three times as many evaluations).
        :param float tol: stop when the objective per data point, or a step, changes by less than
            ``tol``, or when every gradient entry is below ``tol`` (``converged`` in :attr:`fit_info`:
            a stop for one of these reasons, not for the iteration or evaluation limit).
        :param steps: deprecated alias of ``max_iter`` (the Adam steps of earlier versions).
        :param lr: deprecated and ignored (L-BFGS takes unit steps with a line search).
        :raises torch.linalg.LinAlgError: when :math:`K_{uu}` is singular at the start (raise ``jitter``);
            a step into such a region later is rejected by the line search instead.
        """
        if steps is not None:
            warnings.warn("SparseGP.fit(steps=...) is deprecated: the fit is now L-BFGS to convergence; "
                          "pass max_iter (an upper bound on iterations) instead", FutureWarning, stacklevel=2)
            max_iter = steps
        if lr is not None:
            warnings.warn("SparseGP.fit(lr=...) is deprecated and ignored: L-BFGS chooses its steps by a "
                          "line search; drop the argument", FutureWarning, stacklevel=2)
        check_int("max_iter", max_iter, 1)
        check_positive("tol", tol, allow_zero=True)
        names, M = list(self.log_hypers), self.Z.shape[0]
        theta = torch.cat([torch.stack([self.log_hypers[k] for k in names])]
                          + ([self.Z.flatten()] if learn_inducing else [])).requires_grad_(True)
        unpack = lambda t: ({k: t[i] for i, k in enumerate(names)},   # noqa: E731
                            t[len(names):].reshape(M, -1) if learn_inducing else self.Z)
        opt = torch.optim.LBFGS([theta], lr=1.0, max_iter=max_iter, max_eval=3 * max_iter, tolerance_grad=tol,
                                tolerance_change=tol, history_size=20, line_search_fn="strong_wolfe")
        seen: Dict[bytes, float] = {}                 # objective by point, to report the end point's
        failed = [0]

        def closure() -> torch.Tensor:
            log_h, Z = unpack(theta.detach())
            try:
                value, gh, gZ = self.loss_and_grad(log_h, Z, learn_inducing)
            except torch.linalg.LinAlgError:
                if not seen:                          # the start itself: nothing to fall back on
                    raise
                failed[0] += 1
                theta.grad = torch.zeros_like(theta)  # K_uu or B singular far out: the line search backs off
                return theta.new_tensor(1e10)         # (finite: the line search's cubic fit overflows on 1e300)
            seen[theta.detach().numpy().tobytes()] = value
            theta.grad = torch.cat([torch.stack([gh[k] for k in names])] + ([gZ.flatten()] if gZ is not None else []))
            return theta.new_tensor(value)

        opt.step(closure)
        state = opt.state[theta]
        log_h, Z = unpack(theta.detach())
        self.log_hypers, self.Z = {k: v.clone() for k, v in log_h.items()}, Z.clone()
        end = seen.get(theta.detach().numpy().tobytes())
        iters, evals = int(state["n_iter"]), int(state["func_evals"])
        self.fit_info = {"iterations": iters, "evaluations": evals, "failed_evaluations": failed[0],
                         "objective": float(closure()) if end is None else end,
                         "converged": iters < max_iter and evals < 3 * max_iter}
        return self

    @torch.no_grad()
    def _factors(self) -> Tuple[Dict[str, torch.Tensor], torch.Tensor, torch.Tensor, Factors]:
        h, noise = self._hypers(self.log_hypers)
        L = kuu_cholesky(self.kernel, h, self.Z, self.jitter)
        S, a = whitened_stats(self.kernel, h, self.Z, L, self.Xt, self.yt, chunk_size(self.Z.shape[0]))
        return h, noise, L, factors(S, a, noise)

    @torch.no_grad()
    def predict(self, X_new: torch.Tensor, noiseless: bool = False, batch_size: int = 8192
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Predictive mean and variance at ``X_new`` ``(P, d)`` on ``y``'s scale, in batches; ``(P,)`` each."""
        check_int("batch_size", batch_size, 1)
        h, noise, L, F = self._factors()
        X_new = self.input_transform.forward((X_new[:, None] if X_new.dim() == 1 else X_new).to(torch.float64))
        means, variances = [], []
        for i in range(0, X_new.shape[0], batch_size):
            t1 = torch.linalg.solve_triangular(L, kernel_matrix(self.kernel, self.Z, X_new[i:i + batch_size], h),
                                               upper=False)
            t2 = torch.linalg.solve_triangular(F.LB, t1, upper=False)
            means.append(t2.T @ F.c)
            var = self.kernel.diag(h) - (t1 * t1).sum(0) + (t2 * t2).sum(0)
            variances.append(var.clamp_min(0) + (0 if noiseless else noise))
        out = self.output_transform
        return out.inverse_mean(torch.cat(means)), out.inverse_variance(torch.cat(variances))
