"""Sparse GP regression for large N: inducing points, the collapsed variational bound (VFE / SGPR).

With :math:`M \\ll N` inducing inputs :math:`Z`, :math:`Q = K_{fu} K_{uu}^{-1} K_{uf}` and noise
:math:`\\sigma_n^2`, Titsias' (2009) bound on the log marginal likelihood is

.. math::

    \\mathcal L = \\log \\mathcal N(\\tilde y \\mid 0, Q + \\sigma_n^2 I)
        - \\frac{1}{2\\sigma_n^2} \\operatorname{tr}(K_{ff} - Q),

computed in :math:`O(NM^2)` through :math:`L = \\mathrm{chol}(K_{uu})`, :math:`A = L^{-1}K_{uf}/\\sigma_n`,
:math:`B = I + AA^\\top`, :math:`L_B = \\mathrm{chol}(B)`, :math:`c = L_B^{-1} A \\tilde y / \\sigma_n`:

.. math::

    \\mathcal L = -\\tfrac N2 \\log 2\\pi\\sigma_n^2 - \\sum \\log\\mathrm{diag}\\,L_B
        - \\frac{\\tilde y^\\top \\tilde y}{2\\sigma_n^2} + \\tfrac12 c^\\top c
        - \\frac{\\operatorname{tr} K_{ff}}{2\\sigma_n^2} + \\tfrac12 \\operatorname{tr}(AA^\\top).

The hyperparameters (same kernels, working scales and default priors as :class:`~pyroml.gp.GP`)
and the inducing inputs are learned together by Adam on :math:`-(\\mathcal L + \\log p(\\theta))`.
The predictive of :math:`f_*` is :math:`m = K_{*u} L^{-\\top} L_B^{-\\top} c`,
:math:`v = k_{**} - \\lVert L^{-1}K_{u*}\\rVert^2 + \\lVert L_B^{-1}L^{-1}K_{u*}\\rVert^2`, in batches.
With :math:`Z = X` it is the exact GP's (tested).
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional, Tuple, Union

import torch

from pyroml._validation import check_int, check_positive
from pyroml.gp.exact import _check_xy
from pyroml.gp.kernel_base import Kernel, base_hyper, hyper_kind
from pyroml.gp.kernels import hyper_names, kernel_matrix, resolve_kernel
from pyroml.gp.priors import as_float64, default_priors
from pyroml.gp.transforms import Standardize, UnitCube

__all__ = ["SparseGP"]


class SparseGP:
    """Inducing-point GP regression (VFE) with learned inducing inputs.

    :param Tensor X: inputs ``(N, d)``; ``y``: targets ``(N,)``.
    :param int num_inducing: :math:`M`, started at a random subset of the inputs.
    :param kernel: a kernel name or spec (``"rbf"``, ``"rbf+periodic"``), a
        :class:`~pyroml.gp.kernels.Kernel` or a ``pyro.contrib.gp`` instance, as for :class:`~pyroml.gp.GP`
        (priors set on an instance are used).
    :param float noise: a fixed noise variance in ``y``'s units squared (default: learned).
    :param bool noiseless: noise fixed at :math:`10^{-6}` of the working scale.
    :param bounds, normalize, standardize, ard: as for :class:`~pyroml.gp.GP`.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, num_inducing: int = 128,
                 kernel: Union[str, Kernel, Any] = "matern52", noise: Optional[float] = None, noiseless: bool = False,
                 bounds: Any = None, normalize: bool = True, standardize: bool = True, ard: Optional[bool] = None,
                 jitter: float = 1e-6, seed: int = 0):
        self.X, self.y = _check_xy(X, y)
        check_int("num_inducing", num_inducing, 1)
        check_positive("jitter", jitter)
        N, d = self.X.shape
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
        g = torch.Generator().manual_seed(seed)
        self.Z = self.Xt[torch.randperm(N, generator=g)[:min(num_inducing, N)]].clone()
        start = {"noise": math.log(0.01), "variance": 0.0}        # lengthscales (and periods) at 0.2 cube widths
        self.log_hypers = {h: torch.tensor(start.get(hyper_kind(h), math.log(0.2)), dtype=torch.float64)
                           for h in self.priors}

    def _hypers(self, log_h: Dict[str, torch.Tensor]) -> Tuple[Dict[str, torch.Tensor], torch.Tensor]:
        h = {k: v.exp() for k, v in log_h.items()}
        noise = h.pop("noise") if "noise" in h else torch.tensor(self.noise, dtype=torch.float64)
        return h, noise

    def bound(self, log_h: Optional[Dict[str, torch.Tensor]] = None, Z: Optional[torch.Tensor] = None
              ) -> torch.Tensor:
        """The collapsed bound :math:`\\mathcal L` (working scale) at log hyperparameters ``log_h``
        and inducing inputs ``Z`` ``(M, d)`` (default: the current ones); a scalar tensor."""
        log_h = self.log_hypers if log_h is None else log_h
        Z = self.Z if Z is None else Z
        h, noise = self._hypers(log_h)
        N, M = self.Xt.shape[0], Z.shape[0]
        L = torch.linalg.cholesky(kernel_matrix(self.kernel, Z, Z, h)
                                  + self.jitter * torch.eye(M, dtype=torch.float64))
        A = torch.linalg.solve_triangular(L, kernel_matrix(self.kernel, Z, self.Xt, h), upper=False) / noise.sqrt()
        LB = torch.linalg.cholesky(torch.eye(M, dtype=torch.float64) + A @ A.T)
        c = torch.linalg.solve_triangular(LB, (A @ self.yt)[:, None], upper=False)[:, 0] / noise.sqrt()
        return (-0.5 * N * torch.log(2 * math.pi * noise) - LB.diagonal().log().sum()
                - 0.5 * (self.yt @ self.yt) / noise + 0.5 * (c @ c)
                - 0.5 * N * self.kernel.diag(h) / noise + 0.5 * (A * A).sum())   # stationary: tr K_ff = N k(x, x)

    def log_prior(self, log_h: Dict[str, torch.Tensor]) -> torch.Tensor:
        """:math:`\\log p(\\theta)` on the log scale (a LogNormal prior is Normal there)."""
        return sum((torch.distributions.Normal(p.loc, p.scale).log_prob(log_h[h]) for h, p in self.priors.items()),
                   torch.tensor(0.0, dtype=torch.float64))

    def fit(self, steps: int = 300, lr: float = 0.03, learn_inducing: bool = True) -> SparseGP:
        """Adam on :math:`-(\\mathcal L + \\log p(\\theta))` over the log hyperparameters and (with
        ``learn_inducing``) the inducing inputs; returns ``self``."""
        params = {k: v.clone().requires_grad_(True) for k, v in self.log_hypers.items()}
        Z = self.Z.clone().requires_grad_(learn_inducing)
        opt = torch.optim.Adam(list(params.values()) + ([Z] if learn_inducing else []), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            loss = -(self.bound(params, Z) + self.log_prior(params)) / self.Xt.shape[0]
            loss.backward()
            opt.step()
        self.log_hypers = {k: v.detach() for k, v in params.items()}
        self.Z = Z.detach()
        return self

    @torch.no_grad()
    def predict(self, X_new: torch.Tensor, noiseless: bool = False, batch_size: int = 8192
                ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Predictive mean and variance at ``X_new`` ``(P, d)`` on ``y``'s scale, in batches; ``(P,)`` each."""
        h, noise = self._hypers(self.log_hypers)
        M = self.Z.shape[0]
        L = torch.linalg.cholesky(kernel_matrix(self.kernel, self.Z, self.Z, h)
                                  + self.jitter * torch.eye(M, dtype=torch.float64))
        A = torch.linalg.solve_triangular(L, kernel_matrix(self.kernel, self.Z, self.Xt, h), upper=False)
        A = A / noise.sqrt()
        LB = torch.linalg.cholesky(torch.eye(M, dtype=torch.float64) + A @ A.T)
        c = torch.linalg.solve_triangular(LB, (A @ self.yt)[:, None], upper=False)[:, 0] / noise.sqrt()
        X_new = self.input_transform.forward((X_new[:, None] if X_new.dim() == 1 else X_new).to(torch.float64))
        means, variances = [], []
        for i in range(0, X_new.shape[0], batch_size):
            t1 = torch.linalg.solve_triangular(L, kernel_matrix(self.kernel, self.Z, X_new[i:i + batch_size], h),
                                               upper=False)
            t2 = torch.linalg.solve_triangular(LB, t1, upper=False)
            means.append(t2.T @ c)
            var = self.kernel.diag(h) - (t1 * t1).sum(0) + (t2 * t2).sum(0)
            variances.append(var.clamp_min(0) + (0 if noiseless else noise))
        out = self.output_transform
        return out.inverse_mean(torch.cat(means)), out.inverse_variance(torch.cat(variances))
