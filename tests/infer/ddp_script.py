"""Trains small models in one process or, with ``ddp``, in two CPU processes (gloo) through
Fabric, and saves rank 0's parameters and losses: ``python -m tests.infer.ddp_script OUT {one,ddp}``.
Run as a script (Fabric's ``ddp`` launcher runs this same command again for rank 1)."""

import sys

import torch

import pyroml
from tests.infer.toys import Toy


def main(out: str, mode: str) -> None:
    torch.set_num_threads(1)
    flags = {"accelerator": "cpu", "devices": 2, "strategy": "ddp"} if mode == "ddp" else {}
    g = torch.Generator().manual_seed(0)
    x = torch.randn(50, 3, generator=g) + 2.0
    images = torch.rand(50, 1, 4, 4, generator=g)
    result = {}
    for name, model, data in (("toy", Toy(), x), ("gmm", pyroml.GMM(n_components=3), images)):
        torch.manual_seed(0)
        h = pyroml.fit(model, data, epochs=3, batch_size=16, lr=0.05, seed=1, progress=False,
                       checkpoint=f"{out}.{name}.pt" if name == "gmm" else None, **flags)
        result[name] = {"state": {k: v.detach().clone() for k, v in model.state_dict().items()},
                        "step_loss": h.step_loss, "train_elbo": h.train_elbo}
    import torch.distributed as dist
    if not dist.is_initialized() or dist.get_rank() == 0:
        torch.save(result, out)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
