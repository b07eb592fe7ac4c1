"""The ``pyroml`` command line (also ``python -m pyroml``).

::

    pyroml train vae --epochs 25 --out runs/vae        # train, evaluate, write metrics, model, figures
    pyroml train gmm --resume --out runs/gmm           # continue an interrupted run from its checkpoint
    pyroml evaluate runs/vae/model.pt                  # rebuild a saved model and score it
    pyroml compare                                     # the study's Table 1 and Figures 1-4
    pyroml compare --quick                             # the same pipeline on a subset, under a minute
    pyroml gp                                          # GP hyperparameter posterior by NUTS on the study's problem
    pyroml bo                                          # Bayesian optimisation of the study's function

Each command is a module of this package with ``register(subparsers)`` and ``run(args)``; all
argparse lives here, none in the library.
"""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from pyroml.cli import bo, compare, evaluate, gp, train
from pyroml.cli.common import CLIError

__all__ = ["main", "build_parser", "CLIError"]

EPILOG = "Every command takes --help. Data: --data-dir, else $PYROML_DATA_DIR, else ./data."
COMMANDS = (train, evaluate, compare, gp, bo)


def build_parser() -> argparse.ArgumentParser:
    """The ``pyroml`` argument parser with its subcommands."""
    description = ("Train, save, evaluate and compare probabilistic models of any data set (VAE, ConvVAE, PPCA,\n"
                   "GMM; MNIST by default); Gaussian processes and Bayesian optimisation on the study's problem.\n\n"
                   "examples:\n"
                   + (__doc__ or "").split("::")[1].split("\n\n")[1].rstrip())
    parser = argparse.ArgumentParser(prog="pyroml", description=description,
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EPILOG)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for command in COMMANDS:
        command.register(sub)
    return parser


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())


def main(argv: Optional[List[str]] = None) -> int:
    """Entry point of the ``pyroml`` console script."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (CLIError, FileNotFoundError, NotADirectoryError, ValueError, ConnectionError) as e:
        # a user error (bad flags, data, files): one line, no traceback
        print(f"pyroml {args.command}: {_one_line(e)}", file=sys.stderr)
        return 2
    except FloatingPointError as e:  # training diverged: the message says where and what to change
        print(f"pyroml {args.command}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"pyroml {args.command}: interrupted; the last checkpoint is intact", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
