"""Fault cases of the models' constructors and methods, ``fit``'s and ``evaluate``'s arguments and
data, and the metrics."""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as td
import torch.multiprocessing as mp

import pyroml
from pyroml._validation import NotFittedError
from pyroml.evaluation import bits_per_dim, dequantise, iwae_bound
from pyroml.infer import comm
from pyroml.io import read_checkpoint
from tests.faults.core import Accepts, Case, Env, Raises, with_kw
from tests.infer.test_distributed import free_port
from tests.infer.test_guard import NaNGradient  # a finite loss whose gradient turns NaN

M, F, E = "models", "fit", "evaluate"
X = torch.rand(32, 5, generator=torch.Generator().manual_seed(0))   # 32 examples on [0, 1], 5 features


def _rank_one_dies(port: int) -> None:
    """Rank 1 of two: one gradient average, then gone without a word, as a killed process."""
    td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=1, world_size=2)
    comm.SharedMemoryAverage(64, timeout_seconds=60).average_(torch.ones(4))
    os._exit(0)


def _a_rank_dies(env: Env) -> None:
    """Rank 0 of two, in this process, averaging gradients after rank 1 has died: the error at once,
    not after the timeout (60 s here, 30 min by default)."""
    port = free_port()
    child = mp.get_context("spawn").Process(target=_rank_one_dies, args=(port,))
    child.start()
    td.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=2)
    try:
        state = comm.SharedMemoryAverage(64, timeout_seconds=60)
        state.average_(torch.ones(4))
        child.join(60)
        state.average_(torch.ones(4))
    finally:
        td.destroy_process_group()
        child.join(60)


def ppca(env: Env, shape=(5,)):
    """A watched PPCA built for ``shape``: a step taken before the error fails the case."""
    return env.watch(pyroml.PPCA(latent_dim=2, event_shape=shape))


def fit(env: Env, data=X, model=None, **kw):
    kw.setdefault("epochs", 1)
    return pyroml.fit(ppca(env) if model is None else model, data, progress=False, **kw)


def evaluate(env: Env, data=X, **kw):
    return pyroml.evaluate(ppca(env), data, **kw)


def _train_into(env: Env, lr: float = 0.01) -> None:
    pyroml.fit(NaNGradient(), torch.randn(16, 3), epochs=1, batch_size=8, lr=lr, progress=False,
               checkpoint=str(env.tmp / "ck.pt"))


def _two_process_checkpoint(env: Env) -> None:
    """A checkpoint as two processes write it: one RNG state per rank."""
    _train_into(env)
    state = torch.load(env.tmp / "ck.pt", weights_only=False)
    state["rng"] = [state["rng"], state["rng"].clone()]
    torch.save(state, env.tmp / "ck.pt")


def _resume(env: Env, model=None, **kw):
    settings = {"epochs": 2, "batch_size": 8, "lr": 0.01, **kw}
    return pyroml.fit(env.watch(model or NaNGradient()), torch.randn(16, 3), progress=False,
                      checkpoint=str(env.tmp / "ck.pt"), resume=True, **settings)


def _finite_checkpoint(env: Env, _) -> None:
    assert all(bool(torch.isfinite(p).all()) for p in env.model.parameters()), "non-finite parameters kept"
    saved = read_checkpoint(env.tmp / "ck.pt")
    assert saved["epoch"] == 1 and all(bool(torch.isfinite(v).all()) for v in saved["state_dict"].values())


def _explodes(env: Env, **kw):
    return pyroml.fit(pyroml.VAE(hidden=(8,), decoder_hidden=(8,)), X, epochs=3, lr=1e3, progress=False, **kw)


def _nan_gradient(env: Env):
    """3 steps an epoch; the gradient turns NaN at the 6th call (epoch 2, step 3)."""
    env.model = NaNGradient(bad_after=5)
    return pyroml.fit(env.model, torch.randn(12, 3) + 1.0, epochs=3, batch_size=4, lr=0.1, progress=False,
                      checkpoint=str(env.tmp / "ck.pt"))


def _numpy_ints(env: Env, history) -> None:
    assert len(history.train_elbo) == 2 and len(history.step_loss) == 2 * 4   # 32 examples in batches of 8


