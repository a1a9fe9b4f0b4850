"""``timm:NAME[@TAG]`` offline (weights saved where timm's loader looks, or --weights) with
timm's own evaluation transform, and adapter plug-ins through the ``evalkit.adapters``
entry-point group (the worked example in tests/plugin_example)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evalkit.errors import EvalkitError
from evalkit.registry import load_model
from helpers import assert_user_error, run_cli

EXAMPLE = Path(__file__).parents[1] / "plugin_example"
NAME, TAG = "resnet18", "a1_in1k"


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face cache holding (untrained) resnet18.a1_in1k weights, laid out as
    huggingface_hub keeps downloads."""
    import timm
    from safetensors.torch import save_file

    home = tmp_path_factory.mktemp("hf")
    repo = home / "hub" / f"models--timm--{NAME}.{TAG}"
    revision = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    model = timm.create_model(f"{NAME}.{TAG}", pretrained=False)
    save_file(model.state_dict(), str(snapshot / "model.safetensors"))
    return home


@pytest.fixture()
def in_cache(hf_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(hf_home / "hub"))
    return hf_home / "hub"


def test_timm_weights_from_the_hf_cache_and_timms_transform(
    in_cache: Path, photos: list[Image.Image]
) -> None:
    import timm
    import torch
    from safetensors.torch import load_file
    from timm.data import create_transform, resolve_data_config

    adapter = load_model(f"timm:{NAME}@{TAG}")
    weights = adapter.describe().weights
    assert weights.source == "cache" and str(in_cache) in str(weights.file)
    reference = timm.create_model(f"{NAME}.{TAG}", pretrained=False).eval()
    reference.load_state_dict(load_file(str(weights.file)))
    official = create_transform(**resolve_data_config({}, model=reference))
    for photo in photos:
        ours = adapter.preprocess(photo)
        np.testing.assert_array_equal(ours, official(photo).numpy())
    batch = np.stack([adapter.preprocess(p) for p in photos])
    with torch.no_grad():
        expected = torch.softmax(reference(torch.from_numpy(batch)), 1).numpy()
    np.testing.assert_allclose(adapter.predict(batch), expected, atol=1e-5)
    recorded = adapter.describe().preprocessing
    assert recorded.interpolation == "bicubic" and recorded.crop == 224
    assert recorded.resize == 235  # floor(224 / 0.95), timm's crop_pct for this tag


def test_timm_weights_file_and_missing_weights_offline(in_cache: Path, tmp_path: Path) -> None:
    import timm
    import torch

    path = tmp_path / "r18.pth"
    torch.save(timm.create_model(NAME, pretrained=False).state_dict(), path)
    adapter = load_model(f"timm:{NAME}", weights={f"timm:{NAME}": str(path)})
    assert adapter.describe().weights.source == "file"
    with pytest.raises(
        EvalkitError,
        match=r"not cached \(.*models--timm--resnet18.a2_in1k.*"
        r"EVALKIT_OFFLINE=1.*--weights timm:resnet18@a2_in1k=FILE",
    ):
        load_model("timm:resnet18@a2_in1k")
    with pytest.raises(EvalkitError, match="unknown timm model 'resnet81'; did you mean resnet18"):
        load_model("timm:resnet81")


def test_preprocess_names_a_timm_config(photos: list[Image.Image]) -> None:
    from evalkit.models.cards import ModelInput, explicit_card

    card = explicit_card("timm:resnet50.tv_in1k", ModelInput("NCHW", 224, 1000))
    assert card.transform.resize == 256 and card.transform.interpolation == "bilinear"
    assert card.label_space(1000).num_outputs == 1000


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package as pip would install it: the package and a dist-info folder whose
    entry_points.txt declares the adapter."""
    site = tmp_path_factory.mktemp("site")
    shutil.copytree(EXAMPLE / "evalkit_example", site / "evalkit_example")
    info = site / "evalkit_example-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evalkit-example\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(
        "[evalkit.adapters]\ndominant-color = evalkit_example:DominantColorAdapter\n"
    )
    return site


def test_a_plugin_adds_a_model_id_scheme(plugin_path: Path, tmp_path: Path) -> None:
    data = tmp_path / "colors"
    for name, rgb in (("red", (200, 30, 20)), ("green", (20, 180, 40)), ("blue", (10, 20, 220))):
        (data / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (20 + i, 24), rgb).save(data / name / f"{i}.png")
    env = {"PYTHONPATH": os.pathsep.join([str(plugin_path), os.environ.get("PYTHONPATH", "")])}
    listed = run_cli("models", env=env)
    assert "dominant-color:…  (plug-in: evalkit_example:DominantColorAdapter)" in listed.stdout
    out = tmp_path / "run"
    done = run_cli("run", "--model", "dominant-color:sharp", "--data", data, "--out", out, env=env)
    assert done.returncode == 0, done.stderr
    assert "100.00" in done.stdout
    typo = run_cli("run", "--model", "dominant-colour:sharp", "--data", data, env=env)
    assert_user_error(typo, "did you mean dominant-color:sharp")
    wrong = run_cli("run", "--model", "dominant-color:blurry", "--data", data, env=env)
    assert_user_error(wrong, "unknown dominant-color model 'blurry'")


def test_plugins_are_not_imported_by_import_evalkit(plugin_path: Path) -> None:
    code = "import evalkit, evalkit.registry, sys; print('evalkit_example' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": str(plugin_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.stdout.strip() == "False", done.stderr
