"""Shared fixtures. Tests never touch the network: downloads are disabled and the framework
caches point into a temporary folder (set before any framework is imported)."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import make_imagefolder

pytest_plugins = ["pytester"]

# One folder per test run, made by the first process (the xdist controller, whose environment
# the workers inherit) and removed by it at exit: the demo cache (models trained once, under a
# lock) is shared by the workers; each process gets its own framework homes inside it.
_OWNER = "EVALKIT_TEST_ROOT" not in os.environ
if _OWNER:
    os.environ["EVALKIT_TEST_ROOT"] = tempfile.mkdtemp(prefix="evalkit-tests-")
    atexit.register(shutil.rmtree, os.environ["EVALKIT_TEST_ROOT"], ignore_errors=True)
_SHARED = Path(os.environ["EVALKIT_TEST_ROOT"])
_HOME = Path(tempfile.mkdtemp(prefix="home-", dir=_SHARED))
os.environ["EVALKIT_OFFLINE"] = "1"
os.environ["TORCH_HOME"] = str(_HOME / "torch")
os.environ["KERAS_HOME"] = str(_HOME / "keras")
os.environ["EVALKIT_CACHE"] = str(_SHARED / "evalkit-cache")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Some tests import keras (hence tensorflow) directly; torch must be imported first in a
# process that also runs torch models (see evalkit._frameworks), whatever order tests run in.
from evalkit._frameworks import import_torch, is_installed  # noqa: E402

if is_installed("torch"):
    import_torch()


@pytest.fixture(scope="session")
def photos() -> list[Image.Image]:
    """Real photographs shipped with scikit-learn, at several sizes and aspect ratios."""
    from sklearn.datasets import load_sample_images

    china, flower = (Image.fromarray(a) for a in load_sample_images().images)
    return [
        china,  # 640x427 landscape
        flower.transpose(Image.Transpose.ROTATE_90),  # 427x640 portrait
        china.resize((301, 233)),  # odd sizes, smaller than 232 on one side
        flower.crop((100, 50, 500, 350)),  # 400x300
    ]


@pytest.fixture(scope="session")
def photo_files(photos: list[Image.Image], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("photos")
    paths = []
    for i, photo in enumerate(photos):
        path = folder / f"photo{i}.{'jpg' if i % 2 == 0 else 'png'}"
        photo.save(path)
        paths.append(path)
    return paths


@pytest.fixture()
def imagenet_folder(tmp_path: Path, photos: list[Image.Image]) -> Path:
    """A small ImageFolder whose class folders are ImageNet wnids (6 real photos)."""
    return make_imagefolder(tmp_path / "val", photos)


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def weight_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Locally saved (untrained) weights for the seed models, made in a child process."""
    folder = tmp_path_factory.mktemp("seed-weights")
    code = f"""
import torch, torchvision
torch.save(torchvision.models.resnet50().state_dict(), {str(folder / "resnet50.pth")!r})
torch.save(torchvision.models.resnet18().state_dict(), {str(folder / "resnet18.pth")!r})
import keras
keras.applications.MobileNetV2(weights=None).save_weights({str(folder / "mnv2.weights.h5")!r})
"""
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=300)
    return {
        "resnet50": folder / "resnet50.pth",
        "resnet18": folder / "resnet18.pth",
        "mobilenet_v2": folder / "mnv2.weights.h5",
    }


@pytest.fixture(scope="session")
def demo() -> tuple[dict[str, str], Path]:
    """The demo's two trained models ({"torch": id, "keras": id}) and its held-out digits."""
    code = "import json; from evalkit.demo import prepare_demo; "
    code += "print(json.dumps(prepare_demo(), default=str))"
    done = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, timeout=600
    )
    (torch_model, keras_model), data = json.loads(done.stdout.splitlines()[-1])
    return {"torch": torch_model, "keras": keras_model}, Path(data)