CASES = [
    # ---- constructors -------------------------------------------------------------------------------
    Case("vae-latent-0", M, "`VAE(latent_dim=0)`", lambda e: pyroml.VAE(latent_dim=0),
         Raises(ValueError, "latent_dim must be an integer >= 1, got 0")),
    Case("vae-latent-float", M, "`VAE(latent_dim=2.5)`", lambda e: pyroml.VAE(latent_dim=2.5),
         Raises(ValueError, "latent_dim must be an integer >= 1")),
    Case("vae-hidden-empty", M, "`VAE(hidden=())`", lambda e: pyroml.VAE(hidden=()),
         Raises(ValueError, "hidden must be a non-empty sequence of positive sizes")),
    Case("vae-hidden-fraction", M, "`VAE(hidden=(8.5,))` (was: silently 8)", lambda e: pyroml.VAE(hidden=(8.5,)),
         Raises(ValueError, "whole numbers >= 1")),
    Case("vae-hidden-int", M, "`VAE(hidden=8)`", lambda e: pyroml.VAE(hidden=8),
         Raises(ValueError, "hidden must be a non-empty sequence")),
    Case("vae-likelihood", M, "`VAE(likelihood='poisson')`", lambda e: pyroml.VAE(likelihood="poisson"),
         Raises(ValueError, ("likelihood must be one of", "'gaussian'"))),
    Case("vae-event-shape", M, "`VAE(event_shape=(0,))`", lambda e: pyroml.VAE(event_shape=(0,)),
         Raises(ValueError, "event_shape must be a non-empty sequence of positive sizes")),
    Case("vae-unknown-argument", M, "`VAE(n_components=3)`", lambda e: pyroml.VAE(n_components=3),
         Raises(TypeError, "unexpected keyword argument 'n_components'")),
    Case("convvae-table", M, "`ConvVAE(event_shape=(5,))`", lambda e: pyroml.ConvVAE(event_shape=(5,)),
         Raises(ValueError, ("ConvVAE needs images of shape (C, H, W)", "use VAE"))),
    Case("convvae-small", M, "`ConvVAE` on 4x4 images", lambda e: pyroml.ConvVAE(event_shape=(1, 4, 4)),
         Raises(ValueError, "H, W >= 8")),
    Case("convvae-channels", M, "`ConvVAE(channels=(0, 4))`", lambda e: pyroml.ConvVAE(channels=(0, 4)),
         Raises(ValueError, "channels must be a non-empty sequence")),
    Case("ppca-latent-ge-d", M, "`PPCA(latent_dim=5, event_shape=(5,))`",
         lambda e: pyroml.PPCA(latent_dim=5, event_shape=(5,)),
         Raises(ValueError, "latent_dim must be smaller than the data dimension 5")),
    Case("gmm-k-0", M, "`GMM(n_components=0)`", lambda e: pyroml.GMM(n_components=0),
         Raises(ValueError, "n_components must be an integer >= 1")),
    Case("gmm-k-bool", M, "`GMM(n_components=True)`", lambda e: pyroml.GMM(n_components=True),
         Raises(ValueError, "got True")),
    Case("gmm-floor-negative", M, "`GMM(var_floor=-1.0)`", lambda e: pyroml.GMM(var_floor=-1.0),
         Raises(ValueError, "var_floor must be a finite number > 0")),
    Case("gmm-floor-nan", M, "`GMM(var_floor=nan)`", lambda e: pyroml.GMM(var_floor=float("nan")),
         Raises(ValueError, "var_floor must be a finite number > 0, got nan")),
    # ---- methods ----------------------------------------------------------------------------------
    Case("encode-shape", M, "`encode` of 6 features for a 5-feature VAE (was: a matmul error)",
         lambda e: pyroml.VAE(hidden=(8,), event_shape=(5,)).encode(torch.rand(3, 6)),
         Raises(ValueError, "x has shape (3, 6), expected (N, 5) for this VAE")),
    Case("decode-latent", M, "`decode` of 7-d latents for a 2-d PPCA (was: a matmul error)",
         lambda e: pyroml.PPCA(event_shape=(5,)).decode(torch.rand(3, 7)),
         Raises(ValueError, "z has shape (3, 7), expected (..., 2)")),
    Case("gmm-decode-index", M, "`GMM.decode` of component index 9 of 3",
         lambda e: pyroml.GMM(n_components=3, event_shape=(5,)).decode(torch.tensor([9])),
         Raises(ValueError, "component indices must be in [0, 2]")),
    Case("loglik-shape", M, "`GMM.log_likelihood` of another shape (was: a matmul error)",
         lambda e: pyroml.GMM(event_shape=(5,)).log_likelihood(torch.rand(3, 7)),
         Raises(ValueError, "x has shape (3, 7), expected (N, 5) for this GMM")),
    Case("sample-negative", M, "`sample(-1)` (was: a torch error)", lambda e: pyroml.PPCA(event_shape=(5,)).sample(-1),
         Raises(ValueError, "n must be an integer >= 0, got -1")),
    Case("sample-fraction", M, "`VAE.sample(2.5)`", lambda e: pyroml.VAE(hidden=(8,), event_shape=(5,)).sample(2.5),
         Raises(ValueError, "n must be an integer >= 0, got 2.5")),
    Case("reconstruct-unfitted", M, "`reconstruct` of a model never fitted (was: AttributeError)",
         lambda e: pyroml.VAE(hidden=(8,)).reconstruct(X), Raises(NotFittedError, "fit it first")),
    Case("event-shape-unfitted", M, "`model.event_shape` before fit", lambda e: pyroml.GMM().event_shape,
         Raises(NotFittedError, "pass event_shape=... to its constructor")),
    Case("vae-exact-loglik", M, "`VAE.log_likelihood(x)`",
         lambda e: pyroml.VAE(hidden=(8,), event_shape=(5,)).log_likelihood(X),
         Raises(NotImplementedError, "use pyroml.evaluate")),
    Case("ppca-closed-form-one", M, "`PPCA.closed_form` of one example (was: math domain error)",
         lambda e: pyroml.PPCA.closed_form(X[:1]), Raises(ValueError, "needs at least 2 examples")),
    # ---- fit: arguments -----------------------------------------------------------------------------
    *[Case(f"fit-{name}", F, f"`fit(..., {arg})`", with_kw(fit, kw), Raises(ValueError, msg),
           note="no step taken")
      for name, arg, kw, msg in [
          ("epochs-negative", "epochs=-1", {"epochs": -1}, "epochs must be an integer >= 0, got -1"),
          ("epochs-float", "epochs=1.5", {"epochs": 1.5}, "epochs must be an integer >= 0, got 1.5"),
          ("batch-0", "batch_size=0", {"batch_size": 0}, "batch_size must be an integer >= 1"),
          ("batch-bool", "batch_size=True", {"batch_size": True}, "batch_size must be an integer >= 1, got True"),
          ("lr-0", "lr=0", {"lr": 0.0}, "lr must be a finite number > 0"),
          ("lr-negative", "lr=-1e-3 (gradient ascent)", {"lr": -1e-3}, "lr must be a finite number > 0"),
          ("lr-nan", "lr=nan", {"lr": float("nan")}, "got nan"),
          ("lr-string", "lr='0.1'", {"lr": "0.1"}, "lr must be a finite number > 0, got '0.1'"),
          ("clip-negative", "clip_norm=-1 (gradient ascent)", {"clip_norm": -1.0},
          "clip_norm must be a finite number > 0"),
          ("final-lr-fraction", "final_lr_fraction=2", {"final_lr_fraction": 2.0},
          "final_lr_fraction must be a number in [0, 1]"),
          ("schedule", "lr_schedule='linear'", {"lr_schedule": "linear"}, "lr_schedule must be one of"),
          ("particles-0", "num_particles=0", {"num_particles": 0}, "num_particles must be an integer >= 1"),
          ("seed-negative", "seed=-1", {"seed": -1}, "seed must be an integer >= 0"),
          ("device-cuda", "device='cuda:7' (no such GPU)", {"device": "cuda:7"}, "is not available"),
          ("device-nonsense", "device='toaster'", {"device": "toaster"}, "device must be a torch device"),
          ("workers-negative", "num_workers=-1", {"num_workers": -1}, "num_workers must be an integer >= 0"),
          ("devices-0", "devices=0", {"devices": 0}, "devices must be an integer >= 1"),
          ("devices-cores", "accelerator='cpu', devices=10000",
           {"accelerator": "cpu", "devices": 10_000}, "CPU processes but this machine has"),
          ("devices-auto-cores", "devices=10000, strategy='ddp'",
           {"devices": 10_000, "strategy": "ddp"},
           "ask for at most that many"),
          ("devices-cuda", "accelerator='cuda', devices=10000", {"accelerator": "cuda", "devices": 10_000},
           "CUDA device(s)"),
          ("processes-batch", "num_nodes=2, batch_size=1 (was: refused by each process once launched)",
           {"num_nodes": 2, "batch_size": 1}, "2 processes cannot share batches of 1 of 32 examples"),
          ("precision", "precision='7-bit'", {"precision": "7-bit"}, "Precision '7-bit' is invalid"),
          ("resume-nothing", "resume=True without checkpoint", {"resume": True}, "resume=True needs checkpoint=<path>"),
          ("num-examples-tensor", "num_examples=32 with tensors", {"num_examples": 32}, "is for a streamed source"),
      ]],
    Case("fit-rank-died", F, "a DDP rank killed mid-training (its peer averaging gradients through shared memory)",
         _a_rank_dies, Raises(RuntimeError, ("rank(s) [1]", "died before gradient average 2", "this rank stops too"))),
    Case("fit-numpy-ints", F, "`epochs=np.int64(2), batch_size=np.int64(8)` (was: refused)",
         lambda e: pyroml.fit(pyroml.PPCA(latent_dim=2), X, epochs=np.int64(2), batch_size=np.int64(8), progress=False),
         Accepts("accepted as the integers they are"), check=_numpy_ints),
    # ---- fit: data ----------------------------------------------------------------------------------
    Case("fit-float64", F, "float64 tensor (was: a dtype error inside the first step)", lambda e: fit(e, X.double()),
         Raises(TypeError, ("training data is torch.float64", "x.to(torch.float32)", "from_arrays"))),
    Case("fit-float16", F, "float16 tensor to a lazy VAE", lambda e: pyroml.fit(
        pyroml.VAE(hidden=(8,)), X.half(), epochs=1, progress=False), Raises(TypeError, "torch.float16")),
    Case("fit-uint8", F, "uint8 tensor", lambda e: fit(e, (X * 255).to(torch.uint8)),
         Raises(TypeError, "use x.float() / 255")),
    Case("fit-int64", F, "int64 tensor", lambda e: fit(e, (X * 10).long()), Raises(TypeError, "floating-point tensor")),
    Case("fit-numpy", F, "numpy array", lambda e: fit(e, X.numpy()),
         Raises(TypeError, ("got ndarray", "pyroml.data.from_arrays(x)"))),
    Case("fit-list", F, "nested list", lambda e: fit(e, X.tolist()), Raises(TypeError, "got list")),
    Case("fit-path", F, "a file name", lambda e: fit(e, "table.csv"), Raises(TypeError, "pyroml.data.from_path")),
    Case("fit-nan", F, "NaN in the data", lambda e: fit(e, X.masked_fill(X > 0.9, float("nan"))),
         Raises(ValueError, ("NaN or infinite values", "impute"))),
    Case("fit-inf", F, "inf in the data", lambda e: fit(e, X.masked_fill(X > 0.9, float("inf"))),
         Raises(ValueError, "NaN or infinite values")),
    Case("fit-1d", F, "shape (N,)", lambda e: pyroml.fit(pyroml.GMM(), torch.rand(10), epochs=1, progress=False),
         Raises(ValueError, "x.reshape(-1, 1)")),
    Case("fit-empty", F, "zero examples", lambda e: fit(e, X[:0]), Raises(ValueError, "is empty (0 examples)")),
    Case("fit-shape", F, "6 features for a 5-feature model", lambda e: fit(e, torch.rand(8, 6)),
         Raises(ValueError, "has shape (8, 6), expected (N, 5)")),
    Case("fit-validation-shape", F, "validation data of another shape", lambda e: fit(e, validation=torch.rand(4, 6)),
         Raises(ValueError, "validation data has shape (4, 6)")),
    Case("fit-bernoulli-real", F, "values in [-2, 3] for a Bernoulli VAE",
         lambda e: pyroml.fit(pyroml.VAE(hidden=(8,)), 5 * X - 2, epochs=1, progress=False),
         Raises(ValueError, ("expected values in [0, 1]", "likelihood='gaussian'"))),
    Case("fit-ppca-one", F, "one example for PPCA", lambda e: fit(e, X[:1]), Raises(ValueError, "at least 2 examples")),
    Case("fit-gmm-k-gt-n", F, "GMM of 50 components on 32 examples",
         lambda e: pyroml.fit(pyroml.GMM(n_components=50), X, epochs=1, progress=False),
         Raises(ValueError, "need at least n_components=50 examples")),
    Case("fit-lazy-ppca-latent", F, "lazy PPCA with latent_dim 5 on 5 features",
         lambda e: pyroml.fit(pyroml.PPCA(latent_dim=5), X, epochs=1, progress=False),
         Raises(ValueError, "latent_dim must be smaller than the data dimension 5")),
    Case("fit-not-a-model", F, "`fit(torch.nn.Linear(2, 2), x)`", lambda e: pyroml.fit(torch.nn.Linear(2, 2), X),
         Raises(TypeError, "SVIModule"), note="was: an AttributeError ('Linear' has no 'adapt_to_data')"),
    # ---- fit: faults ---------------------------------------------------------------------------------
    Case("fit-nan-gradient", F, "finite loss, NaN gradient at epoch 2", _nan_gradient,
         Raises(FloatingPointError, ("gradient norm became nan at epoch 2", "last finite parameters")),
         check=_finite_checkpoint, note="the model and its epoch-1 checkpoint stay finite"),
    Case("fit-explodes-guarded", F, "`lr=1e3, explosion=1e3`", lambda e: _explodes(e, explosion=1e3),
         Raises(FloatingPointError, ("the loss per example rose to", "lower lr or set clip_norm"))),
    Case("fit-explosion-factor", F, "`explosion=0.5`", lambda e: fit(e, explosion=0.5),
         Raises(ValueError, "explosion must be > 1")),
    Case("fit-explodes", F, "`lr=1e3` with the defaults (was: the ELBO went from -3.8 to -3.7e14, and fit "
         "'succeeded')", _explodes, Raises(FloatingPointError, ("explosion=100 times the first loss", "lower lr"))),
    Case("fit-resume-lr", F, "resume with another lr", lambda e: _resume(e, lr=0.05), setup=_train_into, keeps="ck.pt",
         outcome=Raises(ValueError, ("trained with lr=0.01 (now 0.05)", "only epochs may grow"))),
    Case("fit-resume-batch", F, "resume with another batch_size", lambda e: _resume(e, batch_size=4), setup=_train_into,
         keeps="ck.pt", outcome=Raises(ValueError, "batch_size=8 (now 4)")),
    Case("fit-resume-model", F, "resume a checkpoint of another model", lambda e: pyroml.fit(
        pyroml.GMM(n_components=2, event_shape=(3,)), torch.randn(16, 3), epochs=2, batch_size=8, lr=0.01,
        progress=False, checkpoint=str(e.tmp / "ck.pt"), resume=True), setup=_train_into, keeps="ck.pt",
         outcome=Raises(ValueError, "holds a model with config")),
    Case("fit-resume-model-untouched", F, "resume a checkpoint of another model: the model is left as it was",
         lambda e: pyroml.fit(e.watch(pyroml.GMM(n_components=2, event_shape=(3,))), torch.randn(16, 3), epochs=2,
                              batch_size=8, progress=False, checkpoint=str(e.tmp / "ck.pt"), resume=True),
         Raises(ValueError, "holds a model with config"), setup=_train_into,
         note="was: the GMM's k-means start overwrote its parameters before the refusal"),
    Case("fit-resume-processes", F, "resume in one process a checkpoint two processes wrote",
         lambda e: _resume(e), setup=_two_process_checkpoint, keeps="ck.pt",
         outcome=Raises(ValueError, ("written by 2 processes", "devices x num_nodes = 2 (now 1)")),
         note="no step taken; was: the model's and Adam's state loaded before the refusal"),
    Case("fit-resume-corrupt", F, "resume from random bytes", lambda e: _resume(e), keeps="ck.pt",
         setup=lambda e: e.file("ck.pt", bytes(range(256)) * 4), outcome=Raises(ValueError, "not a pyroml checkpoint")),
    Case("fit-checkpoint-folder", F, "`checkpoint=` a folder", lambda e: fit(e, checkpoint=str(e.tmp)),
         Raises(ValueError, ("checkpoint", "is a folder")),
         note="was: an IsADirectoryError, but only when the first epoch was done"),
    Case("fit-checkpoint-under-file", F, "`checkpoint=` inside a file", lambda e: fit(
        e, checkpoint=str(e.file("f", "x") / "ck.pt")), Raises(ValueError, ("checkpoint", "is a file, not a folder")),
         note="was: a NotADirectoryError when the first epoch was done"),
    # ---- evaluate ------------------------------------------------------------------------------------
    *[Case(f"evaluate-{name}", E, f"`evaluate(..., {arg})`", with_kw(evaluate, kw),
           Raises(ValueError, msg)) for name, arg, kw, msg in [
        ("particles-0", "elbo_particles=0 (was: an ELBO of 0)", {"elbo_particles": 0},
        "elbo_particles must be an integer >= 1"),
        ("iwae-negative", "iwae_k=-1", {"iwae_k": -1}, "iwae_k must be an integer >= 0"),
        ("iwae-string", "iwae_k='10'", {"iwae_k": "10"}, "got '10'"),
        ("batch-0", "batch_size=0", {"batch_size": 0}, "batch_size must be an integer >= 1"),
        ("workers-negative", "num_workers=-1", {"num_workers": -1}, "num_workers must be an integer >= 0"),
    ]],
    Case("evaluate-seed", E, "`evaluate(..., seed=-1)`", lambda e: evaluate(e, seed=-1),
         Raises(ValueError, "seed must be an integer >= 0"),
         note="was: Pyro's 'Seed must be between 0 and 2**32 - 1', not naming the argument"),
    Case("evaluate-num-examples", E, "`num_examples=5` with a tensor", lambda e: evaluate(e, num_examples=5),
         Raises(ValueError, "num_examples is for a streamed source"), note="was: ignored"),
    Case("evaluate-not-a-model", E, "`evaluate(torch.nn.Linear(2, 2), x)`", lambda e: pyroml.evaluate(
        torch.nn.Linear(2, 2), X), Raises(TypeError, "DensityModel"), note="was: an AttributeError ('device')"),
    Case("evaluate-float64", E, "float64 tensor (was: a dtype error)", lambda e: evaluate(e, X.double()),
         Raises(TypeError, "evaluation data is torch.float64")),
    Case("evaluate-nan", E, "NaN in the data", lambda e: evaluate(e, X.masked_fill(X > 0.9, float("nan"))),
         Raises(ValueError, "NaN or infinite values")),
    Case("evaluate-empty", E, "zero examples", lambda e: evaluate(e, X[:0]), Raises(ValueError, "is empty")),
    Case("evaluate-shape", E, "another shape", lambda e: evaluate(e, torch.rand(4, 6)),
         Raises(ValueError, "has shape (4, 6), expected (N, 5)")),
    Case("evaluate-unfitted", E, "a lazy model never fitted", lambda e: pyroml.evaluate(pyroml.GMM(), X),
         Raises(NotFittedError, "fit it first")),
    Case("evaluate-bernoulli-real", E, "values above 1 for a Bernoulli VAE", lambda e: pyroml.evaluate(
        pyroml.VAE(hidden=(8,), event_shape=(5,)), 3 * X), Raises(ValueError, "divide by 255")),
    Case("iwae-k-0", E, "`iwae_bound(model, x, k=0)` (was: ZeroDivisionError)", lambda e: iwae_bound(
        pyroml.VAE(hidden=(8,), event_shape=(5,)), X, k=0), Raises(ValueError, "k must be an integer >= 1")),
    Case("bits-per-dim-d-0", E, "`bits_per_dim(-10.0, 0)` (was: ZeroDivisionError)", lambda e: bits_per_dim(-10.0, 0),
         Raises(ValueError, "d must be an integer >= 1")),
    Case("bits-per-dim-nan", E, "`bits_per_dim(nan, 5)` (was: nan)", lambda e: bits_per_dim(float("nan"), 5),
         Raises(ValueError, "NaN log-density")),
    Case("dequantise-range", E, "`dequantise` of values outside [0, 1] (was: silently outside (0, 1))",
         lambda e: dequantise(torch.tensor([2.0])), Raises(ValueError, "8-bit values divided by 255")),
]
