import json

from pyroml.cli import main


def test_gp_and_bo_commands(tmp_path):
    assert main(["gp", "--num-samples", "30", "--warmup", "30", "--chains", "2", "--out", str(tmp_path / "gp")]) == 0
    metrics = json.loads((tmp_path / "gp" / "metrics.json").read_text())
    assert metrics["divergences"] >= 0 and (tmp_path / "gp" / "gp_predictive.png").exists()
    assert main(["bo", "--iterations", "2", "--out", str(tmp_path / "bo")]) == 0
    assert json.loads((tmp_path / "bo" / "metrics.json").read_text())["evaluations"] == 7
    assert (tmp_path / "bo" / "bo_iterations.png").exists() and (tmp_path / "bo" / "result.json").exists()
