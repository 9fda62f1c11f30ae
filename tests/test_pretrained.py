"""The pretrained models in the package: they load by name, predict on rendered audio, serve every command
that takes a run, and every number on their cards comes from a command that exists."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from tests import fixtures
from tfaudio import cli, pretrained
from tfaudio.deploy.loading import open_run

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = pretrained.available()


def test_all_three_ship_in_the_package_within_20_mb():
    assert SHIPPED == list(pretrained.NAMES)
    total = sum(p.stat().st_size for n in SHIPPED for p in pretrained.path(n).rglob("*") if p.is_file())
    assert total <= 20 * 2**20, f"{total / 2**20:.1f} MB"


def test_package_data_is_declared_for_the_wheel():
    cfg = (ROOT / "setup.cfg").read_text()
    assert "pretrained/*/checkpoints/*.keras" in cfg and "pretrained/*/*.json" in cfg
    assert "models/weights/*.npz" in cfg and "models/weights/LICENSE.musicnn" in cfg


def test_all_weights_the_package_ships_fit_in_30_mb():
    """Issue 21: the pretrained models and the ported musicnn weights together, with musicnn's licence notice."""
    weights = ROOT / "tfaudio" / "models" / "weights"
    files = [p for p in (*(ROOT / "tfaudio" / "pretrained").rglob("*"), *weights.rglob("*")) if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    assert total <= 30 * 2**20, f"{total / 2**20:.1f} MB"
    assert sorted(p.name for p in weights.glob("*.npz")) == ["MSD_musicnn.npz", "MSD_vgg.npz", "MTT_musicnn.npz",
                                                             "MTT_vgg.npz"]
    assert "Music Technology Group, Universitat Pompeu Fabra" in (weights / "LICENSE.musicnn").read_text()


@pytest.mark.parametrize("name, task, n_classes", [("msdb", "single_label", 8), ("irmas", "multi_label", 11),
                                                   ("activations", "activation", 8)])
def test_load_by_name(name, task, n_classes):
    model, spec = open_run(name)
    assert spec.task == task and len(spec.classes) == n_classes
    assert not getattr(model, "optimizer", None) or not model.optimizer.variables  # weights only
    if name == "irmas":
        assert spec.classes == ("cel", "cla", "flu", "gac", "gel", "org", "pia", "sax", "tru", "vio", "voi")
        assert len(spec.thresholds) == 11 and "validation" in spec.threshold_source
    if name in ("msdb", "activations"):
        assert spec.classes[0] == "clarinet" and "violin" in spec.classes


def test_an_unknown_name_is_one_line(tmp_path, capsys):
    assert cli.main(["predict", "nonesuch", "x.wav", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_predict_by_name_on_rendered_audio(tmp_path, capsys):
    y = fixtures.instrument("flute", 3.0, 22050, seed=3)
    wav = fixtures.write_audio(tmp_path / "flute.wav", y, 22050, "PCM_16")
    for name in SHIPPED:
        out = tmp_path / name
        assert cli.main(["predict", name, str(wav), "--out", str(out)]) == 0, name
        if name == "activations":
            a = np.load(out / "flute.npy")
            assert a.shape[0] == 8 and np.all((a >= 0) & (a <= 1))
        else:
            scores = json.loads((out / "flute.json").read_text())["scores"]
            assert len(scores) == (8 if name == "msdb" else 11)
            assert all(0 <= v <= 1 for v in scores.values())


def test_the_msdb_model_recognises_a_clearly_played_instrument(tmp_path):
    """In-distribution sanity check on a TimGM6mb phrase (a SoundFont it was trained on)."""
    from tfaudio.inference import predict_audio

    model, spec = open_run("msdb")
    hits = 0
    for k, name in enumerate(("piano", "flute", "trumpet", "violin")):
        y = fixtures.instrument(name, 3.0, spec.sr, seed=40 + k)
        hits += predict_audio(model, spec, y).label == name
    assert hits >= 3


def test_evaluate_and_export_take_a_name(tmp_path):
    root = fixtures.make_irmas(tmp_path / "IRMAS", seconds=1.5)
    assert cli.main(["evaluate", "irmas", "--data", str(root), "--format", "irmas", "--split", "test",
                     "--out", str(tmp_path / "rep")]) == 0
    m = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert m["model"] == "irmas" and m["n_files"] == 3 and 0 <= m["lrap"] <= 1
    assert cli.main(["export", "msdb", "--out", str(tmp_path / "sm")]) == 0
    assert (tmp_path / "sm" / "saved_model.pb").is_file()


@pytest.mark.parametrize("name", pretrained.NAMES)
def test_each_card_names_a_recipe_and_commands_that_exist(name):
    card = (ROOT / "docs" / "pretrained" / f"{name}.md").read_text()
    shipped = pretrained.card(name)
    recipe = Path(shipped["recipe"])  # pipelines/pretrained_NAME.yaml, or the recipe it was packaged with
    assert recipe.parent == Path("pipelines") and (ROOT / recipe).is_file()
    commands = re.findall(r"^(?:\$ )?(tfaudio [a-z]+ .*|python -m tfaudio\.\S+ .*)$", card, re.M)
    assert commands, "the card gives no command"
    subcommands = {"train", "evaluate", "predict", "export", "corpus", "demo", "data", "tune"}
    for c in commands:
        if c.startswith("tfaudio "):
            assert c.split()[1] in subcommands, c
        if " train " in f" {c} ":
            assert recipe.stem in c.split(), c
    for report, metrics in shipped["reports"].items():  # every number on the card is a measured one
        for key in ("accuracy", "balanced_accuracy", "lrap", "map", "polyphonic_recall"):
            if metrics.get(key) is not None:
                assert f"{metrics[key]:.3f}" in card, (report, key)
