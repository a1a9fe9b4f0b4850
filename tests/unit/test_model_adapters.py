"""Adapters: weights resolution (file, framework cache, offline), label spaces, preprocessing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evalkit._frameworks import import_tensorflow, import_torch
from evalkit.data.decode import decode_image
from evalkit.errors import EvalkitError
from evalkit.registry import load_model, parse_model_id

MOBILENET_CACHE_NAME = "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5"


@pytest.fixture(scope="session")
def resnet18_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch = import_torch()
    import torchvision

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18-untrained.pth"
    torch.save(torchvision.models.resnet18().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def mobilenet_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import_tensorflow()
    import keras

    path = tmp_path_factory.mktemp("weights") / "mobilenet_v2.weights.h5"
    keras.applications.MobileNetV2(weights=None).save_weights(path)
    return path


@pytest.fixture(scope="session")
def mobilenet_legacy_h5(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An (untrained) weights file in the legacy HDF5 layout Keras' published files use."""
    import_tensorflow()
    import h5py
    import keras
    from keras.src.legacy.saving import legacy_h5_format

    path = tmp_path_factory.mktemp("weights") / MOBILENET_CACHE_NAME
    with h5py.File(path, "w") as handle:
        legacy_h5_format.save_weights_to_hdf5_group(
            handle, keras.applications.MobileNetV2(weights=None)
        )
    return path


