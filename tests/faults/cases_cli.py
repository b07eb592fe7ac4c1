"""Fault cases of the command line: every numeric flag out of range, missing and corrupt files,
``--out`` a file, earlier runs, unavailable devices — one line and exit status 2, never a traceback."""

from __future__ import annotations

import dataclasses

import pyroml
from tests.faults.cases_data import _truncate_idx
from tests.faults.cases_io import _crafted, _good
from tests.faults.core import Accepts, Case, Env, Usage, cli

T, EV, CO, GP, BO = "cli train", "cli evaluate", "cli compare", "cli gp", "cli bo"
QUICK = ["--no-download", "--no-progress", "--iwae-k", "2", "--epochs", "1"]
FAST_GP = ["--num-samples", "4", "--warmup", "4", "--chains", "1"]


def train(*flags: str, model: str = "ppca"):
    """``pyroml train MODEL`` on the tiny MNIST into ``tmp/o``, with ``flags``."""
    return cli(lambda e: ["train", model, "--data-dir", e.mnist, "--out", e.tmp / "o", *QUICK, *flags])


def _no_run(env: Env, _) -> None:
    assert not (env.tmp / "o" / "checkpoint.pt").exists(), "training ran before the error"


def _ran(env: Env, result) -> None:
    assert result.code == 0 and (env.tmp / "g" / "metrics.json").exists(), result.err[-1000:]


def _nothing_computed(env: Env, result) -> None:
    assert result.out == "", f"work was done before the error: {result.out[:300]!r}"


def _earlier_run(env: Env) -> None:
    out = env.tmp / "o"
    out.mkdir()
    pyroml.save(pyroml.PPCA(event_shape=(1, 28, 28)), out / "model.pt")


def _csv(env: Env) -> None:
    env.file("t.csv", "a,b,c\n" + "".join(f"{i},{2 * i},{i % 2}\n" for i in range(12)))


def _parse_error(name: str, flags, msg: str, command: str = "train", area: str = T) -> Case:
    """A flag argparse refuses (before anything is read or written)."""
    safe = ["--data-dir", "NONE", "--no-download"] if command in ("train", "compare") else []  # never a download
    shown = [command, *(["ppca"] if command == "train" else []), *flags]
    return Case(f"{command}-{name}", area, f"`pyroml {' '.join(shown)}`",
                cli(lambda e: [command, *(["ppca"] if command == "train" else []), *flags,
                               *[e.tmp / "none" if a == "NONE" else a for a in safe]]), Usage(msg))


