"""The divergence guard, argument ranges and resumes with changed settings."""

import pyro
import pyro.distributions as dist
import pytest
import torch

import pyroml
from pyroml.io import read_checkpoint, register_model
from pyroml.models.base import DensityModel


@register_model("test-nan-gradient")
class NaNGradient(DensityModel):
    """A finite loss whose gradient turns NaN after `bad_after` calls (sqrt at 0 times 0)."""

    def __init__(self, bad_after: int = 10**9):
        super().__init__(event_shape=(3,))
        self.bad_after, self.calls = bad_after, 0
        self.mu = torch.nn.Parameter(torch.zeros(3))
        self.w = torch.nn.Parameter(torch.ones(3))

    def model(self, x):
        self.calls += 1
        w = self.w - self.w.detach() if self.calls > self.bad_after else self.w
        loc = self.mu + 0.0 * torch.sqrt(w)          # finite value; d/dw = 0 * inf = NaN at w = 0
        with pyro.plate("data", x.shape[0], dim=-1):
            pyro.sample("x", dist.Normal(loc, 1.0).to_event(1), obs=x)

    def guide(self, x):
        pass


def test_nan_gradient_with_finite_loss_stops_without_applying_the_step(tmp_path):
    m = NaNGradient(bad_after=5)
    ck = tmp_path / "ck.pt"
    x = torch.randn(12, 3) + 1.0
    with pytest.raises(FloatingPointError, match=r"gradient norm became nan at epoch 2, step 3"):
        pyroml.fit(m, x, epochs=3, batch_size=4, lr=0.1, progress=False, checkpoint=str(ck))
    assert torch.isfinite(m.mu).all() and torch.isfinite(m.w).all() and m.mu.abs().sum() > 0
    saved = read_checkpoint(ck)                       # the epoch-1 checkpoint, finite and untouched
    assert saved["epoch"] == 1 and all(torch.isfinite(v).all() for v in saved["state_dict"].values())


def test_nan_gradient_is_caught_with_clip_norm_too():
    with pytest.raises(FloatingPointError, match="gradient norm"):
        pyroml.fit(NaNGradient(bad_after=0), torch.randn(8, 3), epochs=1, batch_size=4, clip_norm=1.0,
                   progress=False)


@pytest.mark.parametrize("kwargs, match", [
    ({"clip_norm": -1.0}, "clip_norm"), ({"clip_norm": 0.0}, "clip_norm"),
    ({"final_lr_fraction": -0.5}, "final_lr_fraction"), ({"final_lr_fraction": 2.0}, "final_lr_fraction"),
    ({"lr": float("inf")}, "lr"), ({"lr": -1e-3}, "lr"), ({"seed": -1}, "seed"), ({"seed": 1.5}, "seed"),
    ({"device": "cuda:7"}, "not available"), ({"device": "nonsense"}, "device"),
    ({"epochs": -1}, "epochs"), ({"batch_size": 0}, "batch_size"), ({"num_particles": 0}, "num_particles"),
    ({"lr_schedule": "linear"}, "lr_schedule"),
])
def test_bad_arguments_are_refused_before_any_work(kwargs, match):
    m = NaNGradient()
    before = [p.detach().clone() for p in m.parameters()]
    with pytest.raises(ValueError, match=match):
        pyroml.fit(m, torch.randn(8, 3), epochs=kwargs.pop("epochs", 1), progress=False, **kwargs)
    assert m.calls == 0 and all(torch.equal(a, b) for a, b in zip(before, m.parameters()))


def test_resume_with_other_settings_is_refused_and_with_more_epochs_continues(tmp_path):
    x, ck = torch.randn(16, 3), str(tmp_path / "ck.pt")
    pyroml.fit(NaNGradient(), x, epochs=1, batch_size=8, lr=0.01, progress=False, checkpoint=ck)
    with pytest.raises(ValueError, match=r"lr=0.01 \(now 0.05\)"):
        pyroml.fit(NaNGradient(), x, epochs=2, batch_size=8, lr=0.05, progress=False, checkpoint=ck, resume=True)
    with pytest.raises(ValueError, match="batch_size"):
        pyroml.fit(NaNGradient(), x, epochs=2, batch_size=4, lr=0.01, progress=False, checkpoint=ck, resume=True)
    h = pyroml.fit(NaNGradient(), x, epochs=2, batch_size=8, lr=0.01, progress=False, checkpoint=ck, resume=True)
    assert len(h.train_elbo) == 2
