import json

import pytest

import pyroml
from pyroml.cli import main
from pyroml.studies import comparison as cmp


def test_study_numbers_are_converted_to_unit_pixels():
    assert pytest.approx(4344.35, abs=0.01) == cmp.SHIFT_255
    assert cmp._study_on_unit_scale("PPCA")["study_log_likelihood"] == pytest.approx(14.36)
    assert cmp._study_on_unit_scale("GMM")["study_log_likelihood"] == pytest.approx(-1.07e7 + 4344.35, abs=0.01)
    vae = cmp._study_on_unit_scale("VAE")
    assert vae == {"study_elbo": -142.8, "study_log_likelihood": None, "study_mse": 0.0375}


def test_compare_quick_writes_table_and_figures(tiny_mnist, tmp_path):
    out = tmp_path / "cmp"
    args = ["compare", "--quick", "--data-dir", str(tiny_mnist), "--no-download", "--no-progress", "--out", str(out)]
    assert main(args) == 0
    for f in ("table.md", "table.csv", "table.json", "fig1_reconstructions.png", "fig2_latent_grids.png",
              "fig3_latent_scatter.png", "fig4_posterior_samples.png"):
        assert (out / f).exists(), f
    rows = {r["model"]: r for r in json.loads((out / "table.json").read_text())["rows"]}
    assert set(rows) == {"VAE", "ConvVAE", "PPCA", "GMM", "VAE (continuous Bernoulli)"}
    assert rows["PPCA"]["fair_method"] == "exact" and rows["VAE"]["bits_per_dim"] is None
    assert rows["VAE (continuous Bernoulli)"]["bits_per_dim"] > 0
    assert rows["VAE"]["log_likelihood_method"] == "iwae" and rows["VAE"]["iwae_k"] == 10
    assert "not reported" in (out / "table.md").read_text()
    # a second run loads every model instead of training it, and keeps the training times
    assert main(args) == 0
    again = json.loads((out / "table.json").read_text())["rows"]
    assert all(r["loaded"] for r in again)
    assert [r["train_seconds"] for r in again] == [rows[r["model"]]["train_seconds"] for r in again]


def test_compare_never_reuses_a_model_trained_with_other_settings(tiny_mnist, tmp_path):
    kw = {"download": False, "progress": False, "models": ["ppca"], "echo": lambda *a: None}
    cmp.compare(str(tiny_mnist), str(tmp_path), quick=True, **kw)
    full = cmp.compare(str(tiny_mnist), str(tmp_path), quick=False, **kw)["rows"][0]
    assert not full["loaded"] and full["epochs"] == pyroml.MODELS["ppca"].fit_defaults["epochs"]
    assert cmp.compare(str(tiny_mnist), str(tmp_path), quick=False, **kw)["rows"][0]["loaded"]
    assert not cmp.compare(str(tiny_mnist), str(tmp_path), retrain=True, **kw)["rows"][0]["loaded"]
