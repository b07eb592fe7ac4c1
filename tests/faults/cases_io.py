"""Fault cases of checkpoints: what ``pyroml.load`` refuses (and why), and what ``pyroml.save``
never writes."""

from __future__ import annotations

import os
import pickle

import torch

import pyroml
from pyroml._validation import check_output_file
from pyroml.io import FORMAT
from tests.faults.core import Accepts, Case, Env, Raises

C = "checkpoints"


class _RunsCode:
    """A pickle that would create a folder ``marker`` when loaded."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _good(env: Env) -> None:
    pyroml.save(pyroml.PPCA(event_shape=(5,)), env.tmp / "m.pt")


def _truncated(env: Env) -> None:
    _good(env)
    data = (env.tmp / "m.pt").read_bytes()
    env.file("t.pt", data[: len(data) // 2])


def _crafted(**state):
    def setup(env: Env) -> None:
        torch.save({"format": FORMAT, **state}, env.tmp / "c.pt")
    return setup


def _code_carrying(env: Env) -> None:
    torch.save({"format": FORMAT, "payload": _RunsCode(str(env.tmp / "PWNED"))}, env.tmp / "evil.pt", pickle_protocol=2)


def _nothing_ran(env: Env, _) -> None:
    assert not (env.tmp / "PWNED").exists(), "loading the checkpoint ran its code"


def _nothing_made(env: Env, path) -> None:
    assert path == env.tmp / "a" / "b" / "ck.pt" and not (env.tmp / "a").exists()


def _nan_model() -> pyroml.PPCA:
    m = pyroml.PPCA(event_shape=(5,))
    with torch.no_grad():
        m.W.fill_(float("nan"))
    return m


CASES = [
    Case("load-missing", C, "`pyroml.load` of a missing file", lambda e: pyroml.load(e.tmp / "no.pt"),
         Raises(FileNotFoundError, "no checkpoint at")),
    Case("load-empty", C, "an empty file", lambda e: pyroml.load(e.file("e.pt", b"")),
         Raises(ValueError, "not a pyroml checkpoint: the file is empty")),
    Case("load-random", C, "random bytes (was: torch's advice to use weights_only=False)",
         lambda e: pyroml.load(e.file("r.pt", bytes(range(256)) * 4)),
         Raises(ValueError, "not a pyroml checkpoint: not a file torch.save wrote")),
    Case("load-truncated", C, "half a checkpoint", lambda e: pyroml.load(e.tmp / "t.pt"), setup=_truncated,
         outcome=Raises(ValueError, "not a pyroml checkpoint")),
    Case("load-text", C, "a JSON file named `.pt`", lambda e: pyroml.load(e.file("j.pt", '{"a": 1}')),
         Raises(ValueError, "not a pyroml checkpoint")),
    Case("load-pickle", C, "a plain pickle that would run code", lambda e: pyroml.load(e.file(
        "p.pt", pickle.dumps(_RunsCode(str(e.tmp / "PWNED"))))), Raises(ValueError, "not a"), check=_nothing_ran),
    Case("load-code", C, "a torch file holding an object that runs code", lambda e: pyroml.load(e.tmp / "evil.pt"),
         setup=_code_carrying, outcome=Raises(ValueError, "not a safe pyroml checkpoint"), check=_nothing_ran,
         note="nothing ran"),
    Case("load-tensor", C, "`torch.save(tensor)`", lambda e: pyroml.load(e.tmp / "t.pt"),
         setup=lambda e: torch.save(torch.ones(3), e.tmp / "t.pt"), outcome=Raises(ValueError,
         f"format {FORMAT} expected")),
    Case("load-unknown-model", C, "a checkpoint of an unknown model", lambda e: pyroml.load(e.tmp / "c.pt"),
         setup=_crafted(model="rbm", config={}, state_dict={}), outcome=Raises(ValueError, "unknown model 'rbm'")),
    Case("load-bad-config", C, "a config that builds no VAE", lambda e: pyroml.load(e.tmp / "c.pt"),
         setup=_crafted(model="vae", config={"bogus": 1}, state_dict={}), outcome=Raises(ValueError,
         "do not build a vae")),
    Case("load-bad-weights", C, "weights of another shape", lambda e: pyroml.load(e.tmp / "c.pt"),
         setup=_crafted(model="ppca", config={"event_shape": [5]}, state_dict={"W": torch.ones(1)}),
         outcome=Raises(ValueError, "do not build a ppca")),
    Case("load-no-weights", C, "a checkpoint without weights", lambda e: pyroml.load(e.tmp / "c.pt"),
         setup=_crafted(model="vae"), outcome=Raises(ValueError, "config or weights are missing")),
    Case("load-folder", C, "`pyroml.load` of a folder", lambda e: pyroml.load(e.tmp), setup=_good,
         outcome=Raises(ValueError, ("is a folder, not a pyroml checkpoint", "m.pt"))),
    Case("load-device", C, "`pyroml.load(path, device='cuda:5')` (was: torch's driver error)",
         lambda e: pyroml.load(e.tmp / "m.pt", device="cuda:5"), setup=_good, outcome=Raises(ValueError,
         "not available")),
    Case("save-folder", C, "`pyroml.save` to a folder", lambda e: pyroml.save(pyroml.PPCA(event_shape=(5,)), e.tmp),
         Raises(IsADirectoryError, ("it is a folder", "model.pt"))),
    Case("save-under-file", C, "`pyroml.save` to a path inside a file", lambda e: pyroml.save(
        pyroml.PPCA(event_shape=(5,)), e.file("f", "x") / "m.pt"), Raises(NotADirectoryError,
        "is a file, not a folder")),
    Case("save-nan", C, "`pyroml.save` of a model with NaN weights over a good file", lambda e: pyroml.save(
        _nan_model(), e.tmp / "m.pt"), setup=_good, keeps="m.pt",
         outcome=Raises(FloatingPointError, ("hold NaN or infinite values", "left as it was"))),
    Case("output-file-folder", C, "`check_output_file('checkpoint', folder)` (for fit and the CLI to call first)",
         lambda e: check_output_file("checkpoint", e.tmp), Raises(ValueError, ("is a folder", "checkpoint.pt"))),
    Case("output-file-under-file", C, "`check_output_file` of a path inside a file", lambda e: check_output_file(
        "checkpoint", e.file("f", "x") / "sub" / "ck.pt"), Raises(ValueError, "is a file, not a folder")),
    Case("output-file-new-folders", C, "`check_output_file` of a file in folders still to be made",
         lambda e: check_output_file("checkpoint", e.tmp / "a" / "b" / "ck.pt"), Accepts("accepted; nothing created"),
         check=_nothing_made),
    Case("save-unregistered", C, "`pyroml.save(torch.nn.Linear(2, 2), path)`", lambda e: pyroml.save(
        torch.nn.Linear(2, 2), e.tmp / "l.pt"), Raises(TypeError, "pyroml.io.register_model")),
]
