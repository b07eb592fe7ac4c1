"""Tests written for mutants of ``pyroml.bo`` that survived the suite (``.ci/mutation --sample 12 bo``):
the ``ucb`` alias, the float64 priors of the MAP fit, each argument check naming its argument,
and where the constant mean is fitted."""

import pytest
import torch

from pyroml import bo
from pyroml.bo.acquisition import LowerConfidenceBound, make_acquisition
from pyroml.bo.fit import map_priors
from pyroml.gp import GP

BOX = torch.tensor([[0.0], [1.0]], dtype=torch.float64)


def f(x):
    return torch.sin(6 * x[:, 0])


@pytest.mark.parametrize("method", ["lcb", "ucb"])
def test_ucb_is_an_alias_of_the_lower_confidence_bound(method):
    X = torch.linspace(0, 1, 5, dtype=torch.float64)[:, None]
    model = GP(X, f(X))
    post = model.map_estimate(restarts=1)
    acq = make_acquisition(method, model, post.samples, float(f(X).min()), kappa=3.0)
    assert isinstance(acq, LowerConfidenceBound) and acq.kappa == 3.0


def test_the_map_fit_priors_are_float64():
    kernel_priors, noise = map_priors(2)
    for name, prior in [*kernel_priors.items(), ("noise", noise)]:
        assert prior.loc.dtype == torch.float64 and prior.scale.dtype == torch.float64, name


def test_a_bad_batch_size_is_refused_before_the_objective_runs():
    calls = []

    def counted(x):
        calls.append(x.shape[0])
        return f(x)

    with pytest.raises(ValueError, match="q must be an integer >= 1"):
        bo.minimize(counted, BOX, iterations=1, q=0)
    assert calls == []


@pytest.mark.parametrize("call, match", [
    (lambda: bo.random_search(f, BOX, iterations=1, seed=-1), "seed must be an integer >= 0"),
    (lambda: bo.BayesOpt(BOX, method="lcb", kappa=-1.0), "kappa must be a finite number >= 0"),
])
def test_each_check_names_its_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_the_constant_mean_is_fitted_with_map_hyperparameters_only():
    assert bo.BayesOpt(BOX).constant_mean is True
    assert bo.BayesOpt(BOX, hyperparameters="nuts").constant_mean is False
    assert bo.BayesOpt(BOX, constant_mean=False).constant_mean is False
