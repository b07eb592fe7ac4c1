"""The protocol every pyroml density model meets.

:class:`DensityModel` extends the engine's :class:`~pyroml.infer.SVIModule` (a model/guide pair,
its ELBO, and the engine's hooks) with what the evaluator and the plots need. A density model is one
:class:`~pyro.nn.PyroModule` holding a Pyro ``model(x)`` / ``guide(x)`` pair over the same latent
sites. Examples enter through ``pyro.plate("data", N, dim=-1)``; the engine scales every site
inside that plate by ``N_total / N`` so that a mini-batch loss estimates the full-data negative
ELBO, and the evaluator places a particle plate at ``dim=-2`` to draw importance samples in
parallel.

Parameters are ordinary ``torch.nn.Parameter`` attributes of the module: they never enter Pyro's
global parameter store, so two models in one process never share weights and ``state_dict()``
captures a model whole.
"""

from __future__ import annotations

import inspect
from typing import Any, ClassVar, Dict, Optional, Sequence, Tuple

import torch
from pyro.nn import PyroModule

from pyroml._validation import NotFittedError, check_int, check_sizes
from pyroml.infer.module import SVIModule

__all__ = ["SVIModule", "DensityModel", "check_examples", "check_latent_dim", "as_event_shape", "MNIST_SHAPE"]

#: the event shape of one MNIST image, every density model's default
MNIST_SHAPE: Tuple[int, ...] = (1, 28, 28)


def as_event_shape(shape: Sequence[int]) -> Tuple[int, ...]:
    """``shape`` (e.g. ``(1, 28, 28)`` or ``(5,)``) as a tuple of positive ints.

    :raises ValueError: for an empty shape or a non-positive size.
    """
    return check_sizes("event_shape", shape)


def check_examples(x: Any, event_shape: Tuple[int, ...], unit_interval: bool, what: str = "x",
                   dtype: Optional[torch.dtype] = None) -> torch.Tensor:
    """Validate a batch of examples before any work starts.

    :param x: examples, expected of shape ``(N,) + event_shape``.
    :param tuple event_shape: the shape of one example, e.g. ``(1, 28, 28)``.
    :param bool unit_interval: require values in [0, 1] (Bernoulli-type likelihoods).
    :param dtype: the floating-point type the model computes in (its parameters'), or ``None``
        for any: float64 or float16 examples for a float32 model are refused with the fix, rather
        than failing at the first step inside a matrix product.
    :returns: ``x`` as a floating-point tensor.
    :raises TypeError, ValueError: naming what was expected, what came, and the fix.
    """
    if not isinstance(x, torch.Tensor):
        fix = "pyroml.data.from_arrays(x) converts numpy arrays" if type(x).__module__ == "numpy" else \
            "convert with torch.as_tensor(...)"
        raise TypeError(f"{what} must be a torch.Tensor of shape (N, {', '.join(map(str, event_shape))}), "
                        f"got {type(x).__name__}; {fix}")
    if not x.is_floating_point():
        raise TypeError(f"{what} must be a floating-point tensor, got dtype {x.dtype}; "
                        f"use x.float() / 255 for 8-bit images")
    if dtype is not None and x.dtype != dtype:
        raise TypeError(f"{what} is {x.dtype}, but the model computes in {dtype}: pass x.to({dtype}) "
                        f"(pyroml.data.from_arrays(x) converts any dtype to float32)")
    expected = "(N, " + ", ".join(map(str, event_shape)) + ")"
    if tuple(x.shape[1:]) != tuple(event_shape) or x.dim() != len(event_shape) + 1:
        hint = ""
        if x.dim() >= 1 and x[0].numel() == int(torch.Size(event_shape).numel()):
            hint = f"; reshape with x.reshape(-1, {', '.join(map(str, event_shape))})"
        raise ValueError(f"{what} has shape {tuple(x.shape)}, expected {expected}{hint}")
    if x.shape[0] == 0:
        raise ValueError(f"{what} is empty (0 examples); pass at least one example")
    if not torch.isfinite(x).all():
        bad = int((~torch.isfinite(x)).sum())
        raise ValueError(f"{what} contains {bad} NaN or infinite values; remove or impute them first")
    if unit_interval:
        lo, hi = float(x.min()), float(x.max())
        if lo < 0.0 or hi > 1.0:
            fix = "divide by 255" if hi > 1.0 and hi <= 255.0 and lo >= 0.0 else "rescale to [0, 1]"
            raise ValueError(
                f"expected values in [0, 1] for a Bernoulli-type likelihood, got min {lo:g}, max {hi:g}: "
                f"{fix}, or, for real-valued data, use likelihood='gaussian' (VAE, ConvVAE), PPCA or GMM"
            )
    return x


