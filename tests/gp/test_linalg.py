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
