"""The whole path on a CUDA device (issue 13, item 5): training, evaluation with the IWAE bound,
figures from GPU tensors, checkpoints saved on the GPU and loaded on the CPU, and Fabric's
``accelerator="cuda"``. Skipped on machines without CUDA (CI's); run them on a GPU machine with
``python -m pytest tests/infer/test_gpu.py``."""

import pytest
import torch

import pyroml
from pyroml import plots
from tests.conftest import mnist_images

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")

MODELS = {
    "vae": lambda: pyroml.VAE(hidden=(64,), decoder_hidden=(64,)),
    "convvae": lambda: pyroml.ConvVAE(channels=(8, 16), hidden=32),
    "ppca": lambda: pyroml.PPCA(latent_dim=4),
    "gmm": lambda: pyroml.GMM(n_components=3),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_train_evaluate_plot_and_checkpoint_on_cuda(name, tmp_path):
    x = pyroml.data.from_arrays(mnist_images(512), torch.randint(10, (512,)))
    model = MODELS[name]()
    history = pyroml.fit(model, x, epochs=2, batch_size=64, device="cuda", progress=False,
                         checkpoint=str(tmp_path / "ckpt.pt"))
    assert model.device.type == "cuda"
    assert all(v == v for v in history.step_loss)  # finite, not NaN
    report = pyroml.evaluate(model, x, iwae_k=10)
    assert report.latents.device.type == "cpu" and report.latents.shape[0] == 512
    if not model.has_exact_log_likelihood:
        assert report.log_likelihood >= report.elbo - 1.0  # IWAE >= ELBO up to Monte Carlo noise
    plots.save_figures(plots.model_figures(model, x, report, history), tmp_path)
    assert (tmp_path / "training_curve.png").exists()
    pyroml.save(model, tmp_path / "model.pt", history)
    loaded = pyroml.load(tmp_path / "model.pt", device="cpu")
    for (k, a), b in zip(model.state_dict().items(), loaded.state_dict().values()):
        assert b.device.type == "cpu"
        assert torch.equal(a.cpu(), b), k


def test_gpu_and_cpu_give_the_same_elbo_for_the_same_parameters():
    x = mnist_images(256)
    model = pyroml.GMM(n_components=3)  # exact: no Monte Carlo noise between devices
    pyroml.fit(model, x, epochs=1, batch_size=64, progress=False)
    cpu = pyroml.evaluate(model, x, iwae_k=None).elbo
    gpu = pyroml.evaluate(model.to("cuda"), x, iwae_k=None).elbo
    assert gpu == pytest.approx(cpu, rel=1e-4)


def test_fabric_cuda_accelerator_and_mixed_precision():
    x = mnist_images(512)
    model = pyroml.VAE(hidden=(64,), decoder_hidden=(64,))
    h = pyroml.fit(model, x, epochs=2, batch_size=64, accelerator="cuda", devices=1, precision="bf16-mixed",
                   progress=False)
    assert len(h.train_elbo) == 2 and h.train_elbo[-1] > h.train_elbo[0]


def test_streamed_dataset_pins_memory_on_cuda():
    ds = torch.utils.data.TensorDataset(mnist_images(300))
    model = pyroml.VAE(hidden=(32,), decoder_hidden=(32,))
    h = pyroml.fit(model, ds, epochs=1, batch_size=64, device="cuda", num_workers=2, progress=False)
    assert len(h.step_loss) == 5
