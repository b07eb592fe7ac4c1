"""What :func:`pyroml.fit` trains: :class:`SVIModule`, the engine's side of the model protocol.

An :class:`SVIModule` is a Pyro ``model(*data)`` / ``guide(*data)`` pair, the ELBO object to
train them with, an input check, and four hooks with no-op defaults that the engine calls at
fixed points of its loop, so that it never asks a model what it can do:

=========================  ====================================================================
``init_from_data(x)``      once, at the start of every :func:`pyroml.fit`, before a resume
                           (data-dependent initialisation; a model that is initialised already
                           returns at once)
``optim_groups(lr)``       the optimiser's parameter groups (per-group learning rates)
``project_parameters()``   after every optimiser step (constraints kept by projection)
``fit_defaults``           the training settings the examples, the CLI and ``compare`` use
=========================  ====================================================================
"""

from __future__ import annotations

from typing import Any, ClassVar, Dict, List

import torch
from pyro.infer import ELBO, Trace_ELBO

__all__ = ["SVIModule"]


class SVIModule(torch.nn.Module):
    """What :func:`pyroml.fit` trains: a model/guide pair, its ELBO, and the engine's hooks.

    Subclasses implement :meth:`model` and :meth:`guide` over the same data arguments; the
    hooks below have no-op defaults and are overridden where a model needs them.
    """

    #: training settings the examples, the CLI and ``compare`` use by default for this model
    fit_defaults: ClassVar[Dict[str, Any]] = {"epochs": 25, "batch_size": 128, "lr": 1e-3, "lr_schedule": None}

    # ---- the Pyro programs -------------------------------------------------
    def model(self, *args: Any, **kwargs: Any) -> Any:
        """The generative program over the data tensors; examples inside ``pyro.plate("data", N, dim=-1)``."""
        raise NotImplementedError

    def guide(self, *args: Any, **kwargs: Any) -> Any:
        """The variational program over the latent sites of :meth:`model`."""
        raise NotImplementedError

    def elbo(self, num_particles: int = 1) -> ELBO:
        """The ELBO object SVI uses for this model (``Trace_ELBO`` unless overridden)."""
        return Trace_ELBO(num_particles=num_particles, vectorize_particles=num_particles > 1,
                          max_plate_nesting=1)

    def check_input(self, *data: Any, what: str = "data") -> None:
        """Raise a clear error for data this model cannot take (default: refuse empty data)."""
        if data and isinstance(data[0], torch.Tensor) and data[0].dim() and data[0].shape[0] == 0:
            raise ValueError(f"{what} is empty (0 examples)")

    # ---- the engine's hooks --------------------------------------------------
    def adapt_to_data(self, *data: Any) -> None:
        """Fix what the data determine (e.g. the shape of one example) before they are checked;
        called first by :func:`pyroml.fit`, after seeding (default: nothing)."""

    def init_from_data(self, x: torch.Tensor) -> None:
        """Data-dependent initialisation from the training examples ``x`` (default: none)."""

    def optim_groups(self, lr: float) -> List[Dict[str, Any]]:
        """The optimiser's parameter groups at base learning rate ``lr`` (default: one group)."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr}]

    def project_parameters(self) -> None:
        """Called after every optimiser step: keep constraints by projection (default: none)."""

    @classmethod
    def training_defaults(cls) -> Dict[str, Any]:
        """``epochs``, ``batch_size``, ``lr`` and ``lr_schedule`` from :attr:`fit_defaults`,
        completed by the protocol's."""
        return {**SVIModule.fit_defaults, **cls.fit_defaults}
