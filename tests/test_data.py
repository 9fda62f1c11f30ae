"""tf.data pipelines: windows, balancing, mixing statistics, augmentation, reproducibility."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import tensorflow as tf

from tests import fixtures
from tfaudio.data import augment, datasets, mixing, pipeline, windows
from tfaudio.config import AugmentConfig, FeatureConfig, MixConfig
from tfaudio.data.records import Record

K = 8
WIN = 15360


def _pool(k: int = K, per_class: int = 5, length: int = WIN, seed: int = 0) -> mixing.WindowPool:
    """A pool whose windows are noise at a known level, class by class."""
    rng = np.random.default_rng(seed)
    audio = (0.5 * rng.standard_normal((k * per_class, length))).astype(np.float32)
    counts = np.full(k, per_class, np.int32)
    offsets = np.arange(k, dtype=np.int32) * per_class
    return mixing.WindowPool(tf.Variable(audio, trainable=False), tf.constant(offsets), tf.constant(counts),
                           [f"c{i}" for i in range(k)])


def _raw_mixes(n: int, mix: MixConfig = MixConfig(window=64), seed: int = 0, pool=None):
    pool = pool or _pool(length=mix.window)
    ds = mixing.mix_seeds(seed, n).map(lambda s: mixing.mix_from_seed(pool, mix, s)).batch(n)
    return {k: v.numpy() for k, v in ds.get_single_element().items()}


def test_mixing_statistics():
    n = 4000
    ex = _raw_mixes(n)
    counts = ex["n_instruments"]
    # uniform over 1..4: chi-square against n/4 each (critical value 3 dof, p=0.001: 16.27)
    observed = np.bincount(counts, minlength=5)[1:]
    assert observed.sum() == n and (counts >= 1).all() and (counts <= 4).all()
    chi2 = ((observed - n / 4) ** 2 / (n / 4)).sum()
    assert chi2 < 16.27, observed
    # distinct classes: the multi-hot label counts the instruments exactly
    np.testing.assert_array_equal(ex["labels"].sum(1), counts)
    assert set(np.unique(ex["labels"])) <= {0.0, 1.0}
    # levels: zero exactly where a class is absent, positive where present
    assert (ex["levels"][ex["labels"] == 0] == 0).all() and (ex["levels"][ex["labels"] == 1] > 0).all()
    # levels match a simulation of the seed's rule: max(N(0.5, 0.01), 0) + 1e-8, / sum if sum > 1
    rng = np.random.default_rng(1)
    sim = []
    for c in counts:
        lv = np.maximum(rng.normal(0.5, 0.1, c), 0) + 1e-8
        sim.append(lv / lv.sum() if lv.sum() > 1 else lv)
    for c in (1, 2, 3, 4):
        got = ex["levels"][counts == c]
        got = got[got > 0]
        ref = np.concatenate([s for s, cc in zip(sim, counts) if cc == c])
        assert abs(got.mean() - ref.mean()) < 0.01, (c, got.mean(), ref.mean())
        assert abs(got.var() - ref.var()) < 0.003, (c, got.var(), ref.var())
    assert (ex["levels"].sum(1) <= 1 + 1e-5).all()
    single = ex["levels"][counts == 1].sum(1)
    assert abs(single.mean() - 0.5) < 0.01 and abs(single.var() - 0.01) < 0.002
    # each class turns up about equally often
    per_class = ex["labels"].sum(0)
    assert per_class.min() > 0.8 * per_class.mean()


def test_mix_audio_is_the_sum_of_scaled_stems():
    pool = _pool()
    mix = MixConfig()
    ds = mixing.mix_seeds(3, 20).map(lambda s: mixing.mix_from_seed(pool, mix, s))
    for ex in ds.as_numpy_iterator():
        np.testing.assert_allclose(ex["stems"].sum(0), ex["audio"], atol=1e-5)
        present = ex["labels"] > 0
        assert (np.abs(ex["stems"][~present]).max(initial=0) == 0)
        # each present stem is a pool window of its own class times its level
        for c in np.flatnonzero(present):
            window = ex["stems"][c] / ex["levels"][c]
            rows = pool.audio.numpy()[c * 5:(c + 1) * 5]
            assert np.abs(rows - window).max(axis=1).min() < 1e-4


def test_same_seed_same_mixes_and_new_mixes_every_epoch():
    a = _raw_mixes(50, seed=11)
    b = _raw_mixes(50, seed=11)
    c = _raw_mixes(50, seed=12)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["audio"], c["audio"])
    pool = _pool()
    ds = mixing.mix_seeds(5, 10).map(lambda s: mixing.mix_from_seed(pool, MixConfig(), s)["audio"])
    epoch1 = np.stack(list(ds.as_numpy_iterator()))
    epoch2 = np.stack(list(ds.as_numpy_iterator()))
    assert not np.allclose(epoch1, epoch2)
    ds_again = mixing.mix_seeds(5, 10).map(lambda s: mixing.mix_from_seed(pool, MixConfig(), s)["audio"])
    np.testing.assert_array_equal(np.stack(list(ds_again.as_numpy_iterator())), epoch1)


def test_single_instrument_mode():
    ex = _raw_mixes(200, MixConfig(n_min=1, n_max=1, window=64))
    assert (ex["n_instruments"] == 1).all() and (ex["labels"].sum(1) == 1).all()


def test_balance_caps_oversampling(caplog):
    recs = [Record(f"/{c}/{i}.wav", (c,)) for c, n in (("a", 10), ("b", 100), ("c", 30)) for i in range(n)]
    with caplog.at_level(logging.INFO, logger="tfaudio.data.windows"):
        out = windows.balance(recs, max_oversample=2.0, seed=0)
    counts = {c: sum(r.label == c for r in out) for c in "abc"}
    assert counts == {"a": 20, "b": 20, "c": 20}
    a_paths = [r.path for r in out if r.label == "a"]
    assert max(a_paths.count(p) for p in a_paths) == 2  # oversampled twice at most
    assert len({r.path for r in out if r.label == "b"}) == 20  # undersampled without repeats
    assert "before" in caplog.text and "after" in caplog.text and "'b': 100" in caplog.text
    # with a generous factor every class reaches the largest
    out = windows.balance(recs, max_oversample=100)
    assert {c: sum(r.label == c for r in out) for c in "abc"} == {"a": 100, "b": 100, "c": 100}
    assert windows.balance(recs, seed=1) != windows.balance(recs, seed=2)


def test_windows_and_silence_threshold():
    y = np.concatenate([fixtures.sine(440, 1.0, 22050), fixtures.silence(1.0, 22050)])
    ds = tf.data.Dataset.from_tensors((y, np.int32(3)))
    got = list(windows.windows(ds, 11025, 11025).as_numpy_iterator())
    assert len(got) == 4 and all(lab == 3 for _, lab in got)
    np.testing.assert_array_equal(got[1][0], y[11025:22050])
    loud = list(windows.windows(ds, 11025, 5512, min_rms_db=-60).as_numpy_iterator())
    assert len(loud) == 5  # windows starting at 0 ... 22048 hold some of the sine; 27560 and 33072 are silent
    short = list(windows.windows(tf.data.Dataset.from_tensors((y[:100], 0)), 1000).as_numpy_iterator())
    assert len(short) == 1 and short[0][0].shape == (1000,)


def test_spec_augment_masks():
    f = tf.random.uniform((16, 128), 1.0, 2.0, seed=1)
    out = augment.spec_augment(f, AugmentConfig(time_masks=2, time_mask_width=3, freq_masks=2, freq_mask_width=10),
                            tf.constant([1, 2], tf.int64)).numpy()
    masked = out != f.numpy()
    assert masked.any()
    rows = masked.all(axis=1).sum()
    cols = masked.all(axis=0).sum()
    assert rows <= 6 and cols <= 20 and (rows > 0 or cols > 0)


def test_add_noise_snr():
    y = tf.constant(fixtures.sine(440, 1.0)[None].repeat(4, 0))
    noisy = augment.add_noise(y, (10.0, 10.0), tf.constant([0, 1], tf.int64))
    noise = (noisy - y).numpy()
    snr = 10 * np.log10((y.numpy() ** 2).mean(1) / (noise ** 2).mean(1))
    np.testing.assert_allclose(snr, 10.0, atol=0.3)


# ---- end to end: files -> pool -> mixes with features and activation labels -----------------------

@pytest.fixture(scope="module")
def corpus_records(tmp_path_factory):
    from tfaudio.data import corpus

    root = tmp_path_factory.mktemp("corpus")
    corpus.render_corpus(root, per_class=3, seed=0, progress=False, sr=22050, n_samples=22050)
    return datasets.medley_solos_db(root, subset="training")


def test_mixtures_end_to_end(corpus_records):
    feats = FeatureConfig(sr=22050, fmax=11025.0)
    classes = datasets.classes_of(corpus_records)
    ds = pipeline.mixtures(corpus_records, classes, MixConfig(), seed=3, features=feats, batch_size=8,
                       num_mixes=32, keep_stems=True)
    batches = list(ds.as_numpy_iterator())
    assert len(batches) == 4
    b = batches[0]
    assert b["audio"].shape == (8, WIN)
    assert b["features"].shape == (8, 16, 128)
    assert b["activations"].shape == (8, len(classes), 16)
    assert b["labels"].shape == (8, len(classes)) and b["stems"].shape == (8, len(classes), WIN)
    for b in batches:
        absent = b["labels"] == 0
        assert (b["activations"][absent] == 0).all()  # zero for absent instruments
        assert b["activations"].min() >= 0 and b["activations"].max() <= 1
        # activations are the stems' own framed RMS, in dB over a 60 dB range
        from tfaudio.data import labels

        ref = labels.activations(b["stems"], frame_length=2048, hop_length=1024).numpy()
        np.testing.assert_allclose(b["activations"], ref, atol=1e-6)
        present = b["activations"][~absent]
        assert present.max() > 0.5
    again = list(pipeline.mixtures(corpus_records, classes, MixConfig(), seed=3, features=feats, batch_size=8,
                               num_mixes=32).as_numpy_iterator())
    for x, y in zip(batches, again):
        np.testing.assert_array_equal(x["audio"], y["audio"])
        np.testing.assert_array_equal(x["features"], y["features"])


def test_class_dataset_windows_and_features(corpus_records):
    feats = FeatureConfig(kind="log_mel", sr=22050, fmax=11025.0)
    ds = pipeline.class_dataset(corpus_records, sr=22050, window=11025, features=feats, batch_size=4, seed=1)
    x, y = next(iter(ds))
    assert x.shape == (4, 11, 128) and y.shape == (4,)
    raw = pipeline.class_dataset(corpus_records, sr=22050, window=11025, batch_size=5, shuffle=None,
                             augment=AugmentConfig(gain_db=(-6.0, 0.0)))
    x, _ = next(iter(raw))
    assert x.shape == (5, 11025)


def test_batched_mixing_is_mix_by_mix_and_activations_come_from_the_stems():
    from tfaudio.data import labels

    pool = _pool(length=WIN)
    mix = MixConfig()
    seeds = mixing.mix_seeds(9, 12).batch(12).get_single_element()
    batch = mixing.mix_batch(pool, mix, seeds, stems=True, activations=(2048, 1024))
    for i in (0, 5, 11):  # an example is the same alone as in its batch
        one = mixing.mix_from_seed(pool, mix, seeds[i])
        for k in ("audio", "stems", "labels", "levels", "n_instruments"):
            np.testing.assert_allclose(one[k].numpy(), batch[k][i].numpy(), atol=1e-6)
    # activations from the pool's framed RMS times the levels = the activations of the scaled stems
    ref = labels.activations(batch["stems"], frame_length=2048, hop_length=1024).numpy()
    np.testing.assert_allclose(batch["activations"].numpy(), ref, atol=2e-6)
    assert (batch["activations"].numpy()[batch["labels"].numpy() == 0] == 0).all()
    # the pipeline: unbatched and batched streams give the same examples
    feats = FeatureConfig(kind="log_mel", sr=44100)
    a = pipeline.mixtures([], pool.classes, mix, seed=4, features=feats, batch_size=6, num_mixes=12, pool=pool)
    b = pipeline.mixtures([], pool.classes, mix, seed=4, features=feats, batch_size=None, num_mixes=12, pool=pool)
    a = {k: np.concatenate([x[k] for x in a.as_numpy_iterator()]) for k in ("audio", "features", "activations")}
    b = {k: np.stack([x[k] for x in b.as_numpy_iterator()]) for k in a}
    for k in a:
        np.testing.assert_allclose(a[k], b[k], atol=1e-4)


def test_counter_based_draws_are_uniform_normal_and_per_seed():
    from tfaudio.data import draws

    seeds = tf.stack([tf.range(20000, dtype=tf.int64), tf.fill([20000], tf.constant(7, tf.int64))], 1)
    u = draws.uniform(seeds, 4).numpy()
    assert u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.005 and abs(u.var() - 1 / 12) < 0.002
    # no correlation between counters, nor between neighbouring seeds
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.03 and abs(np.corrcoef(u[:-1, 0], u[1:, 0])[0, 1]) < 0.03
    hist = np.histogram(u.ravel(), bins=20, range=(0, 1))[0]
    expected = u.size / 20
    assert ((hist - expected) ** 2 / expected).sum() < 43.8  # chi-square, 19 dof, p = 0.001
    z = draws.normal(seeds, 2).numpy()
    assert abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.02 and abs((z ** 3).mean()) < 0.05
    # a seed's draws do not depend on its batch, and other streams and fold-ins differ
    np.testing.assert_array_equal(draws.uniform(seeds[5:6], 4).numpy(), u[5:6])
    assert not np.allclose(draws.uniform(seeds[:100], 4, stream=1).numpy(), u[:100])
    folded = draws.fold_in(seeds[:100], 1).numpy()
    assert folded.dtype == np.int64 and len(np.unique(folded[:, 0])) == 100


def test_input_pipelines_get_disjoint_shares_that_cover_the_stream():
    pool = _pool(length=WIN)
    mix = MixConfig()
    feats = FeatureConfig(kind="log_mel", sr=44100)

    def audio(ctx=None, n=16):
        ds = pipeline.mixtures([], pool.classes, mix, seed=6, features=feats, batch_size=None, num_mixes=n,
                           pool=pool, input_context=ctx)
        return [x["audio"] for x in ds.as_numpy_iterator()]

    whole = audio()
    shares = [audio(tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i)) for i in (0, 1)]
    # every second mix of the one stream: disjoint, and together the whole stream
    for i, share in enumerate(shares):
        assert len(share) == 8
        for a, b in zip(share, whole[i::2]):
            np.testing.assert_array_equal(a, b)
    keys = [{x.tobytes() for x in s} for s in shares]
    assert not keys[0] & keys[1]
    # files are split before decoding: each pipeline decodes its own files
    recs = [Record(f"/x/{i}.wav", ("a",)) for i in range(5)]
    parts = [pipeline.shard_records(recs, tf.distribute.InputContext(2, i)) for i in (0, 1)]
    assert [r.path for r in parts[0] + parts[1]] == sorted((r.path for r in recs), key=lambda p: (int(p[3]) % 2, p))
    with pytest.raises(datasets.DatasetError, match="cannot be split among 8 input pipelines"):
        pipeline.shard_records(recs, tf.distribute.InputContext(8, 7))
