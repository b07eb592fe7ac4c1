import torch
from hypothesis import given, strategies as st

import pyroml


@given(k=st.integers(1, 5), n=st.integers(1, 7))
def test_gmm_decode_takes_indices_or_one_hot(k, n):
    m = pyroml.GMM(n_components=k)
    idx = torch.randint(k, (n,))
    by_index = m.decode(idx)
    assert by_index.shape == (n, 1, 28, 28)
    assert torch.allclose(by_index, m.decode(torch.nn.functional.one_hot(idx, k).float()))
    assert torch.equal(by_index.reshape(n, -1), m.means.detach()[idx])
