"""Safe, atomic checkpoints.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and dicts written with
:func:`torch.save` and read back with ``torch.load(weights_only=True)``: loading can never run
code. Writes are atomic (:func:`pyroml.io.atomic_write`), so an interrupted write never leaves a
truncated file where a good checkpoint stood.

Layout: ``format`` (:data:`FORMAT`), ``model`` (the registry name of the class, see
:data:`pyroml.io.MODELS`), ``config`` (its constructor arguments, ``get_config()``),
``state_dict``, ``history``, and for training checkpoints ``epoch``, ``optimizer``,
``scheduler`` and ``rng``.

Format history: ``pyroml-checkpoint-v1`` configs have no ``event_shape`` (every model of that
format was built for MNIST's ``(1, 28, 28)``, which reading fills in); ``pyroml-checkpoint-v2``
configs always hold it. Both are read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

from pyroml._validation import check_device
from pyroml.io.atomic import PathLike, atomic_write
from pyroml.io.registry import MODELS, registry_name

__all__ = ["save", "load", "read_checkpoint", "FORMAT"]

FORMAT = "pyroml-checkpoint-v2"
#: formats this version reads
READABLE = ("pyroml-checkpoint-v1", FORMAT)
V1_EVENT_SHAPE = [1, 28, 28]


def save(model: torch.nn.Module, path: PathLike, history: Optional[Any] = None, **extra: Any) -> None:
    """Save ``model`` (class, constructor arguments, weights) and its training history.

    :param model: a pyroml model (one of :data:`pyroml.io.MODELS`).
    :param path: destination file; written atomically.
    :param history: a :class:`~pyroml.infer.History` or its ``to_dict()``.
    :param extra: further weights-only-safe entries (optimizer state, RNG state, epoch).
    :raises FloatingPointError: when a parameter holds NaN or infinite values (a diverged model is
        never written: the file at ``path``, if any, is left as it was).
    """
    bad = [name for name, p in model.named_parameters() if not bool(torch.isfinite(p).all())]
    if bad:
        raise FloatingPointError(f"not saving {type(model).__name__} to {path}: its parameters {bad[:3]} hold NaN "
                                 f"or infinite values (training diverged?); the file there was left as it was")
    state = {
        "format": FORMAT,
        "model": registry_name(model),
        "config": model.get_config(),  # type: ignore[operator]
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": getattr(history, "to_dict", lambda: history)(),
        **extra,
    }
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def read_checkpoint(path: PathLike) -> Dict[str, Any]:
    """Read a checkpoint dictionary safely (``weights_only=True``).

    :raises FileNotFoundError: when there is no file at ``path``.
    :raises ValueError: when the file is not a pyroml checkpoint, saying why.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if path.is_dir():
        inside = [f.name for f in sorted(path.glob("*.pt"))[:3]]
        raise ValueError(f"{path} is a folder, not a pyroml checkpoint" +
                         (f"; it holds {', '.join(inside)}" if inside else "") + ": name the file, e.g. DIR/model.pt")
    if path.stat().st_size == 0:
        raise ValueError(f"{path} is not a pyroml checkpoint: the file is empty")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle.UnpicklingError and friends
        if "Unsupported global" in str(e) or "GLOBAL" in str(e):
            raise ValueError(f"{path} is not a safe pyroml checkpoint: it holds Python objects that would run code "
                             f"when loaded, so it was refused") from None
        raise ValueError(f"{path} is not a pyroml checkpoint: not a file torch.save wrote, or a truncated one "
                         f"({type(e).__name__})") from None
    if not isinstance(state, dict) or state.get("format") not in READABLE:
        raise ValueError(f"{path} is not a pyroml checkpoint: format {FORMAT} expected")
    if not isinstance(state.get("config"), dict) or not isinstance(state.get("state_dict"), dict):
        raise ValueError(f"{path} is not a pyroml checkpoint: its config or weights are missing")
    if state["format"] == "pyroml-checkpoint-v1":
        state["config"].setdefault("event_shape", V1_EVENT_SHAPE)
    if state.get("model") not in MODELS:
        raise ValueError(f"{path} is not a pyroml checkpoint: unknown model {state.get('model')!r} "
                         f"(known: {sorted(MODELS)})")
    return state


def load(path: PathLike, device: Union[str, torch.device] = "cpu") -> Any:
    """Rebuild a saved model without its training code.

    :param device: where to put the model (``"cpu"``, ``"cuda"``...).
    :returns: the model in eval mode, with ``model.history`` set to the saved history dict.
    :raises FileNotFoundError: when there is no file; :raises ValueError: when it is not a pyroml
        checkpoint (saying why), or ``device`` is not available here.
    """
    check_device(device)
    state = read_checkpoint(path)
    try:
        model = MODELS[state["model"]](**state["config"])
        model.load_state_dict(state["state_dict"])
    except (TypeError, ValueError, RuntimeError, KeyError) as e:
        why = " ".join(str(e).split())[:300]
        raise ValueError(f"{path} is not a pyroml checkpoint: its configuration and weights do not build a "
                         f"{state['model']} ({why})") from None
    model.history = state.get("history")
    return model.to(device).eval()
