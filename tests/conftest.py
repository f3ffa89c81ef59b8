"""Shared fixtures: the built-in datasets, generated once per test session."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SEGLAB_PROFILE", "quick")

import pytest
import tensorflow as tf

# Test runs are short: Grappler's graph optimisations cost more tracing time
# than they save in a handful of steps (about a third of a first step here).
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


@pytest.fixture(scope="session")
def voc_root():
    """Root of the built-in VOC-format dataset (``VOCdevkit/`` inside)."""
    from seglab.data import synthetic

    return synthetic.ensure_voc()


@pytest.fixture(scope="session")
def pets_root():
    """Root of the built-in Oxford-IIIT Pet-format dataset."""
    from seglab.data import synthetic

    return synthetic.ensure_pets()


@pytest.fixture()
def small_voc(tmp_path):
    """A fresh, tiny VOC-format folder the test may damage."""
    from seglab.data import synthetic

    return synthetic.write_voc(tmp_path / "voc", num_train=6, num_val=4, progress=False)


@pytest.fixture()
def small_pets(tmp_path):
    """A fresh, tiny Pets-format folder the test may damage."""
    from seglab.data import synthetic

    return synthetic.write_pets(
        tmp_path / "pets", num_trainval=6, num_test=3, progress=False
    )
