"""The mini-batch scaling messenger.

For a mini-batch of :math:`B` of :math:`N` examples, every sample site inside
``pyro.plate("data")`` is scaled by :math:`N / B` and global sites are not, so that

.. math::

    \\hat L = -\\Big[\\tfrac{N}{B} \\sum_{n \\in \\text{batch}}
        \\mathbb{E}_{q(z_n \\mid x_n)} \\log \\frac{p(x_n, z_n)}{q(z_n \\mid x_n)}
        + (\\text{global terms})\\Big]

is an unbiased estimate of the full-data negative ELBO, whatever the source of the batches.
"""

from __future__ import annotations

from typing import Any

from pyro.poutine.messenger import Messenger

__all__ = ["DataScale"]


class DataScale(Messenger):
    """Scale the log-density of every sample site inside ``pyro.plate(plate)`` by ``scale``.

    :param float scale: :math:`N / B` for a mini-batch of B of N examples; global sites keep scale 1.
    :param str plate: the name of the examples' plate (``"data"`` in every pyroml model).
    """

    def __init__(self, scale: float = 1.0, plate: str = "data"):
        super().__init__()
        self.scale = scale
        self.plate = plate

    def _process_message(self, msg: Any) -> None:
        if self.scale != 1.0 and any(f.name == self.plate for f in msg["cond_indep_stack"]):
            msg["scale"] = self.scale * msg["scale"]
