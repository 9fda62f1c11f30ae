"""Fixtures shared by the test modules: the corpus cache and one tiny trained activation run."""
from __future__ import annotations

import pytest

#: A tiny activation run: 1 epoch of 2 steps of 4 mixes of 1-2 instruments, 3 rendered clips per class.
TINY_ACTIVATION = ["data.per_class=3", "train.epochs=1", "train.steps_per_epoch=2", "train.validation_steps=1",
                   "train.batch_size=4", "train.verbose=0", "mix.n_max=2"]


def sets(items: list[str]) -> list[str]:
    """`--set` arguments for each override."""
    return sum([["--set", s] for s in items], [])


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """TFAUDIO_CACHE in a fresh folder for the module (the built-in corpus renders there)."""
    import keras

    mp = pytest.MonkeyPatch()
    mp.setenv("TFAUDIO_CACHE", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def activation_run(tmp_path_factory):
    """`tfaudio train neuroment_mel` at `TINY_ACTIVATION`, trained once and shared read-only by every module."""
    import keras

    from tfaudio import cli

    mp = pytest.MonkeyPatch()
    mp.setenv("TFAUDIO_CACHE", str(tmp_path_factory.mktemp("session-cache")))
    run = tmp_path_factory.mktemp("session-runs") / "mel"
    try:
        assert cli.main(["train", "neuroment_mel", "--out", str(run), *sets(TINY_ACTIVATION)]) == 0
    finally:
        mp.undo()
        keras.mixed_precision.set_global_policy("float32")
    return run
