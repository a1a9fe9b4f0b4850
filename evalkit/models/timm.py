"""``timm:NAME[@TAG]``: timm's architectures with their own pretrained configuration.

The preprocessing is timm's evaluation transform for the weights' pretrained config
(``resolve_data_config``: input size, ``crop_pct``, interpolation, mean/std), reproduced with
:class:`~evalkit.preprocess.ImageTransform` (shorter side to ``floor(size / crop_pct)``, centre
crop, as ``timm.data.create_transform`` does) and tested against timm's own transform.

Weights come from ``--weights timm:NAME=FILE``, else the Hugging Face cache (or the torch hub
cache for URL-only configs) where timm's loader looks, else a download (disabled with
``EVALKIT_OFFLINE=1``: then a missing file is one line naming where it was looked for).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from evalkit._frameworks import import_torch
from evalkit.errors import EvalkitError, MissingWeightsError
from evalkit.labels import LabelSpace
from evalkit.models._torch import TorchInference
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

HF_FILES = ("model.safetensors", "pytorch_model.bin")


def import_timm() -> Any:
    import_torch()  # the one import order (see evalkit._frameworks)
    try:
        import timm
    except ImportError:
        raise EvalkitError("timm models need timm: pip install 'evalkit[timm]'") from None
    return timm


def full_name(name: str, tag: str | None) -> str:
    """``NAME@TAG`` (evalkit's spelling) as timm's ``NAME.TAG``."""
    return f"{name}.{tag}" if tag else name


def pretrained_cfg(name: str) -> Any:
    """timm's pretrained config of ``name`` (``arch`` or ``arch.tag``), or a did-you-mean."""
    timm = import_timm()
    known = timm.list_pretrained()
    arch = name.split(".")[0]
    if name not in known and arch not in timm.list_models():
        hint = did_you_mean(arch, timm.list_models()) or did_you_mean(name, known)
        raise EvalkitError(
            f"unknown timm model {name!r}{'; ' + hint if hint else ''} "
            "(timm.list_pretrained() lists them)"
        )
    cfg = timm.get_pretrained_cfg(name)
    if cfg is None:
        raise EvalkitError(f"timm has no pretrained weights for {name!r}; add a tag: {arch}.TAG")
    return cfg


def transform_from_config(config: dict[str, Any], layout: str = "NCHW") -> ImageTransform:
    """timm's evaluation transform (``create_transform(**config)``) as an ImageTransform."""
    _, height, width = config["input_size"]
    if height != width:
        raise EvalkitError(f"timm input size {height}x{width} is not square; evalkit needs square")
    crop_pct = float(config.get("crop_pct") or 0.875)
    mode = config.get("crop_mode") or "center"
    if mode == "squash" and crop_pct == 1.0:
        resize = None
    elif mode == "center":
        resize = math.floor(height / crop_pct)
    else:
        raise EvalkitError(f"timm crop_mode {mode!r} (crop_pct {crop_pct}) is not supported yet")
    return ImageTransform(
        crop=int(height),
        resize=resize,
        interpolation=str(config.get("interpolation") or "bilinear"),
        mean=tuple(float(v) for v in config["mean"]),  # type: ignore[arg-type]
        std=tuple(float(v) for v in config["std"]),  # type: ignore[arg-type]
        layout="NHWC" if layout == "NHWC" else "NCHW",
    )


def timm_transform(name: str, layout: str = "NCHW") -> ImageTransform:
    """The transform of timm's pretrained config ``name`` (for ``--preprocess timm:NAME``)."""
    timm = import_timm()
    cfg = pretrained_cfg(name)
    config = timm.data.resolve_data_config(pretrained_cfg=cfg.to_dict())
    return transform_from_config(config, layout)


def cached_weights(cfg: Any) -> tuple[Path | None, str]:
    """The cached weights file timm would load, and where it was looked for."""
    if cfg.hf_hub_id:
        from huggingface_hub import constants, try_to_load_from_cache

        repo = cfg.hf_hub_id.split("@")[0]
        for filename in (cfg.hf_hub_filename, *HF_FILES) if cfg.hf_hub_filename else HF_FILES:
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return Path(found), found
        folder = Path(constants.HF_HUB_CACHE) / f"models--{repo.replace('/', '--')}"
        return None, f"{folder}/snapshots/*/{HF_FILES[0]}"
    if cfg.url:
        torch = import_torch()
        target = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(cfg.url)
        return (target if target.is_file() else None), str(target)
    return None, "nowhere (the config names no weights)"


class TimmAdapter(TransformThenInfer):
    framework = "torch"
    precisions: ClassVar[tuple[str, ...]] = PRECISIONS
    takes_preprocess: ClassVar[bool] = False
    id_form = "timm:NAME[@TAG] (timm's pretrained config; timm.list_pretrained())"

    @classmethod
    def weights_cache(cls) -> str:
        from huggingface_hub import constants

        return str(constants.HF_HUB_CACHE)

    def __init__(self, request: ModelRequest) -> None:
        timm = import_timm()
        self.id = request.id
        name = full_name(request.name, request.tag)
        cfg = pretrained_cfg(name)
        module, self.weights_info = self._create(timm, name, cfg, request)
        module.eval()
        config = timm.data.resolve_data_config({}, model=module)
        self.config = config
        self.transform = transform_from_config(config)
        self.labels = _label_space(module.num_classes, name)
        self.inference: Inference = TorchInference(
            module, request.device, "logits", request.execution
        )

    def _create(self, timm: Any, name: str, cfg: Any, request: ModelRequest) -> tuple[Any, Weights]:
        path: Path | None
        looked = "the Hugging Face cache"
        if request.weights_file is not None:
            path, source = request.weights_file, "file"
        else:
            path, looked = cached_weights(cfg)
            source = "cache"
            if path is None and is_offline():
                raise MissingWeightsError(
                    f"weights for {request.id} are not cached ({looked}) and downloads are off "
                    f"(EVALKIT_OFFLINE=1); pass --weights {request.id}=FILE (.safetensors/.pth)"
                )
        if path is not None and not path.is_file():
            raise EvalkitError(f"weights file not found: {path}")
        overlay = {"file": str(path)} if path is not None else None
        try:
            with _quiet_hub():
                module = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay)
        except (OSError, RuntimeError, ValueError, KeyError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
            where = f"{path}" if path is not None else f"a download (not cached: {looked})"
            raise MissingWeightsError(
                f"cannot load weights for {request.id} from {where}: {reason[:200]}; pass "
                f"--weights {request.id}=FILE"
            ) from None
        return module, weights_record(path, source if path else "download", name=name)

    def describe(self) -> ModelInfo:
        preprocessing = self.transform.describe()
        preprocessing["source"] = "timm.data.resolve_data_config (pretrained config)"
        preprocessing["crop_pct"] = self.config.get("crop_pct")
        return describe_model(
            self, self.weights_info, preprocessing, params=self.inference.parameter_count()
        )

    def runtime(self) -> dict[str, Any]:
        return self.inference.runtime()


@contextlib.contextmanager
def _quiet_hub() -> Iterator[None]:
    """huggingface_hub logs every retry of a failed download; the one error line says it."""
    logger = logging.getLogger("huggingface_hub")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def _label_space(num_classes: int, name: str) -> LabelSpace:
    if num_classes in (1000, 1001):
        return LabelSpace.imagenet1k(background=num_classes == 1001)
    raise EvalkitError(
        f"timm:{name} has {num_classes} outputs; evalkit evaluates ImageNet-1k timm weights "
        "(pick a *_in1k tag), or export the model with a card listing its classes"
    )
