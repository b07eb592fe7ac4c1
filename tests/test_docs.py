"""Every Python block in the README and docs runs as written (on tiny data where it needs MNIST).

Each block runs in a fresh interpreter in a temporary folder, with ``$PYROML_DATA_DIR`` pointing at
tiny MNIST-format files; a block naming ``../shared/data`` gets the real data folder, and is skipped
where that folder is absent.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import real_mnist_dir, write_idx

ROOT = Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCKS = [(f, i, b) for f in FILES for i, b in enumerate(re.findall(r"```python\n(.*?)```", f.read_text(), re.S))]


@pytest.mark.parametrize("path, index, code", BLOCKS, ids=[f"{f.name}-{i}" for f, i, _ in BLOCKS])
def test_python_block_runs(path, index, code, tmp_path):
    if "../shared/data" in code:
        real = real_mnist_dir()
        if real is None:
            pytest.skip("needs the real data folder ../shared/data")
        code = code.replace("../shared/data", str(real))
    env = {**os.environ, "PYROML_DATA_DIR": str(write_idx(tmp_path / "data", n_train=64, n_test=32)),
           "MPLBACKEND": "Agg"}
    work = tmp_path / "work"
    work.mkdir()
    (work / "dd").mkdir()
    code = code.replace("/tmp/dd", str(work / "dd"))
    res = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, f"{path.name} block {index} failed:\n{res.stderr[-3000:]}"
