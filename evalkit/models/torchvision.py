"""``torchvision:<model>[@WEIGHTS]``: torchvision classification models and their weights enums.

Preprocessing is the weights entry's own ``transforms()`` (e.g. ResNet50 IMAGENET1K_V2: resize
232, center crop 224, bilinear, ImageNet mean/std), reproduced exactly by
:class:`~evalkit.preprocess.ImageTransform` and recorded in the results.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from evalkit._frameworks import import_torch
from evalkit.errors import EvalkitError, MissingWeightsError
from evalkit.labels import LabelSpace
from evalkit.models._torch import TorchInference, load_state_dict
from evalkit.models.base import (
    PRECISIONS,
    Inference,
    ModelRequest,
    TransformThenInfer,
    describe_model,
    did_you_mean,
    is_offline,
    weights_record,
)
from evalkit.preprocess import ImageTransform
from evalkit.results import ModelInfo, Weights


def _torchvision() -> Any:
    import_torch()
    import torchvision

    return torchvision


def model_names() -> list[str]:
    return sorted(_torchvision().models.list_models(module=_torchvision().models))


def _check_name(name: str) -> str:
    names = model_names()
    if name in names:
        return name
    lowered = {n.lower(): n for n in names}
    if name.lower() in lowered:
        return lowered[name.lower()]
    hint = did_you_mean(name, names, prefix="torchvision:")
    raise EvalkitError(
        f"unknown torchvision model {name!r}; {hint or 'see `evalkit models` for the list'}"
    )


def _weights_entry(name: str, tag: str | None) -> Any:
    enum = _torchvision().models.get_model_weights(name)
    if tag is None or tag == "DEFAULT":
        return enum.DEFAULT
    try:
        return enum[tag]
    except KeyError:
        tags = ", ".join(w.name for w in enum)
        raise EvalkitError(f"torchvision:{name} has no weights {tag!r}; choose {tags}") from None


def cache_file(weights: Any) -> Path:
    """Where torchvision's loader keeps this weights entry (``$TORCH_HOME/hub/checkpoints``)."""
    return TorchvisionAdapter.weights_cache() / Path(weights.url).name


def _resolve_weights(
    model_id: str, weights: Any, weights_file: Path | None
) -> tuple[dict[str, Any], Weights]:
    cached = cache_file(weights)
    if weights_file is not None:
        path, source = weights_file, "file"
    elif cached.is_file():
        path, source = cached, "cache"
    elif not is_offline() and _download(weights):
        path, source = cached, "download"
    else:
        raise MissingWeightsError(
            f"weights for {model_id} not found at {cached} and not downloadable here; copy "
            f"{weights.url} there, or pass --weights {model_id}=FILE (a state_dict)"
        )
    published_prefix = cached.stem.rsplit("-", 1)[-1]
    record = weights_record(path, source, name=str(weights), url=weights.url)
    record.matches_published = str(record.sha256).startswith(published_prefix)
    return load_state_dict(path), record


def _download(weights: Any) -> bool:
    torch = import_torch()
    try:
        torch.hub.load_state_dict_from_url(weights.url, check_hash=True, weights_only=True)
    except (OSError, RuntimeError):  # URLError is an OSError
        return False
    return True


def transform_of(weights: Any) -> ImageTransform:
    """The weights entry's ``transforms()`` as an :class:`ImageTransform`."""
    official = weights.transforms()
    return ImageTransform(
        crop=int(official.crop_size[0]),
        resize=int(official.resize_size[0]),
        interpolation=official.interpolation.value,
        mean=tuple(official.mean),
        std=tuple(official.std),
        layout="NCHW",
    )


class TorchvisionAdapter(TransformThenInfer):
    framework = "torch"
    precisions: ClassVar[tuple[str, ...]] = PRECISIONS
    id_form = "torchvision:NAME[@WEIGHTS]"
    model_names = staticmethod(model_names)

    @classmethod
    def weights_tags(cls, name: str) -> list[str]:
        return [w.name for w in _torchvision().models.get_model_weights(name)]

    @classmethod
    def weights_cache(cls) -> Path:
        """Where torchvision's loader keeps downloaded weights."""
        return Path(import_torch().hub.get_dir()) / "checkpoints"

    @classmethod
    def save_untrained(cls, name: str, target: Path) -> None:
        """A weights file of the architecture with random values (for speed measurements)."""
        torch = import_torch()
        torch.save(_torchvision().models.get_model(name).state_dict(), target)

    def __init__(self, request: ModelRequest) -> None:
        name = _check_name(request.name)
        self.weights = _weights_entry(name, request.tag)
        self.id = model_id = request.id
        model = _torchvision().models.get_model(name, weights=None)
        state, self.weights_info = _resolve_weights(model_id, self.weights, request.weights_file)
        try:
            model.load_state_dict(state)
        except RuntimeError as error:
            detail = [line.strip() for line in str(error).splitlines() if line.strip()][-1]
            raise EvalkitError(
                f"weights file {self.weights_info.file} does not fit {model_id}: {detail}"
            ) from None
        self.inference: Inference = TorchInference(
            model.eval(), request.device, execution=request.execution
        )
        self.transform = transform_of(self.weights)
        self.labels = LabelSpace.imagenet1k()
        self.published = dict(self.weights.meta.get("_metrics", {}).get("ImageNet-1K", {}))

    def describe(self) -> ModelInfo:
        preprocessing = self.transform.describe()
        preprocessing["source"] = f"torchvision.models.{self.weights}.transforms()"
        return describe_model(
            self,
            self.weights_info,
            preprocessing,
            published_metrics=self.published,
            params=self.inference.parameter_count(),
        )

    def runtime(self) -> dict[str, Any]:
        return self.inference.runtime() | {"torchvision": _torchvision().__version__}
