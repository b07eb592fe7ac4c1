import pytest
import torch

from pyroml.gp import GP, pivoted_cholesky
from tests.gp.helpers import data, hypers_at


@pytest.mark.parametrize("kernel", ["rbf", "periodic", "matern52"])
def test_pivoted_cholesky_reconstructs_the_conditional_covariance(kernel):
    X, y = data()
    gp = GP(X, y, kernel=kernel)
    hypers = hypers_at(gp, 0.4)
    Xs = torch.linspace(-1, 1, 120, dtype=torch.float64)
    _, C, _ = gp.conditional(Xs, hypers, full_cov=True)
    C = C[0]
    out = pivoted_cholesky(C.diagonal().clamp_min(0), lambda j: C[:, j], 1e-10 * 0.4, 120)
    assert out is not None
    L, d = out
    assert (d <= 1e-10 * 0.4).all() and (L.shape[1] < 60 or kernel == "matern52")  # smooth kernels: low rank
    assert torch.allclose(L @ L.T + torch.diag(d), C, atol=1e-9)
    assert pivoted_cholesky(C.diagonal(), lambda j: C[:, j], 1e-30, 3) is None       # rank cap: not reached


def test_jittered_cholesky_adds_the_least_jitter_that_factorises_the_whole_batch():
    from pyroml.gp.linalg import jittered_cholesky
    X = torch.tensor([[0.0], [0.5], [0.5], [1.0]], dtype=torch.float64)          # a repeated input: singular
    K = torch.exp(-0.5 * (X - X.T) ** 2 / 0.3 ** 2)
    good = torch.eye(4, dtype=torch.float64)
    scale = torch.tensor([2.0, 1.0], dtype=torch.float64)
    L = jittered_cholesky(torch.stack([K, good]), scale)
    assert L.shape == (2, 4, 4) and torch.equal(L, L.tril())
    eps = float((L[1] @ L[1].T - good).diagonal().mean()) / 1.0                   # the jitter the batch needed
    assert 0 < eps <= 1e-6 and torch.allclose(L[0] @ L[0].T, K + 2 * eps * torch.eye(4, dtype=torch.float64))
    assert torch.equal(jittered_cholesky(good[None], scale[:1]), torch.eye(4, dtype=torch.float64)[None]
                       * (1 + 2e-10) ** 0.5)                                     # the smallest jitter when that does
    with pytest.raises(RuntimeError, match="not positive definite"):
        jittered_cholesky(-good[None], scale[:1])
