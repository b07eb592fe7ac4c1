"""Trains small models in one process or, with ``ddp``, in two CPU processes (gloo) through
Fabric, and saves rank 0's parameters, losses and evaluation reports:
``python -m tests.infer.ddp_script OUT {one,ddp} [--crash-at K] [--resume]``.
Run as a script (Fabric's ``ddp`` launcher runs this same command again for rank 1).

``--crash-at K`` kills both processes (``os._exit``, no clean-up, as a SIGKILL would) at their
K-th optimiser step in total; ``--resume`` continues every checkpointed run from its checkpoint.
"""

import argparse
import os

import torch

import pyroml
from pyroml.infer import engine
from tests.infer.toys import Toy


class Iterable(torch.utils.data.IterableDataset):
    """The examples in a fixed order, one at a time, without a length."""

    def __init__(self, x):
        self.x = x

    def __iter__(self):
        return iter(self.x)


def crash_at(k: int) -> None:
    """Make every process exit abruptly at its ``k``-th optimiser step."""
    step, count = engine._Step.__call__, [0]

    def counted(self, *args, **kwargs):
        count[0] += 1
        if count[0] == k:
            os._exit(3)
        return step(self, *args, **kwargs)

    engine._Step.__call__ = counted


def runs(x, images):
    """``(name, model, data, checkpointed, fit kwargs)`` of each run."""
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=16)
    yield "toy", Toy(), x, False, {}
    yield "gmm", pyroml.GMM(n_components=3), images, True, {"validation": images[:25]}
    yield "vae", pyroml.VAE(hidden=(8,), decoder_hidden=(8,)), images, True, {}
    yield "loader", Toy(), loader, False, {}
    yield "iterable", Toy(), Iterable(x), False, {"num_examples": 50}


def record_communication() -> list:
    """The gradient communication each DDP set-up chose, in order (read off pyroml's strategy)."""
    from pyroml.infer.comm import SharedMemoryDDPStrategy

    chosen, setup = [], SharedMemoryDDPStrategy.setup_module

    def recorded(self, module):
        ddp = setup(self, module)
        chosen.append(self.communication)
        return ddp

    SharedMemoryDDPStrategy.setup_module = recorded
    return chosen


def main(out: str, mode: str, resume: bool) -> None:
    torch.set_num_threads(1)
    communication = record_communication()
    flags = {"accelerator": "cpu", "devices": 2, "strategy": "ddp"} if mode == "ddp" else {}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g) + 2.0
    images = torch.rand(50, 1, 4, 4, generator=g)
    result = {}
    for name, model, data, checkpointed, kwargs in runs(x, images):
        torch.manual_seed(0)
        ckpt = f"{out}.{name}.pt" if checkpointed else None
        h = pyroml.fit(model, data, epochs=3, batch_size=16, lr=0.05, seed=1, progress=False, checkpoint=ckpt,
                       resume=resume and checkpointed, **kwargs, **flags)
        result[name] = {"state": {k: v.detach().clone() for k, v in model.state_dict().items()},
                        "step_loss": h.step_loss, "train_elbo": h.train_elbo, "val_elbo": h.val_elbo}
        if name == "gmm":  # every rank scores its block; the sums are added across the ranks
            report = pyroml.evaluate(model, images, iwae_k=None)
            result[name]["report"] = {**report.to_dict(), "latents": report.latents}
    import torch.distributed as dist
    if not dist.is_initialized() or dist.get_rank() == 0:
        torch.save({**result, "communication": communication}, out)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("mode", choices=("one", "ddp"))
    p.add_argument("--crash-at", type=int, default=None)
    p.add_argument("--resume", action="store_true")
    a = p.parse_args()
    if a.crash_at:
        crash_at(a.crash_at)
    main(a.out, a.mode, a.resume)