CASES = [
    # ---- train: flags argparse refuses -------------------------------------------------------------
    *[_parse_error(name, flags, msg) for name, flags, msg in [
        ("epochs-negative", ["--epochs", "-1"], "argument --epochs: must be >= 0, got -1"),
        ("batch-0", ["--batch-size", "0"], "argument --batch-size: must be >= 1, got 0"),
        ("latent-0", ["--latent-dim", "0"], "argument --latent-dim: must be >= 1"),
        ("components-0", ["--components", "0"], "argument --components: must be >= 1"),
        ("lr-0", ["--lr", "0"], "argument --lr: must be a finite number > 0"),
        ("lr-nan", ["--lr", "nan"], "argument --lr: must be a finite number > 0, got nan"),
        ("lr-inf", ["--lr", "inf"], "got inf"),
        ("lr-text", ["--lr", "fast"], "argument --lr: expected a number, got 'fast'"),
        ("seed-text", ["--seed", "x"], "argument --seed: expected an integer"),
        ("seed-negative", ["--seed", "-1"], "argument --seed: must be >= 0"),
        ("subset-negative", ["--subset", "-5"], "argument --subset: must be >= 1, got -5"),
        ("subset-0", ["--subset", "0"], "argument --subset: must be >= 1"),
        ("iwae-negative", ["--iwae-k", "-1"], "argument --iwae-k: must be >= 0"),
        ("size-0", ["--size", "0", "4"], "argument --size: must be >= 1"),
        ("test-fraction-0", ["--test-fraction", "0"], "argument --test-fraction: must be between 0 and 1"),
        ("test-fraction-1", ["--test-fraction", "1.5"], "between 0 and 1"),
        ("schedule", ["--lr-schedule", "linear"], "argument --lr-schedule: invalid choice"),
        ("likelihood", ["--likelihood", "poisson"], "argument --likelihood: invalid choice"),
        ("dataset", ["--dataset", "imagenet"], "argument --dataset: invalid choice"),
        ("unknown-flag", ["--epochz", "3"], "unrecognized arguments: --epochz 3"),
    ]],
    Case("train-model", T, "`pyroml train rbm`", cli(lambda e: ["train", "rbm"]),
             Usage("argument model: invalid choice")),
    Case("cli-no-command", T, "`pyroml` alone", cli(lambda e: []), Usage("required: COMMAND")),
    # ---- train: what only running can tell -------------------------------------------------------------
    Case("train-flag-for-other-model", T, "`pyroml train vae --components 3`", train("--components", "3", model="vae"),
         Usage(("VAE takes no n_components", "--components for gmm")), check=_no_run),
    Case("train-latent-for-gmm", T, "`pyroml train gmm --latent-dim 3`", train("--latent-dim", "3", model="gmm"),
         Usage("GMM takes no latent_dim"), check=_no_run),
    Case("train-missing-data", T, "MNIST missing, `--no-download`", cli(lambda e: [
        "train", "ppca", "--data-dir", e.tmp / "none", "--out", e.tmp / "o", *QUICK]),
         Usage(("MNIST not found", "searched")), check=_no_run),
    Case("train-corrupt-data", T, "a truncated IDX file", cli(lambda e: [
        "train", "ppca", "--data-dir", e.tmp / "data", "--out", e.tmp / "o", *QUICK]), Usage("truncated or corrupt"),
         setup=_truncate_idx,
         check=_no_run),
    Case("train-data-missing", T, "`--data nope.csv`", cli(lambda e: [
        "train", "ppca", "--data", e.tmp / "nope.csv", "--out", e.tmp / "o", *QUICK]), Usage("no data at"),
        check=_no_run),
    Case("train-data-kind", T, "`--data notes.txt`", cli(lambda e: [
        "train", "ppca", "--data", e.file("notes.txt", "hi"), "--out", e.tmp / "o", *QUICK]),
         Usage("cannot read"), check=_no_run),
    Case("train-real-valued-bernoulli", T, "`pyroml train vae --data table.csv` of values above 1", cli(lambda e: [
        "train", "vae", "--data", e.tmp / "t.csv", "--label-column", "c", "--out", e.tmp / "o", *QUICK]), setup=_csv,
         outcome=Usage(("expected values in [0, 1]", "likelihood='gaussian'")), check=_no_run),
    Case("train-device-cuda", T, "`--device cuda:9` (no such GPU)", train("--device", "cuda:9"),
         Usage("device 'cuda:9' is not available"), check=_no_run),
    Case("train-device-nonsense", T, "`--device toaster`", train("--device", "toaster"),
         Usage("device must be a torch device"), check=_no_run),
    Case("train-devices-cores", T, "`--accelerator cpu --devices 10000`",
         train("--accelerator", "cpu", "--devices", "10000"), Usage("CPU processes but this machine has"),
         check=_no_run),
    Case("train-out-file", T, "`--out` naming a file", cli(lambda e: [
        "train", "ppca", "--data-dir", e.mnist, "--out", e.tmp / "f", *QUICK]),
         Usage("is a file, not a folder"), keeps="f", setup=lambda e: e.file("f", "keep me")),
    Case("train-out-unwritable", T, "`--out /proc/pyroml`", cli(lambda e: [
        "train", "ppca", "--data-dir", e.mnist, "--out", "/proc/pyroml", *QUICK]), Usage("choose another --out")),
    Case("train-earlier-run", T, "`--out` holding an earlier run, no `--resume`", train(), setup=_earlier_run,
         keeps="o/model.pt", outcome=Usage(("holds an earlier run", "--resume", "--overwrite"))),
    Case("train-latent-too-big", T, "`pyroml train ppca --latent-dim 784`", train("--latent-dim", "784"),
         Usage("latent_dim must be smaller than the data dimension 784"), check=_no_run),
    Case("train-components-too-many", T, "`pyroml train gmm --components 500` on 64 images",
         train("--components", "500", model="gmm"), Usage("need at least n_components=500 examples"), check=_no_run),
    Case("train-subset-1", T, "`pyroml train ppca --subset 1`", train("--subset", "1"),
         Usage("at least 2 examples"), check=_no_run),
    # ---- evaluate -------------------------------------------------------------------------------------------
    Case("evaluate-missing", EV, "`pyroml evaluate nope.pt`", cli(lambda e: ["evaluate", e.tmp / "nope.pt"]),
         Usage(("no checkpoint at", "pyroml train MODEL --out DIR"))),
    Case("evaluate-junk", EV, "`pyroml evaluate` of random bytes", cli(lambda e: [
        "evaluate", e.file("j.pt", bytes(range(256)) * 4)]), Usage("not a pyroml checkpoint")),
    Case("evaluate-crafted", EV, "`pyroml evaluate` of a crafted checkpoint", cli(lambda e: ["evaluate",
             e.tmp / "c.pt"]),
         Usage("do not build a vae"), setup=_crafted(model="vae", config={"bogus": 1}, state_dict={})),
    Case("evaluate-folder", EV, "`pyroml evaluate` of a folder", cli(lambda e: ["evaluate", e.tmp]),
             Usage("is a folder"),
         setup=_good),
    Case("evaluate-device", EV, "`pyroml evaluate m.pt --device cuda:9`", cli(lambda e: [
        "evaluate", e.tmp / "m.pt", "--device", "cuda:9"]), Usage("is not available"), setup=_good),
    Case("evaluate-shape", EV, "a 5-feature model on MNIST", cli(lambda e: [
        "evaluate", e.tmp / "m.pt", "--data-dir", e.mnist, "--no-download"]),
         Usage("has shape (32, 1, 28, 28), expected (N, 5)"), setup=_good),
    _parse_error("iwae-negative", ["m.pt", "--iwae-k", "-1"], "argument --iwae-k: must be >= 0", "evaluate", EV),
    _parse_error("subset-0", ["m.pt", "--subset", "0"], "argument --subset: must be >= 1", "evaluate", EV),
    # ---- compare ----------------------------------------------------------------------------------------------
    _parse_error("iwae-0", ["--iwae-k", "0"], "argument --iwae-k: must be >= 1", "compare", CO),
    _parse_error("models", ["--models", "rbm"], "argument --models: invalid choice", "compare", CO),
    Case("compare-device", CO, "`pyroml compare --device cuda:9`", cli(lambda e: [
        "compare", "--device", "cuda:9", "--out", e.tmp / "c"]), Usage("is not available")),
    Case("compare-missing-data", CO, "`pyroml compare --quick` without MNIST", cli(lambda e: [
        "compare", "--quick", "--data-dir", e.tmp / "none", "--no-download", "--no-progress", "--out", e.tmp / "c"]),
         Usage("MNIST not found")),
    Case("compare-out-file", CO, "`pyroml compare --out` a file", cli(lambda e: [
        "compare", "--quick", "--data-dir", e.mnist, "--no-download", "--no-progress", "--out", e.tmp / "f"]),
         Usage("is a file, not a folder"), setup=lambda e: e.file("f", "x"), keeps="f", note="before any training"),
    # ---- gp ------------------------------------------------------------------------------------------------
    Case("gp-chains-0", GP, "`pyroml gp --chains 0`", cli(lambda e: ["gp", "--chains", "0", "--out", e.tmp / "g"]),
         Usage("argument --chains: must be >= 1, got 0")),
    Case("gp-samples-negative", GP, "`pyroml gp --num-samples -1`", cli(lambda e: [
        "gp", "--num-samples", "-1", "--out", e.tmp / "g"]), Usage("argument --num-samples: must be >= 1, got -1")),
    Case("gp-warmup-negative", GP, "`pyroml gp --warmup -1`", cli(lambda e: [
        "gp", "--warmup", "-1", "--chains", "1", "--out", e.tmp / "g"]),
         Usage("argument --warmup: must be >= 0, got -1")),
    _parse_error("kernel", ["--kernel", "sq"], "argument --kernel", "gp", GP),
    _parse_error("chains-text", ["--chains", "two"], "argument --chains", "gp", GP),
    Case("gp-target-accept", GP, "`pyroml gp --target-accept 2` (was: an AssertionError traceback)", cli(lambda e: [
        "gp", "--target-accept", "2", *FAST_GP, "--out", e.tmp / "g"]),
         Usage("argument --target-accept: must be between 0 and 1, got 2")),
    Case("gp-seed-negative", GP, "`pyroml gp --seed -1`", cli(lambda e: [
        "gp", "--seed", "-1", *FAST_GP, "--out", e.tmp / "g"]), Usage("argument --seed: must be >= 0"),
         note="was: Pyro's 'Seed must be between 0 and 2**32 - 1'"),
    Case("gp-few-samples", GP, "`pyroml gp --num-samples 2` (was: an AssertionError traceback after the sampling)",
         cli(lambda e: ["gp", "--num-samples", "2", "--warmup", "4", "--chains", "1", "--out", e.tmp / "g"]),
         Accepts("runs; metrics written without R-hat"), check=_ran),
    Case("gp-out-file", GP, "`pyroml gp --out` a file", cli(lambda e: ["gp", *FAST_GP, "--out", e.tmp / "f"]),
         Usage("is a file, not a folder"), setup=lambda e: e.file("f", "x"), keeps="f", check=_nothing_computed,
         note="was: the error came after all the sampling"),
    # ---- bo ------------------------------------------------------------------------------------------------
    Case("bo-iterations-negative", BO, "`pyroml bo --iterations -1`", cli(lambda e: [
        "bo", "--iterations", "-1", "--out", e.tmp / "b"]), Usage("argument --iterations: must be >= 0, got -1")),
    _parse_error("method", ["--method", "pi"], "argument --method: invalid choice", "bo", BO),
    _parse_error("hyperparameters", ["--hyperparameters", "vi"], "argument --hyperparameters: invalid choice", "bo",
             BO),
    Case("bo-seed-negative", BO, "`pyroml bo --seed -1`", cli(lambda e: [
        "bo", "--seed", "-1", "--iterations", "0", "--out", e.tmp / "b"]), Usage("argument --seed: must be >= 0"),
         note="was: accepted with --iterations 0, else Pyro's 'Seed must be between 0 and 2**32 - 1'"),
    Case("bo-out-file", BO, "`pyroml bo --out` a file", cli(lambda e: ["bo", "--iterations", "0", "--out",
             e.tmp / "f"]),
         Usage("is a file, not a folder"), setup=lambda e: e.file("f", "x"), keeps="f", check=_nothing_computed,
         note="was: the error came after all of the run"),
]

#: command-line ids read "cli-..." beside the API's
CASES = [c if c.id.startswith("cli-") else dataclasses.replace(c, id=f"cli-{c.id}") for c in CASES]
