"""Streamed training and evaluation (issue 13, item 1): torch datasets, iterable datasets and data
loaders give the in-memory path's losses, and bad sources fail before any work."""

import math

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import pyroml
from pyroml.data import Dataset, write_memmap
from tests.conftest import MNIST_SHAPE, mnist_images


class Items(torch.utils.data.Dataset):
    """A plain map-style dataset over tensors (items read one by one and collated)."""

    def __init__(self, x, y=None):
        self.x, self.y = x, y

    def __len__(self):
        return self.x.shape[0]

    def __getitem__(self, i):
        return self.x[i] if self.y is None else (self.x[i], self.y[i])


class Stream(IterableDataset):
    def __init__(self, x):
        self.x, self.iterations = x, 0

    def __iter__(self):
        self.iterations += 1
        return iter(self.x)


def small_vae():
    return pyroml.VAE(hidden=(16,))


def losses(data, model_fn=small_vae, **kw):
    torch.manual_seed(0)
    return pyroml.fit(model_fn(), data, epochs=2, batch_size=16, seed=3, progress=False, **kw).step_loss


@pytest.fixture(scope="module")
def x():
    return mnist_images(50)


def test_streamed_sources_give_the_in_memory_losses(x, tmp_path):
    y = torch.arange(50) % 10
    ref = losses(x)
    assert len(ref) == 8
    assert losses(Items(x)) == ref
    assert losses(Items(x, y)) == ref
    assert losses(TensorDataset(x, y)) == ref
    assert losses(write_memmap(Dataset(x, y), tmp_path / "x.npy")) == ref


def test_streamed_gmm_initialises_as_in_memory(x):
    gmm = lambda: pyroml.GMM(n_components=3)  # noqa: E731 - k-means++ from the streamed examples
    assert losses(Items(x), gmm) == losses(x, gmm)


def test_streamed_validation_and_resume_match(x, tmp_path):
    torch.manual_seed(0)
    a = pyroml.fit(small_vae(), x[:40], epochs=2, batch_size=16, validation=x[40:], progress=False)
    torch.manual_seed(0)
    m = small_vae()
    ck = str(tmp_path / "ck.pt")
    pyroml.fit(m, Items(x[:40]), epochs=1, batch_size=16, validation=Items(x[40:]), progress=False, checkpoint=ck)
    b = pyroml.fit(m, Items(x[:40]), epochs=2, batch_size=16, validation=Items(x[40:]), progress=False,
                   checkpoint=ck, resume=True)
    assert b.step_loss == a.step_loss and b.val_elbo == a.val_elbo


def test_loaders_with_workers_train(x):
    h = pyroml.fit(small_vae(), Items(x), epochs=1, batch_size=16, num_workers=2, progress=False)
    assert len(h.step_loss) == 4 and all(math.isfinite(v) for v in h.step_loss)
    loader = DataLoader(Items(x), batch_size=10, shuffle=True, num_workers=1)
    h = pyroml.fit(small_vae(), loader, epochs=1, progress=False)
    assert len(h.step_loss) == 5 and math.isfinite(h.train_elbo[0])


def test_iterable_dataset_with_num_examples(x):
    h = pyroml.fit(small_vae(), Stream(x), num_examples=50, epochs=2, batch_size=16, progress=False)
    assert len(h.step_loss) == 8 and all(math.isfinite(v) for v in h.train_elbo)
    # the N/B scaling takes N from num_examples and B from each batch (16, 16, 16, 2): as a loader of
    # a map-style dataset in the same order, whose N is its length
    in_order = DataLoader(Items(x), batch_size=16, generator=torch.Generator())
    assert losses(Stream(x), num_examples=50) == losses(in_order)


def test_evaluate_streams_give_the_in_memory_report(x):
    torch.manual_seed(0)
    m = small_vae()
    pyroml.fit(m, x, epochs=1, batch_size=16, progress=False)
    y = torch.arange(50) % 10
    a = pyroml.evaluate(m, Dataset(x, y), iwae_k=5, batch_size=16)
    b = pyroml.evaluate(m, Items(x, y), iwae_k=5, batch_size=16)
    assert (b.n, b.elbo, b.mse, b.mse_sample) == (a.n, a.elbo, a.mse, a.mse_sample)
    assert torch.equal(a.latents, b.latents) and torch.equal(b.labels, y)
    assert abs(a.log_likelihood - b.log_likelihood) < 5
    c = pyroml.evaluate(m, Stream(x), num_examples=50, iwae_k=None, batch_size=16)
    assert c.n == 50 and c.elbo == a.elbo and c.labels is None


class Strings(torch.utils.data.Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        return {"image": torch.zeros(3)}


@pytest.mark.parametrize("make, error, match", [
    (lambda x: Stream(x), ValueError, "num_examples"),
    (lambda x: Strings(), TypeError, "dict"),
    (lambda x: DataLoader(Items(x), batch_size=8, collate_fn=lambda b: {"x": torch.stack(b)}), TypeError, "dict"),
    (lambda x: Items(x[:0]), ValueError, "empty"),
])
def test_bad_sources_fail_before_any_work(x, make, error, match):
    m = small_vae()
    data = make(x)
    with pytest.raises(error, match=match):
        pyroml.fit(m, data, epochs=1, progress=False)
    assert m._event_shape is None  # nothing was built from the data
    if isinstance(data, Stream):
        assert data.iterations == 0
        with pytest.raises(ValueError, match="num_examples"):
            pyroml.evaluate(pyroml.VAE(hidden=(8,), event_shape=MNIST_SHAPE), data)


def test_num_examples_is_checked(x):
    with pytest.raises(ValueError, match="num_examples"):
        pyroml.fit(small_vae(), x, num_examples=50, epochs=1, progress=False)
    with pytest.raises(ValueError, match="has 50 examples"):
        pyroml.fit(small_vae(), Items(x), num_examples=40, epochs=1, progress=False)
