"""The evaluator: one report for any pyroml density model.

* **ELBO** per example, :math:`\\frac1N\\sum_n \\mathbb{E}_q[\\log p(x_n, z) - \\log q(z \\mid x_n)]`,
  from the model's own ELBO object (so enumerated models are handled), with the
  number of particles stated.
* **Log-likelihood** per example: exact where the model has one
  (:attr:`has_exact_log_likelihood`), otherwise the importance-weighted bound
  (IWAE, Burda et al. 2016)

  .. math:: \\mathcal{L}_K(x) = \\log \\frac1K \\sum_{k=1}^K
            \\frac{p(x, z_k)}{q(z_k \\mid x)}, \\quad z_k \\sim q(z \\mid x),

  which satisfies :math:`\\mathrm{ELBO} \\le \\mathcal{L}_K \\le \\log p(x)` in
  expectation and tightens as K grows. The K particles are drawn in parallel
  under ``pyro.plate("particles", K, dim=-2)``.
* **MSE** between ``x`` and the reconstruction at the posterior mean (and at one
  posterior sample), on the [0, 1] pixel scale, averaged over pixels and examples.
* **Latent projections** ``encode(x)`` of shape ``(N, d)`` with the labels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pyro
import torch

from pyroml._validation import check_int
from pyroml.data.datasets import Dataset, as_tensors
from pyroml.data.streaming import as_stream, is_stream
from pyroml.evaluation.metrics import iwae_bound
from pyroml.infer.distributed import all_gather, all_sum, block, process_group
from pyroml.infer.elbo import elbo_sum
from pyroml.io.atomic import write_json
from pyroml.models.base import DensityModel

__all__ = ["evaluate", "Report"]


@dataclass
class Report:
    """Metrics of a model on a dataset (all per example, nats, pixels on [0, 1]).

    :ivar elbo: mean ELBO per example.
    :ivar elbo_particles: particles used for the ELBO estimate.
    :ivar log_likelihood: mean log p(x) (``exact``) or its IWAE lower bound (``iwae``).
    :ivar log_likelihood_method: ``"exact"``, ``"iwae"`` or ``None`` when not computed.
    :ivar iwae_k: importance samples of the bound (``None`` when exact).
    :ivar mse: mean squared error of the reconstruction at the posterior mean.
    :ivar mse_sample: the same at one posterior sample.
    :ivar latents: ``encode(x)``, shape ``(N, d)``.
    :ivar labels: the labels, shape ``(N,)``, or ``None``.
    """

    model: str
    n: int
    elbo: float
    elbo_particles: int
    log_likelihood: Optional[float]
    log_likelihood_method: Optional[str]
    iwae_k: Optional[int]
    mse: float
    mse_sample: float
    seconds: float
    latents: Optional[torch.Tensor] = field(default=None, repr=False)
    labels: Optional[torch.Tensor] = field(default=None, repr=False)

    def to_dict(self) -> Dict[str, Any]:
        """The scalar metrics (JSON-ready; latents and labels left out)."""
        return {k: v for k, v in self.__dict__.items() if k not in ("latents", "labels")}

    def save_json(self, path: str) -> None:
        """Atomically write :meth:`to_dict` to ``path``."""
        write_json(path, self.to_dict())

    def __str__(self) -> str:
        ll = "n/a" if self.log_likelihood is None else f"{self.log_likelihood:.2f} ({self.log_likelihood_method}" + \
            (f", K={self.iwae_k})" if self.iwae_k else ")")
        return (f"{self.model} on {self.n} examples: ELBO {self.elbo:.2f} nats "
                f"({self.elbo_particles} particle{'s' * (self.elbo_particles > 1)}), log-likelihood {ll}, "
                f"MSE {self.mse:.4f} (posterior mean) / {self.mse_sample:.4f} (posterior sample)")


class _Passes:
    """The evaluation data as batches on the model's device, pass after pass (in order): slices of
    tensors in memory, or a stream's batches; the labels of a stream are collected on the way.

    In a ``torch.distributed`` group of ``W`` processes (e.g. after a ``devices=2`` fit), each rank
    takes its contiguous block of the examples of tensors or of a map-style dataset (an iterable
    dataset or a loader is read whole by every rank): ``sharded`` then says so."""

    def __init__(self, model: DensityModel, data: Any, batch_size: int, num_examples: Optional[int],
                 num_workers: int):
        self.batch_size, self.device, self.stream = batch_size, model.device, None
        self.labels: Optional[torch.Tensor] = None
        rank, world = process_group()
        if is_stream(data):
            stream = as_stream(data, batch_size, num_examples=num_examples, num_workers=num_workers,
                               pin_memory=self.device.type == "cuda")
            self.n, self.sharded = stream.n, world > 1 and stream.map_style
            if self.sharded:
                stream = as_stream(torch.utils.data.Subset(data, block(stream.n, rank, world)), batch_size,
                                   num_workers=num_workers, pin_memory=self.device.type == "cuda")
            self.stream = stream
            model.check_input(self.stream.head(batch_size), what="evaluation data")
        else:
            x = as_tensors(data)[0]
            self.n, self.sharded = x.shape[0], world > 1
            self.labels = data.y.cpu() if isinstance(data, Dataset) and data.y is not None else None
            model.check_input(x, what="evaluation data")
            mine = block(self.n, rank, world)
            self.x = x[mine.start: mine.stop] if self.sharded else x

    def __call__(self, collect_labels: bool = False) -> Iterator[torch.Tensor]:
        if self.stream is None:
            x = self.x.to(self.device)
            yield from (x[i: i + self.batch_size] for i in range(0, x.shape[0], self.batch_size))
            return
        labels: List[torch.Tensor] = []
        for xb, yb in self.stream.batches(shuffle=False):
            if collect_labels and yb is not None:
                labels.append(yb.cpu())
            yield xb.to(self.device, non_blocking=True)
        if collect_labels and labels:
            self.labels = torch.cat(labels)

    def reduce(self, sums: List[float], latents: torch.Tensor) -> Tuple[List[float], torch.Tensor]:
        """The ``sums`` added over the ranks and the ``latents`` (and a stream's labels) joined in
        example order, when sharded; as they are otherwise."""
        if not self.sharded:
            return sums, latents
        parts = all_gather((latents, self.labels if self.stream is not None else None))
        if self.stream is not None and parts[0][1] is not None:
            self.labels = torch.cat([labels for _, labels in parts])
        return all_sum(sums, self.device), torch.cat([z for z, _ in parts])


@torch.no_grad()
def evaluate(
    model: DensityModel,
    data: Any,
    *,
    elbo_particles: int = 1,
    iwae_k: Optional[int] = 100,
    batch_size: int = 2000,
    seed: Optional[int] = 0,
    num_examples: Optional[int] = None,
    num_workers: int = 0,
) -> Report:
    """Score ``model`` on ``data``.

    :param model: a pyroml density model.
    :param data: a :class:`~pyroml.data.Dataset` (labels are carried into the report) or a tensor
        of shape ``(N,) + model.event_shape``; or, streamed in order in batches of ``batch_size``
        without holding them, a torch ``Dataset`` (items ``x`` or ``(x, y)``: the labels go into
        the report), an ``IterableDataset`` (with ``num_examples``) or a ``DataLoader`` (see
        :mod:`pyroml.data.streaming`; the input check then sees the first batch).
    :param int elbo_particles: particles of the ELBO estimate.
    :param int iwae_k: importance samples K of the bound for models without an exact
        log-likelihood (``None`` or 0 skips it).
    :param int batch_size: examples per batch for the ELBO, MSE and latents.
    :param int seed: seeds the Monte Carlo estimates.
    :param int num_examples: N of an ``IterableDataset`` without a length.
    :param int num_workers: worker processes of a streamed source's ``DataLoader``.
    :returns: a :class:`Report`. A stream gives the same ELBO, MSE and latents as the same data in
        memory (same seed); its importance-weighted bound is computed per batch (same expectation).
        Called by every process of a ``torch.distributed`` group (after ``fit(..., devices=2)``),
        each scores its block of the data and the sums are added across the processes: every
        rank returns the report of the whole data set (Monte Carlo draws differ from one process's).
    """
    _check_args(model, data, elbo_particles, iwae_k, batch_size, seed, num_examples, num_workers)
    model.eval()
    passes = _Passes(model, data, batch_size, num_examples, num_workers)
    if seed is not None:
        pyro.set_rng_seed(seed)
    t0 = time.perf_counter()
    elbo, _ = elbo_sum(model, ([xb] for xb in passes()), elbo_particles)
    sq_mean, sq_sample, numel, latents = _reconstructions(model, passes)
    ll, method, k = _log_likelihood(model, passes, iwae_k)
    sums, z = passes.reduce([elbo, sq_mean, sq_sample, float(numel), 0.0 if ll is None else float(ll.sum())],
                            torch.cat(latents))
    elbo, sq_mean, sq_sample, pixels, ll_sum = sums
    n = passes.n
    return Report(
        model=type(model).__name__, n=n, elbo=elbo / n, elbo_particles=elbo_particles,
        log_likelihood=None if ll is None else ll_sum / n, log_likelihood_method=method, iwae_k=k,
        mse=sq_mean / pixels, mse_sample=sq_sample / pixels, seconds=time.perf_counter() - t0,
        latents=z, labels=passes.labels,
    )


def _check_args(model: Any, data: Any, elbo_particles: Any, iwae_k: Any, batch_size: Any, seed: Any,
                num_examples: Any, num_workers: Any) -> None:
    """:func:`evaluate`'s arguments, before any work."""
    if not isinstance(model, DensityModel):
        raise TypeError(f"evaluate scores a pyroml density model (VAE, ConvVAE, PPCA, GMM or a DensityModel "
                        f"subclass), got {type(model).__name__}")
    check_int("elbo_particles", elbo_particles, 1)
    check_int("batch_size", batch_size, 1)
    check_int("num_workers", num_workers, 0)
    if iwae_k is not None:
        check_int("iwae_k", iwae_k, 0)
    if seed is not None:
        check_int("seed", seed, 0)
    if num_examples is not None and not is_stream(data):
        raise ValueError("num_examples is for a streamed source (an IterableDataset); tensors and "
                         "pyroml Datasets give their own length")


def _reconstructions(model: DensityModel, passes: _Passes) -> Tuple[float, float, int, List[torch.Tensor]]:
    """Summed squared errors of the reconstructions at the posterior mean and at a posterior
    sample, the number of values, and the latents of each batch (one pass; labels collected)."""
    sq_mean = sq_sample = 0.0
    numel = 0
    latents = []
    for xb in passes(collect_labels=True):
        sq_mean += float(((model.reconstruct(xb) - xb) ** 2).sum())
        sq_sample += float(((model.reconstruct(xb, sample=True) - xb) ** 2).sum())
        latents.append(model.encode(xb).cpu())
        numel += xb.numel()
    return sq_mean, sq_sample, numel, latents


def _log_likelihood(model: DensityModel, passes: _Passes, iwae_k: Optional[int]
                    ) -> Tuple[Optional[torch.Tensor], Optional[str], Optional[int]]:
    """``(log-likelihood per example, "exact" or "iwae", K)``, or ``(None, None, None)`` without one."""
    if model.has_exact_log_likelihood:
        return torch.cat([model.log_likelihood(xb) for xb in passes()]), "exact", None
    if not iwae_k:
        return None, None, None
    whole = passes.stream is None
    ll = iwae_bound(model, passes.x.to(model.device), iwae_k) if whole else \
        torch.cat([iwae_bound(model, xb, iwae_k) for xb in passes()])
    return ll, "iwae", int(iwae_k)
