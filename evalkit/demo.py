"""``evalkit demo``: a complete offline evaluation with real data and two tiny real models.

scikit-learn's 1,797 handwritten digits are written as PNG files (upscaled to 32x32) into an
ImageFolder with a stratified train/test split; a small PyTorch CNN and a small Keras CNN are
trained on the train split (once; cached), saved as ordinary model files with a model card
(``torch-export:…pt2``, ``keras-file:…keras``) and evaluated on the held-out split through
exactly the same path as ``evalkit run``.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from evalkit.api import evaluate_many
from evalkit.data.datasets import read_imagefolder
from evalkit.models.cards import ModelCard
from evalkit.preprocess import ImageTransform
from evalkit.results import RunResult, save_results
from evalkit.runner import load_sample
from evalkit.timing import stage_bar

VERSION = "demo-v1"
SIZE = 32
EPOCHS = 8
SEED = 0
CLASSES = tuple(str(d) for d in range(10))


def transform(layout: str) -> ImageTransform:
    return ImageTransform(
        crop=SIZE,
        resize=None,
        interpolation="bilinear",
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        layout="NCHW" if layout == "NCHW" else "NHWC",
    )


def cache_root(cache: Path | None = None) -> Path:
    base = cache or Path(os.environ.get("EVALKIT_CACHE", Path.home() / ".cache" / "evalkit"))
    return base.expanduser() / VERSION


def write_digits(root: Path) -> tuple[Path, Path]:
    """ImageFolders ``root/data/train`` and ``root/data/test`` (70/30, stratified, seeded)."""
    data = root / "data"
    if not (data / ".complete").is_file():
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        digits = load_digits()
        index = np.arange(len(digits.target))
        train, test = train_test_split(
            index, test_size=0.3, stratify=digits.target, random_state=SEED
        )
        staging = Path(tempfile.mkdtemp(dir=root.parent if root.parent.exists() else None))
        for split, rows in (("train", train), ("test", test)):
            for i in rows:
                folder = staging / split / str(digits.target[i])
                folder.mkdir(parents=True, exist_ok=True)
                pixels = np.round(digits.images[i] * 255 / 16).astype(np.uint8)
                image = Image.fromarray(pixels, mode="L").resize(
                    (SIZE, SIZE), Image.Resampling.BICUBIC
                )
                image.save(folder / f"digit-{i:04d}.png")
        (staging / ".complete").touch()
        shutil.rmtree(data, ignore_errors=True)
        data.parent.mkdir(parents=True, exist_ok=True)
        staging.rename(data)
    return data / "train", data / "test"


def training_arrays(folder: Path, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """Train images read through evalkit's own decode + preprocessing (as evaluation does)."""
    dataset = read_imagefolder(folder)
    prep = transform(layout)
    arrays = [load_sample(prep, i, s).array for i, s in enumerate(dataset.samples)]
    labels = np.array([CLASSES.index(s.label) for s in dataset.samples])
    return np.stack([a for a in arrays if a is not None]), labels


def train_torch(folder: Path, target: Path) -> None:
    from evalkit._frameworks import import_torch

    torch = import_torch()
    torch.manual_seed(SEED)
    x, y = training_arrays(folder, "NCHW")
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 8 * 8, 10),
    )
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
    with stage_bar(EPOCHS, "training the torch demo model", "epoch") as bar:
        for _ in range(EPOCHS):
            for batch in torch.randperm(len(labels)).split(32):
                optimizer.zero_grad()
                torch.nn.functional.cross_entropy(net(inputs[batch]), labels[batch]).backward()
                optimizer.step()
            bar.update()
    net.eval()
    batch_dim = torch.export.Dim("batch")
    program = torch.export.export(net, (inputs[:4],), dynamic_shapes=({0: batch_dim},))
    _publish(target, lambda tmp: torch.export.save(program, str(tmp)), "logits", "NCHW")


def train_keras(folder: Path, target: Path) -> None:
    from evalkit._frameworks import import_tensorflow

    import_tensorflow()
    import keras

    keras.utils.set_random_seed(SEED)
    x, y = training_arrays(folder, "NHWC")
    layers = keras.layers
    net = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            layers.Conv2D(16, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, padding="same", activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(10, activation="softmax"),
        ]
    )
    net.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    with stage_bar(EPOCHS, "training the Keras demo model", "epoch") as bar:
        advance = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: bar.update())
        net.fit(x, y, epochs=EPOCHS, batch_size=32, verbose=0, callbacks=[advance])
    _publish(target, lambda tmp: net.save(tmp), "probabilities", "NHWC")


def _publish(target: Path, save: Any, outputs: str, layout: str) -> None:
    """Save a model and its card so a half-written model is never picked up from the cache."""
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        staged = Path(tmp) / target.name
        save(staged)
        ModelCard(CLASSES, transform(layout), outputs).save(staged)
        os.replace(staged, target)
        os.replace(staged.with_suffix(".evalkit.json"), target.with_suffix(".evalkit.json"))


def demo_models(root: Path, train: Path) -> list[str]:
    """Model ids of the two demo models, training whichever is not cached yet."""
    models = []
    for name, trainer, scheme in (
        ("digits-cnn-torch.pt2", train_torch, "torch-export"),
        ("digits-cnn-keras.keras", train_keras, "keras-file"),
    ):
        target = root / name
        if not target.with_suffix(".evalkit.json").is_file():
            trainer(train, target)
        models.append(f"{scheme}:{target}")
    return models


@contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Hold an exclusive lock on the cache, so concurrent processes build it only once."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, the staged writes still never expose halves
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_demo(cache: Path | None = None) -> tuple[list[str], Path]:
    """The demo's model ids and its held-out ImageFolder, built (once) in the cache."""
    root = cache_root(cache)
    with _locked(root):
        train, test = write_digits(root)
        return demo_models(root, train), test


def run_demo(out: Path, cache: Path | None = None) -> list[RunResult]:
    from evalkit.report import print_summary, write_report

    models, test = prepare_demo(cache)
    # evaluated afresh each time (no prediction cache): the demo shows real timings too
    runs = evaluate_many(
        models, test, batch_size=64, out=out, cache=False, progress=sys.stderr.isatty()
    )
    path = save_results(runs, out)
    print_summary(runs)
    print(f"results: {path}")
    print(f"report: {write_report(runs, out)['html']}")
    return runs
