"""Files pyroml writes and reads: atomic writes, JSON, safe model checkpoints, and the registry
of model names that checkpoints use."""

from pyroml.io.atomic import PathLike, atomic_write, write_json, write_text
from pyroml.io.checkpoint import FORMAT, load, read_checkpoint, save
from pyroml.io.registry import MODELS, register_model, registry_name

__all__ = ["PathLike", "atomic_write", "write_json", "write_text", "save", "load", "read_checkpoint", "FORMAT",
           "MODELS", "register_model", "registry_name"]
