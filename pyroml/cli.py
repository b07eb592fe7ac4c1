"""The ``pyroml`` command line (also ``python -m pyroml``).

::

    pyroml train vae --epochs 25 --out runs/vae        # train, evaluate, write metrics, model, figures
    pyroml train gmm --resume --out runs/gmm           # continue an interrupted run from its checkpoint
    pyroml evaluate runs/vae/model.pt                  # rebuild a saved model and score it
    pyroml compare                                     # the study's Table 1 and Figures 1-4
    pyroml compare --quick                             # the same pipeline on a subset, under a minute
    pyroml gp                                          # GP hyperparameter posterior by NUTS on the study's problem
    pyroml bo                                          # Bayesian optimisation of the study's function
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

__all__ = ["main", "build_parser"]

class CLIError(Exception):
    """A user error: printed without a traceback, exit status 2."""


EPILOG = "Every command takes --help. Data: --data-dir, else $PYROML_DATA_DIR, else ./data."


def _cmd_train(args: argparse.Namespace) -> int:
    from pyroml.experiment import train_and_report
    from pyroml.models import MODELS
    cls = MODELS[args.model]
    kwargs = {}
    if args.latent_dim is not None:
        kwargs["latent_dim"] = args.latent_dim
    if args.components is not None:
        kwargs["n_components"] = args.components
    import inspect
    bad = [k for k in kwargs if k not in inspect.signature(cls.__init__).parameters]
    if bad:
        raise CLIError(f"{cls.__name__} takes no {', '.join(bad)} "
                         f"(--latent-dim is for vae/convvae/ppca, --components for gmm)")
    train_and_report(lambda: cls(**kwargs), args, out=args.out or f"runs/{args.model}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    import json

    from pyroml.checkpoint import load, write_json
    from pyroml.data import load_mnist
    from pyroml.evaluate import evaluate
    from pyroml.experiment import figures, save_figures
    path = Path(args.checkpoint)
    if not path.exists():
        raise CLIError(f"no checkpoint at {path}; train one with `pyroml train MODEL --out DIR` "
                         f"(it writes DIR/model.pt)")
    try:
        model = load(path, device=args.device)
    except ValueError as e:
        raise CLIError(str(e))
    _, test = load_mnist(args.data_dir, download=not args.no_download, subset=args.subset, seed=args.seed)
    report = evaluate(model, test, iwae_k=args.iwae_k, seed=args.seed)
    print(report)
    out = Path(args.out or path.parent / "evaluation")
    write_json(out / "metrics.json", report.to_dict())
    save_figures(figures(model, test, report), out)
    print(json.dumps(report.to_dict(), indent=2))
    print(f"wrote {out}/metrics.json and figures")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from pyroml.compare import compare
    compare(args.data_dir, args.out, quick=args.quick, retrain=args.retrain, seed=args.seed, device=args.device,
            iwae_k=args.iwae_k, download=not args.no_download, progress=not args.no_progress, models=args.models)
    return 0


def _cmd_gp(args: argparse.Namespace) -> int:
    from pyroml import gp
    return gp.cli_main(args)


def _cmd_bo(args: argparse.Namespace) -> int:
    from pyroml import bo
    return bo.cli_main(args)


def build_parser() -> argparse.ArgumentParser:
    """The ``pyroml`` argument parser with its subcommands."""
    from pyroml.experiment import add_common_args, add_data_args
    description = ("Train, save, evaluate and compare probabilistic models of MNIST (VAE, ConvVAE, PPCA,\n"
                   "GMM); Gaussian processes and Bayesian optimisation on the study's problem.\n\nexamples:\n"
                   + __doc__.split("::")[1].strip("\n").rstrip())
    parser = argparse.ArgumentParser(prog="pyroml", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("train", help="train one density model on MNIST, evaluate it, save it",
                       description="Train MODEL on MNIST with its default settings (override them with the flags),\n"
                                   "checkpointing every epoch to OUT/checkpoint.pt; then evaluate it on the test set\n"
                                   "and write OUT/metrics.json, OUT/model.pt and the figures. --resume continues an\n"
                                   "interrupted run on the same trajectory.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n"
                              "  pyroml train vae --out runs/vae               # the study's settings, ~5 min\n"
                              "  pyroml train gmm --components 20 --out runs/gmm20\n"
                              "  pyroml train vae --epochs 40 --resume --out runs/vae   # 15 more epochs\n"
                              "  pyroml train ppca --subset 2000 --epochs 1    # a quick try")
    from pyroml.models import MODELS
    p.add_argument("model", choices=sorted(MODELS), help="which model (cvae = convvae, the study's name)")
    p.add_argument("--latent-dim", type=int, default=None, help="latent dimension (vae, convvae, ppca)")
    p.add_argument("--components", type=int, default=None, help="mixture components K (gmm)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt when it exists")
    add_common_args(p)
    p.set_defaults(func=_cmd_train, epochs_from_model=True)

    p = sub.add_parser("evaluate", help="score a saved model (model.pt) on the MNIST test set",
                       description="Rebuild a model saved by `pyroml train` (or pyroml.save) without its training "
                                   "code, evaluate it on the MNIST test set (ELBO, log-likelihood, MSE, latents) and "
                                   "write metrics.json and figures.",
                       epilog="example: pyroml evaluate runs/vae/model.pt --iwae-k 1000")
    p.add_argument("checkpoint", help="path of a model.pt")
    add_data_args(p)
    p.add_argument("--out", default=None, help="output folder (default: next to the checkpoint, evaluation/)")
    p.add_argument("--iwae-k", type=int, default=100, help="importance samples for the bound (default 100)")
    p.add_argument("--subset", type=int, default=None, help="evaluate on a random subset of the test set")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    p.set_defaults(func=_cmd_evaluate)

    p = sub.add_parser("compare", help="the study's Table 1 and Figures 1-4 (trains or loads all models)",
                       description="Train (or load from OUT) the VAE, ConvVAE, PPCA, GMM and a continuous-Bernoulli "
                                   "VAE on MNIST with their default settings; write Table 1 (table.md, table.csv, "
                                   "table.json) with the study's numbers converted to the same units and a fair "
                                   "bits-per-dimension column, and Figures 1-4 as PNG.",
                       formatter_class=argparse.RawDescriptionHelpFormatter,
                       epilog="examples:\n"
                              "  pyroml compare --quick                     # under a minute: runs/compare-quick/\n"
                              "  pyroml compare --data-dir ../shared/data   # the full run (about 20 min on 2 cores)\n"
                              "  pyroml compare --models vae ppca --retrain # retrain two rows")
    add_data_args(p)
    p.add_argument("--out", default=None,
                   help="output folder (default runs/compare, or runs/compare-quick with --quick)")
    p.add_argument("--quick", action="store_true",
                   help="one epoch on 2000 training / 1000 test images, K<=10: under a minute")
    p.add_argument("--retrain", action="store_true",
                   help="train even when OUT/<model>/model.pt exists with the same settings (else it is loaded)")
    p.add_argument("--models", nargs="+", default=None, choices=["vae", "convvae", "ppca", "gmm", "vae_cb"],
                   help="only these rows")
    p.add_argument("--iwae-k", type=int, default=100, help="importance samples for the VAEs' bound (default 100)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=_cmd_compare)

    for name, helptext, func in (("gp", "GP with a hyperparameter posterior by NUTS on the study's problem", _cmd_gp),
                                 ("bo", "Bayesian optimisation of the study's function", _cmd_bo)):
        try:
            module = __import__(f"pyroml.{name}", fromlist=["add_cli_args"])
        except ImportError:
            continue
        p = sub.add_parser(name, help=helptext, description=module.__doc__.split("\n\n")[0],
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_cli_args(p)
        p.set_defaults(func=func)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``pyroml`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CLIError, FileNotFoundError) as e:
        print(f"pyroml {args.command}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"pyroml {args.command}: interrupted; the last checkpoint is intact", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
