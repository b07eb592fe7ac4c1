"""The package's public surface (issue 11: behaviour does not change) and its import cost."""

import subprocess
import sys

import pytest

import pyroml

#: ``pyroml.__all__`` before the restructure: every name must still be there
PUBLIC = ["data", "plots", "bo", "GP", "VAE", "ConvVAE", "PPCA", "GMM", "DensityModel", "MODELS", "fit", "History",
          "evaluate", "Report", "save", "load"]
#: ``pyroml.plots.__all__`` before the restructure
PLOTS = ["reconstructions", "latent_grid", "latent_scatter", "training_curve", "image_grid", "panels",
         "gp_figures", "bo_figures"]
#: ``pyroml.bo.__all__`` before the restructure
BO = ["minimize", "BOResult", "log_expected_improvement", "random_search"]


def test_import_pyroml_does_not_load_matplotlib():
    code = "import pyroml, sys; assert 'matplotlib' not in sys.modules, 'import pyroml loaded matplotlib'"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_exist(name):
    assert hasattr(pyroml, name), f"pyroml.{name} is gone"
    assert name in pyroml.__all__


def test_public_models_and_functions_are_what_they_were():
    for cls in (pyroml.VAE, pyroml.ConvVAE, pyroml.PPCA, pyroml.GMM):
        assert issubclass(cls, pyroml.DensityModel)
    assert isinstance(pyroml.GP, type)
    for f in (pyroml.fit, pyroml.evaluate, pyroml.save, pyroml.load, pyroml.data.load_mnist, pyroml.bo.minimize):
        assert callable(f)


@pytest.mark.parametrize("name", PLOTS)
def test_plots_names_exist(name):
    assert callable(getattr(pyroml.plots, name, None)), f"pyroml.plots.{name} is gone"


@pytest.mark.parametrize("name", BO)
def test_bo_names_exist(name):
    assert hasattr(pyroml.bo, name), f"pyroml.bo.{name} is gone"


def test_modules_and_functions_stay_small():
    """The architecture's size limits: no module over 400 lines, no function over 80."""
    import ast
    from pathlib import Path

    root = Path(pyroml.__file__).resolve().parent
    too_big = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text()
        if len(source.splitlines()) > 400:
            too_big.append(f"{path.relative_to(root)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                too_big.append(f"{path.relative_to(root)}:{node.lineno} {node.name}()")
    assert not too_big, too_big
