"""Model classes by name, as the command line and checkpoints spell them.

A model class registers itself with :func:`register_model`; :func:`pyroml.load` rebuilds a
checkpoint's model from the name stored in it. The registry lives below the models so that
checkpoints need not import them: any class registered here can be saved and loaded, including
a user's own :class:`~pyroml.models.DensityModel` subclass.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Type, TypeVar

__all__ = ["MODELS", "register_model", "registry_name", "model_class"]

#: model names -> classes (``cvae`` is the study's name for ``convvae``)
MODELS: Dict[str, Any] = {}

T = TypeVar("T", bound=type)


def register_model(name: str, *aliases: str) -> Callable[[T], T]:
    """Class decorator: register a model class under ``name`` (its name in checkpoints) and
    ``aliases`` (accepted by the command line and by :func:`pyroml.load`).

    :raises ValueError: when a name is already taken by another class.
    """
    def decorate(cls: T) -> T:
        for n in (name, *aliases):
            if MODELS.get(n, cls) is not cls:
                raise ValueError(f"model name {n!r} is taken by {MODELS[n].__name__}; choose another")
            MODELS[n] = cls
        return cls
    return decorate


def registry_name(model: object) -> str:
    """The canonical name of ``model``'s class (the first registered).

    :raises TypeError: for a class that is not registered.
    """
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise TypeError(f"cannot checkpoint {type(model).__name__}: not a registered model ({sorted(MODELS)}); "
                    f"decorate its class with pyroml.io.register_model('name')")


def model_class(name: str) -> Type:
    """The class registered as ``name``.

    :raises KeyError: naming the registered names.
    """
    if name not in MODELS:
        raise KeyError(f"no model named {name!r}; registered: {sorted(MODELS)}")
    return MODELS[name]
