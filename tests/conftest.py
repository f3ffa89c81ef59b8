"""Shared fixtures (the built-in datasets, generated once per test session),
TensorFlow's thread pools and the order in which the files start."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("SEGLAB_PROFILE", "quick")

import pytest
import tensorflow as tf

# Test runs are short: Grappler's graph optimisations cost more tracing time
# than they save in a handful of steps (about a third of a first step here).
tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


def _test_threads() -> int | None:
    """TensorFlow's thread-pool size for this test process, if one is chosen.

    ``SEGLAB_TEST_THREADS=N`` sets both pools to N threads (say 1 for each of
    two pytest-xdist workers on two cores); unset or ``0`` keeps TensorFlow's
    default, one thread per core in every process. Measured on a shared
    two-core machine, one thread per worker saved no CPU time, so the default
    stays.
    """
    chosen = os.environ.get("SEGLAB_TEST_THREADS", "").strip()
    return (int(chosen) or None) if chosen else None


_THREADS = _test_threads()
if _THREADS:
    tf.config.threading.set_intra_op_parallelism_threads(_THREADS)
    tf.config.threading.set_inter_op_parallelism_threads(_THREADS)


# Seconds each long file took in a CI run on two cores (junit, summed per
# file). pytest-xdist's ``--dist loadfile`` hands files out in collection
# order (with ``--no-loadscope-reorder``; by default it starts with the files
# that hold the most tests, which put one-test files such as the full-profile
# dry run last); starting the longest first lets both workers finish
# together. Files not listed keep their order after these.
LONGEST_FIRST = {
    "tests/test_grading_attacks.py": 607,
    "lessons/04_deeplabv3.ipynb": 274,
    "lessons/05_unet_pets.ipynb": 210,
    "lessons/06_evaluation.ipynb": 188,
    "tests/test_distributed.py": 147,
    "tests/test_train.py": 100,
    "tests/test_synthetic_difficulty.py": 82,
    "tests/test_grading_metadata.py": 60,
    "tests/test_full_profile.py": 59,
    "tests/test_cli_models.py": 51,
    "tests/test_assignment_tests.py": 48,
    "tests/test_train_unet.py": 46,
    "tests/test_mixed_precision.py": 44,
    "tests/test_bench.py": 36,
    "tests/test_models.py": 21,
    "tests/test_nbgrader.py": 21,
    "tests/test_honest_eval.py": 19,
    "tests/test_grading_pieces.py": 13,
}


def pytest_collection_modifyitems(session, config, items):
    """Put the longest files first (a stable sort keeps each file's order)."""
    root = config.rootpath

    def cost(item) -> int:
        try:
            path = item.path.relative_to(root).as_posix()
        except ValueError:
            return 0
        return -LONGEST_FIRST.get(path, 0)

    items.sort(key=cost)


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
