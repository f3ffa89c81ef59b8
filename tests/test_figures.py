"""The committed figures in img/ are exactly what img/make_figures.py draws."""

import importlib.util
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

IMG = Path(__file__).resolve().parents[1] / "img"


def test_committed_figures_match_the_script(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "make_figures", IMG / "make_figures.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in module.FIGURES:
        fresh, committed = plt.imread(tmp_path / name), plt.imread(IMG / name)
        assert fresh.shape == committed.shape, name
        assert np.abs(fresh - committed).max() < 1e-6, (
            f"img/{name} is out of date: run python img/make_figures.py"
        )
