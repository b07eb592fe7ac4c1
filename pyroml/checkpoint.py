"""Safe, atomic checkpoints.

A checkpoint is a plain dictionary of tensors, numbers, strings, lists and
dicts written with :func:`torch.save` and read back with
``torch.load(weights_only=True)``: loading can never run code. Writes go to a
temporary file in the same directory and are moved into place with
:func:`os.replace`, so an interrupted write never leaves a truncated file
where a good checkpoint stood.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Union

import torch

__all__ = ["save", "load", "read_checkpoint", "atomic_write", "write_json"]

FORMAT = "pyroml-checkpoint-v1"
PathLike = Union[str, os.PathLike]


def atomic_write(path: PathLike, write) -> None:
    """Call ``write(tmp_path)`` then atomically move ``tmp_path`` to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    def _write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2)
            f.write("\n")
    atomic_write(path, _write)


def _registry() -> Dict[str, type]:
    from pyroml.models import MODELS
    return MODELS


def save(model: torch.nn.Module, path: PathLike, history: Optional[Any] = None,
         **extra: Any) -> None:
    """Save ``model`` (class, constructor arguments, weights) and its training history.

    :param model: a pyroml model (has ``get_config()``).
    :param path: destination file; written atomically.
    :param history: a :class:`~pyroml.train.History` or its ``to_dict()``.
    :param extra: further weights-only-safe entries (optimizer state, RNG state, epoch).
    """
    names = {cls: name for name, cls in reversed(list(_registry().items()))}
    if type(model) not in names:
        raise TypeError(f"cannot checkpoint {type(model).__name__}: not one of {sorted(_registry())}")
    state = {
        "format": FORMAT,
        "model": names[type(model)],
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in model.get_config().items()},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "history": history.to_dict() if hasattr(history, "to_dict") else history,
        **extra,
    }
    atomic_write(path, lambda tmp: torch.save(state, tmp))


def read_checkpoint(path: PathLike) -> Dict[str, Any]:
    """Read a checkpoint dictionary safely (``weights_only=True``)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle.UnpicklingError and friends
        raise ValueError(f"{path} is not a safe pyroml checkpoint (refused to load: {e})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is not a pyroml checkpoint (format {FORMAT} expected)")
    return state


def load(path: PathLike, device: Union[str, torch.device] = "cpu") -> torch.nn.Module:
    """Rebuild a saved model without its training code.

    :returns: the model in eval mode, with ``model.history`` set to the saved history dict.
    """
    state = read_checkpoint(path)
    cls = _registry()[state["model"]]
    model = cls(**state["config"])
    model.load_state_dict(state["state_dict"])
    model.history = state.get("history")
    return model.to(device).eval()
