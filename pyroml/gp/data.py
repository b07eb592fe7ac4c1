"""Checks of the data a GP is given, made before any work: inputs and targets, the scale of
unstandardised targets, and per-point noise multipliers."""

from __future__ import annotations

import warnings
from typing import Any, Optional, Tuple

import torch

__all__ = ["check_xy", "warn_scale", "check_noise_weights"]


def check_xy(X: Any, y: Any) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(X (N, d), y (N,))`` in float64 after checking types, shapes, lengths and finiteness."""
    if not isinstance(X, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"X and y must be torch Tensors, got {type(X).__name__} and {type(y).__name__}")
    if X.dim() == 1:
        X = X[:, None]
    if X.dim() != 2:
        raise ValueError(f"X must have shape (N, d) (or (N,) for 1-d inputs), got {tuple(X.shape)}")
    if y.dim() != 1:
        raise ValueError(f"y must have shape (N,), got {tuple(y.shape)}; flatten it with y.reshape(-1)")
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"X and y differ in length: {X.shape[0]} inputs, {y.shape[0]} targets")
    if X.shape[0] == 0:
        raise ValueError("no data: X and y are empty")
    for name, t in (("X", X), ("y", y)):
        if not torch.isfinite(t).all():
            raise ValueError(f"{name} contains NaN or infinite values; remove those points")
    return X.to(torch.float64), y.to(torch.float64)


def warn_scale(y: torch.Tensor) -> None:
    """Warn when targets far from unit scale meet priors stated for standardised targets."""
    spread = float(y.std()) if y.numel() > 1 else float(y.abs().max())
    if spread > 0 and not 1e-3 <= spread <= 1e3:
        warnings.warn(f"y varies on a scale of {spread:.2g}, but standardize=False: the priors and the "
                      f"jitter assume targets of order 1; standardise y (the default) or rescale the priors",
                      stacklevel=3)


def check_noise_weights(w: Any, n: int) -> Optional[torch.Tensor]:
    """``noise_weights`` as a float64 ``(n,)`` tensor of positive finite values, or ``None``."""
    if w is None:
        return None
    w = torch.as_tensor(w, dtype=torch.float64)
    if w.shape != (n,):
        raise ValueError(f"noise_weights must have shape ({n},), one per data point, got {tuple(w.shape)}")
    if not bool(torch.isfinite(w).all()) or not bool((w > 0).all()):
        bad = int((~torch.isfinite(w) | (w <= 0)).sum())
        raise ValueError(f"noise_weights must be positive and finite (they multiply each point's noise variance), "
                         f"got {bad} that are not; give a small positive weight for a nearly exact point")
    return w
