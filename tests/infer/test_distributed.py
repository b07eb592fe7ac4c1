"""Several processes through Lightning Fabric (issue 13, item 3): two CPU processes (gloo) give the
parameters of one process at the same global batch and seed; Fabric's flags are checked first."""

import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pyroml
from pyroml.infer.distributed import fabric_flags
from tests.conftest import mnist_images

ROOT = Path(__file__).resolve().parents[2]


def run_script(out, mode):
    res = subprocess.run([sys.executable, "-m", "tests.infer.ddp_script", str(out), mode], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return torch.load(out, weights_only=False)


def test_two_processes_give_the_parameters_of_one(tmp_path):
    one, ddp = run_script(tmp_path / "one.pt", "one"), run_script(tmp_path / "ddp.pt", "ddp")
    for name in ("toy", "gmm"):
        for key, value in one[name]["state"].items():
            assert torch.allclose(value.float(), ddp[name]["state"][key].float(), atol=1e-5), (name, key)
        assert ddp[name]["step_loss"] == pytest.approx(one[name]["step_loss"], rel=1e-5)
        assert len(ddp[name]["step_loss"]) == 12  # 4 global batches of 16 (16, 16, 16, 2) per epoch
    assert (tmp_path / "ddp.pt.gmm.pt").exists()  # rank 0 wrote the checkpoint


def test_plain_flags_keep_the_plain_engine():
    assert fabric_flags("auto", 1, "auto", "32-true", 1) is None
    assert fabric_flags("cpu", 1, "auto", "32-true", 1) is None
    assert fabric_flags("cpu", 2, "ddp", "32-true", 1)["devices"] == 2


@pytest.mark.parametrize("flags, match", [
    ({"accelerator": "cpu", "devices": 10_000, "strategy": "ddp"}, "cores"),
    ({"accelerator": "cuda", "devices": 10_000}, "CUDA"),
    ({"devices": 0}, "devices"),
    ({"num_nodes": 0}, "num_nodes"),
])
def test_bad_flags_fail_before_any_work(flags, match):
    m = pyroml.VAE(hidden=(8,))
    with pytest.raises(ValueError, match=match):
        pyroml.fit(m, mnist_images(8), epochs=1, progress=False, **flags)
    assert m._event_shape is None