def test_torchvision_weights_file_is_loaded_and_hashed(resnet18_state: Path) -> None:
    adapter = load_model(
        "torchvision:resnet18", device="cpu", weights={"torchvision:resnet18": resnet18_state}
    )
    info = adapter.describe()
    assert info.weights.source == "file"
    assert len(str(info.weights.sha256)) == 64
    assert info.weights.matches_published is False  # untrained, not the published file
    assert info.weights.name == "ResNet18_Weights.IMAGENET1K_V1"
    assert info.published_metrics["acc@1"] == pytest.approx(69.758)
    assert adapter.labels.num_outputs == 1000
    batch = np.zeros((2, 3, 224, 224), dtype=np.float32)
    probs = adapter.predict(batch)
    assert probs.shape == (2, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_torchvision_cache_is_where_the_real_loader_looks(resnet18_state: Path) -> None:
    from evalkit.models.torchvision import cache_file

    torch = import_torch()
    import torchvision

    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    expected = Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert cache_file(weights) == expected
    expected.parent.mkdir(parents=True, exist_ok=True)
    expected.write_bytes(resnet18_state.read_bytes())
    try:
        # torchvision's own loader finds the same file without a download
        model = torchvision.models.resnet18(weights=weights)
        adapter = load_model("torchvision:resnet18@IMAGENET1K_V1", device="cpu")
        assert adapter.describe().weights.source == "cache"
        ours = adapter.inference.module.state_dict()  # type: ignore[attr-defined]
        for key, value in model.state_dict().items():
            assert torch.equal(ours[key], value)
    finally:
        expected.unlink()


def test_missing_torchvision_weights_offline_names_file_and_flag() -> None:
    with pytest.raises(EvalkitError) as error:
        load_model("torchvision:resnet18", device="cpu")
    message = str(error.value)
    assert "resnet18-f37072fd.pth" in message and os.environ["TORCH_HOME"] in message
    assert "--weights torchvision:resnet18=FILE" in message


def test_wrong_state_dict_is_a_clear_error(tmp_path: Path) -> None:
    torch = import_torch()
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(EvalkitError, match="does not fit torchvision:resnet18"):
        load_model("torchvision:resnet18", device="cpu", weights={"torchvision:resnet18": path})
    path.write_bytes(b"garbage")
    with pytest.raises(EvalkitError, match=r"other\.pth is not a PyTorch weights file"):
        load_model("torchvision:resnet18", device="cpu", weights={"torchvision:resnet18": path})


class _RunsCode:
    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (os.system, ("touch should-not-exist",))


def test_pickle_with_code_is_refused_without_advice_to_disable_the_protection(
    tmp_path: Path, recwarn: pytest.WarningsRecorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A weights file that would run code says what it refers to and why it is refused, never
    to turn weights_only off; torch's unpickler warning does not leak."""
    torch = import_torch()
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": torch.zeros(2), "payload": _RunsCode()}, path)
    with pytest.raises(EvalkitError) as caught:
        load_model("torchvision:resnet18", device="cpu", weights={"torchvision:resnet18": path})
    message = str(caught.value)
    assert "system" in message and "weights_only=True" in message and "refuses code" in message
    assert "weights_only=False" not in message and "set to `False`" not in message
    assert not (tmp_path / "should-not-exist").exists()
    assert not [w for w in recwarn if "pickle" in str(w.message)]


@pytest.mark.parametrize(
    "model_id,message",
    [
        ("torchvision:resnet5O", "did you mean torchvision:resnet50"),
        ("torchvision:resnet50@IMAGENET1K_V9", "IMAGENET1K_V1, IMAGENET1K_V2"),
        ("keras:MobileNetV3", "did you mean keras:MobileNetV2"),
        ("torchvison:resnet50", "did you mean torchvision:resnet50"),
        ("resnet50", "model ids look like"),
        ("torchvision:", "names no model"),
    ],
)
def test_unknown_models(model_id: str, message: str) -> None:
    with pytest.raises(EvalkitError, match=message):
        load_model(model_id, device="cpu")


def test_model_id_parsing() -> None:
    assert str(parse_model_id("torchvision:resnet50@IMAGENET1K_V1")) == (
        "torchvision:resnet50@IMAGENET1K_V1"
    )
    assert parse_model_id("torch-export:/a@b/model.pt2").name == "/a@b/model.pt2"


def test_cuda_request_without_gpu(resnet18_state: Path) -> None:
    torch = import_torch()
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(EvalkitError, match="no CUDA GPU"):
        load_model(
            "torchvision:resnet18", device="cuda", weights={"torchvision:resnet18": resnet18_state}
        )


def test_keras_preprocessing_is_the_applications_own(
    mobilenet_weights: Path, photo_files: list[Path]
) -> None:
    import keras

    adapter = load_model(
        "keras:MobileNetV2", device="cpu", weights={"keras:MobileNetV2": mobilenet_weights}
    )
    spec = adapter.describe().preprocessing
    assert adapter.describe().published_metrics == {}  # a local file: not Keras' own weights
    assert (spec.resize, spec.crop, spec.layout) == (256, 224, "NHWC")
    assert spec.then == "keras.applications.mobilenet_v2.preprocess_input"
    assert spec.then_maps == {"0": [-1.0, -1.0, -1.0], "255": [1.0, 1.0, 1.0]}
    for path in photo_files:
        image = decode_image(path.read_bytes())
        side = 256 / min(image.size)
        resized = image.resize(
            (
                int(image.width * side) if image.width > image.height else 256,
                int(image.height * side) if image.height > image.width else 256,
            ),
            resample=2,
        )
        left, top = round((resized.width - 224) / 2), round((resized.height - 224) / 2)
        crop = np.asarray(resized.crop((left, top, left + 224, top + 224)), dtype=np.float32)
        expected = keras.applications.mobilenet_v2.preprocess_input(crop)
        got = adapter.preprocess(image)
        np.testing.assert_allclose(got, expected, atol=1e-6)
        assert got.min() >= -1.0 and got.max() <= 1.0


def test_keras_weights_from_cache_and_missing(mobilenet_legacy_h5: Path) -> None:
    cached = Path(os.environ["KERAS_HOME"]) / "models" / MOBILENET_CACHE_NAME
    with pytest.raises(EvalkitError) as error:
        load_model("keras:MobileNetV2", device="cpu")
    assert str(cached) in str(error.value) and "--weights keras:MobileNetV2=FILE" in str(
        error.value
    )
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(b"not hdf5")
    with pytest.raises(EvalkitError, match="cannot be loaded"):
        load_model("keras:MobileNetV2", device="cpu")
    cached.write_bytes(mobilenet_legacy_h5.read_bytes())
    try:
        adapter = load_model("keras:MobileNetV2", device="cpu")
        info = adapter.describe().weights
        assert info.source == "cache" and info.file == str(cached)
        # keras.io's table (evalkit.models.keras_published), for the published-accuracy guard
        assert adapter.describe().published_metrics == {"acc@1": 71.3, "acc@5": 90.1}
        probs = adapter.predict(np.zeros((3, 224, 224, 3), dtype=np.float32))
        assert probs.shape == (3, 1000)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)
    finally:
        cached.unlink()