class DensityModel(PyroModule, SVIModule):
    """Base class of pyroml's density models.

    Subclasses implement :meth:`model`, :meth:`guide`, :meth:`encode`, :meth:`decode`,
    :meth:`reconstruct` and :meth:`sample`, and, where :math:`\\log p(x)` is tractable,
    :meth:`log_likelihood`.

    Constructor arguments are stored as attributes of the same name (scikit-learn's
    convention), so :meth:`get_config` can rebuild the model. ``event_shape``, the shape of one
    example, is one of them: given to the constructor, the parameters are built at once; left
    ``None``, they are built from the data at the first :func:`pyroml.fit`
    (:meth:`adapt_to_data`), and the shape then belongs to the configuration and the checkpoint.
    Subclasses build their shape-dependent parameters in :meth:`_build`.
    """

    #: whether the likelihood needs data in [0, 1]
    unit_interval: bool = False
    #: whether :meth:`log_likelihood` is exact (else the evaluator uses an importance-weighted bound)
    has_exact_log_likelihood: ClassVar[bool] = False

    def __init__(self, event_shape: Optional[Sequence[int]] = None) -> None:
        super().__init__()
        self._event_shape: Optional[Tuple[int, ...]] = None if event_shape is None else as_event_shape(event_shape)

    @property
    def event_shape(self) -> Tuple[int, ...]:
        """The shape of one example.

        :raises NotFittedError: before the shape is known (neither given nor taken from data).
        """
        if self._event_shape is None:
            raise NotFittedError(f"{type(self).__name__} has no event_shape yet: fit it first (the shape is taken "
                               f"from the data), or pass event_shape=... to its constructor")
        return self._event_shape

    @property
    def is_built(self) -> bool:
        """Whether the shape, and with it the parameters, are there."""
        return self._event_shape is not None

    @property
    def n_features(self) -> int:
        """:math:`D`, the number of values in one example."""
        return int(torch.Size(self.event_shape).numel())

    def _build(self) -> None:
        """Create the parameters that depend on :attr:`event_shape` (called once it is known)."""
        raise NotImplementedError

    def adapt_to_data(self, *data: Any) -> None:
        """Take ``event_shape`` from the training examples ``data[0]`` (shape ``(N,) + event_shape``)
        and build the parameters, when the shape was not given; a built model is left as it is.
        The examples are checked first, so data the model would refuse never fix its shape."""
        if self._event_shape is not None:
            return
        x = data[0]
        if isinstance(x, torch.Tensor) and x.dim() < 2:
            raise ValueError(f"training data must have shape (N, ...) with one example per row, got shape "
                             f"{tuple(x.shape)}; for N examples of one value each use x.reshape(-1, 1)")
        check_examples(x, tuple(x.shape[1:]) if isinstance(x, torch.Tensor) else (), self.unit_interval,
                       "training data", torch.get_default_dtype())
        self._event_shape = as_event_shape(x.shape[1:])
        try:
            self._build()
        except BaseException:
            self._event_shape = None
            raise

    # ---- projections -------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent projection of ``x`` (shape ``(N,) + event_shape``) to ``(N, d)``."""
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Mean of :math:`p(x \\mid z)`, of shape ``z.shape[:-1] + event_shape``."""
        raise NotImplementedError

    def reconstruct(self, x: torch.Tensor, sample: bool = False) -> torch.Tensor:
        """Decode of the posterior mean (or of a posterior sample), shaped like ``x``."""
        raise NotImplementedError

    def sample(self, n: int) -> torch.Tensor:
        """``n`` new examples from the model: means of :math:`p(x \\mid z)` for :math:`z \\sim p(z)`."""
        raise NotImplementedError

    def log_likelihood(self, x: torch.Tensor) -> torch.Tensor:
        """Exact per-example :math:`\\log p(x)` of shape ``(N,)``, where tractable."""
        raise NotImplementedError(
            f"{type(self).__name__} has no exact log-likelihood; use pyroml.evaluate(...), "
            f"which falls back to an importance-weighted bound"
        )

    # ---- input checks and configuration -------------------------------------
    def check_input(self, *data: Any, what: str = "x") -> None:
        """Validate examples for this model (see :func:`check_examples`): shape, dtype (the
        parameters'), finiteness and, for Bernoulli-type likelihoods, values in [0, 1]."""
        p = next(self.parameters(), None)
        check_examples(data[0], self.event_shape, self.unit_interval, what,
                       p.dtype if p is not None else torch.get_default_dtype())

    def _check_shape(self, x: Any, what: str = "x") -> None:
        """The cheap part of :meth:`check_input` for the projections (``encode``, ``reconstruct``,
        ``log_likelihood``): ``x`` a tensor of shape ``(N,) + event_shape`` (no pass over the values).

        :raises NotFittedError: before the shape is known; :raises ValueError: for another shape.
        """
        shape = self.event_shape
        if not isinstance(x, torch.Tensor) or x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"{what} has shape {got}, expected (N, {', '.join(map(str, shape))}) for this "
                             f"{type(self).__name__}")

    def _check_latents(self, z: Any, size: int, what: str = "z") -> None:
        """``z`` a tensor whose last dimension is ``size`` (the latent dimension, or K weights).

        :raises ValueError: naming the shape that came and the size expected.
        """
        if not isinstance(z, torch.Tensor) or z.dim() < 1 or z.shape[-1] != size:
            got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
            raise ValueError(f"{what} has shape {got}, expected (..., {size}) for this {type(self).__name__}")

    def get_config(self) -> Dict[str, Any]:
        """Constructor arguments, enough to rebuild an untrained copy: ``type(m)(**m.get_config())``;
        JSON-ready (tuples as lists), as checkpoints and run settings store them."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {n: _jsonable(self._event_shape if n == "event_shape" else getattr(self, n)) for n in names}

    @property
    def device(self) -> torch.device:
        """The device of the parameters (CPU for a model without any)."""
        p = next(self.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def check_latent_dim(latent_dim: Any) -> int:
    """The latent dimension as a positive int (the check every latent-variable model shares)."""
    return check_int("latent_dim", latent_dim, 1)
