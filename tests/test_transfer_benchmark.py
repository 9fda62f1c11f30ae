"""benchmarks/transfer.py: the leave-one-SoundFont-out folds, the linear probe, per-file means and the `stats`
embedder (librosa's numbers)."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from tfaudio.datasets import Record

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def transfer():
    spec = importlib.util.spec_from_file_location("transfer", ROOT / "benchmarks" / "transfer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["transfer"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop("transfer", None)


def _records(soundfonts):
    return [Record(f"clip{i}.wav", ("flute",), "training", {"soundfont": sf}) for i, sf in enumerate(soundfonts)]


def test_each_fold_holds_out_one_soundfont_whole(transfer):
    sfs = ["timgm6mb", "gmbank", "opl3", "merlin", "gmbank", "opl3", "timgm6mb", "merlin", "merlin"]
    records = _records(sfs)
    folds = list(transfer.loso_folds(records, transfer.SOUNDFONTS))
    assert [held for held, _, _ in folds] == list(transfer.SOUNDFONTS)
    for held, train, test in folds:
        assert {sfs[i] for i in test} == {held} and len(test) == sfs.count(held)
        assert held not in {sfs[i] for i in train}
        assert sorted(np.concatenate([train, test])) == list(range(len(sfs)))


def test_a_missing_soundfont_is_refused(transfer):
    with pytest.raises(SystemExit, match="merlin"):
        list(transfer.loso_folds(_records(["timgm6mb", "gmbank", "opl3"]), transfer.SOUNDFONTS))
    with pytest.raises(SystemExit, match="no soundfont"):
        transfer.soundfont_of(Record("x.wav", ("flute",)))


def test_probe_and_per_file_means(transfer):
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 20)
    x = rng.normal(size=(60, 5)) + 4 * np.eye(3, 5)[y]
    assert (transfer.fit_probe(x, y).predict(x) == y).mean() > 0.95
    multi = transfer.fit_probe(x, np.eye(3)[y], multilabel=True).predict_proba(x)
    assert multi.shape == (60, 3) and not np.allclose(multi.sum(axis=1), 1.0)  # each class its own probability
    means = transfer.mean_per_file(np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]), np.array([0, 0, 1]), 2)
    np.testing.assert_allclose(means, [[0.5, 0.5], [0.5, 0.5]])


def test_stats_are_librosas_mfcc_and_log_mel_statistics(transfer):
    librosa = pytest.importorskip("librosa")
    embedder = transfer.stats_embedder(1.0)
    t = np.arange(embedder.window) / embedder.sr
    y = (0.3 * np.sin(2 * np.pi * (220 * t + 300 * t ** 2)) * np.exp(-t)).astype(np.float32)
    mel = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=embedder.sr, n_fft=2048, hop_length=512))
    x = np.concatenate([librosa.feature.mfcc(y=y, sr=embedder.sr, n_mfcc=20), mel]).T
    expected = np.concatenate([x.mean(axis=0), x.std(axis=0)])
    got = embedder.fn(y[None])
    assert got.shape == (1, 296)
    np.testing.assert_allclose(got[0], expected, atol=2e-3 * np.abs(expected).max())
