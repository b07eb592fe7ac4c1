import json

import pytest

from pyroml.cli import main


def test_gp_and_bo_commands(tmp_path):
    assert main(["gp", "--num-samples", "30", "--warmup", "30", "--chains", "2", "--out", str(tmp_path / "gp")]) == 0
    metrics = json.loads((tmp_path / "gp" / "metrics.json").read_text())
    assert (tmp_path / "gp" / "gp_predictive.png").exists()
    # a count of the kept draws' divergences (2 chains x 30), and a posterior that interpolates the data
    assert isinstance(metrics["divergences"], int) and metrics["divergences"] <= 2 * 30
    assert metrics["max_abs_error_at_data"] < 1e-3 and metrics["max_predictive_var_at_data"] < 3 * metrics["noise"]
    assert all(metrics[f"{h}_r_hat"] > 0.9 and metrics[f"{h}_ess"] > 1 for h in ("lengthscale", "variance"))
    assert main(["bo", "--iterations", "2", "--out", str(tmp_path / "bo")]) == 0
    assert json.loads((tmp_path / "bo" / "metrics.json").read_text())["evaluations"] == 7
    assert (tmp_path / "bo" / "bo_iterations.png").exists() and (tmp_path / "bo" / "result.json").exists()


def _study_with(objective):
    """The study's problem with its objective replaced."""
    from pyroml.studies import gp_problem
    problem = gp_problem.study_problem()
    return lambda: gp_problem.StudyProblem(objective, *problem[1:])


def test_bo_interrupted_writes_the_partial_result(tmp_path, monkeypatch, capsys):
    from pyroml.studies import gp_problem
    real, calls = gp_problem.study_problem().f, []

    def f(x):
        calls.append(x)
        if len(calls) == 3:                     # the design, one round, then Ctrl-C in the second
            raise KeyboardInterrupt
        return real(x)
    monkeypatch.setattr(gp_problem, "study_problem", _study_with(f))
    assert main(["bo", "--iterations", "4", "--out", str(tmp_path)]) == 130
    result = json.loads((tmp_path / "result.json").read_text())
    assert result["partial"] and len(result["Y"]) == 6 and result["failures"][-1]["error"] == "KeyboardInterrupt"
    assert result["y_best"] == min(result["Y"])
    assert "interrupted after 6 of 9 evaluations; the partial result" in capsys.readouterr().err


def test_bo_objective_failure_says_it_stopped_early(tmp_path, monkeypatch, capsys):
    from pyroml.studies import gp_problem
    real, calls = gp_problem.study_problem().f, []

    def f(x):
        calls.append(x)
        return real(x) * (float("nan") if len(calls) == 3 else 1.0)
    monkeypatch.setattr(gp_problem, "study_problem", _study_with(f))
    assert main(["bo", "--iterations", "4", "--out", str(tmp_path)]) == 1
    assert len(json.loads((tmp_path / "result.json").read_text())["Y"]) == 6
    assert "stopped early, after 6 of 9 evaluations" in capsys.readouterr().err


def test_gp_interrupted_writes_the_draws_so_far(tmp_path, monkeypatch, capsys):
    """Ctrl-C late in the second of two chains: ``pyroml gp`` writes the first chain and the kept
    draws of the second to metrics.json ("partial": true), says so in one line, exits 130."""
    import pyroml.gp.potential as potential_module
    from pyroml.studies.gp_problem import study_gp, study_problem
    real, count = potential_module.ClosedFormPotential.__call__, [0]

    def counted(self, theta):
        count[0] += 1
        if count[0] == stop[0]:
            raise KeyboardInterrupt
        return real(self, theta)
    stop = [-1]
    monkeypatch.setattr(potential_module.ClosedFormPotential, "__call__", counted)
    p = study_problem()
    study_gp(p.X, p.f(p.X).reshape(-1)).sample_posterior(30, 30, 2, seed=0, target_accept_prob=0.9)
    stop[0], count[0] = count[0] - 10, 0                        # the same run, interrupted near its end
    assert main(["gp", "--num-samples", "30", "--warmup", "30", "--chains", "2", "--out", str(tmp_path)]) == 130
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["partial"] and metrics["completed_chains"] == 1 and 30 < metrics["draws"] < 60
    assert len(metrics["samples"]["lengthscale"]) == metrics["draws"] and "lengthscale_mean" in metrics
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "interrupted after 1 of 2 chains" in err[0] and "(partial)" in err[0]
    assert not list(tmp_path.glob("*.tmp*"))                    # written atomically: no temporary file left


def test_gp_command_takes_a_kernel_sum(tmp_path, capsys):
    assert main(["gp", "--num-samples", "10", "--warmup", "10", "--chains", "1", "--kernel", "rbf + periodic",
                 "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["kernel"] == "rbf+periodic" and "periodic.period_mean" in metrics
    with pytest.raises(SystemExit) as info:
        main(["gp", "--kernel", "rbf+cosine", "--out", str(tmp_path)])
    assert info.value.code == 2 and "unknown kernel 'cosine'" in capsys.readouterr().err
