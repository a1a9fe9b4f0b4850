"""What ``--corruptions`` names: the ImageNet-C corruptions, their groups and severities, and
the parsing of ``imagenet-c[:SEVERITIES]``. Standard library only (the options and the pytest
plugin read it at start-up); the corruptions themselves are :mod:`evalkit.data.corruptions`.
"""

from __future__ import annotations

from dataclasses import dataclass

from evalkit.errors import EvalkitError
from evalkit.naming import did_you_mean

BENCHMARK = "imagenet-c"
CORRUPTIONS: tuple[str, ...] = (
    "gaussian_noise",
    "shot_noise",
    "impulse_noise",
    "defocus_blur",
    "glass_blur",
    "motion_blur",
    "zoom_blur",
    "snow",
    "frost",
    "fog",
    "brightness",
    "contrast",
    "elastic_transform",
    "pixelate",
    "jpeg_compression",
)
GROUPS: dict[str, tuple[str, ...]] = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
SEVERITIES: tuple[int, ...] = (1, 2, 3, 4, 5)
#: Corruptions whose output depends on the seed (the others are deterministic functions).
STOCHASTIC: frozenset[str] = frozenset(
    {
        "gaussian_noise",
        "shot_noise",
        "impulse_noise",
        "glass_blur",
        "motion_blur",
        "snow",
        "frost",
        "fog",
        "elastic_transform",
    }
)
# jpeg: the corrupted crop goes through the reference's quality-85 JPEG file (in memory);
# memory: straight to the model
PROTOCOLS = ("jpeg", "memory")
# bump when a corruption's pixels change: cached predictions of corrupted samples are keyed on it
# 2: shot noise by inversion; 3: five frost textures drawn once, float32 arithmetic, glass draws
IMPLEMENTATION = 3


@dataclass(frozen=True)
class CorruptionSet:
    """The corruptions and severities a run evaluates (every pair of the two)."""

    corruptions: tuple[str, ...]
    severities: tuple[int, ...]

    @property
    def complete(self) -> bool:
        """All 15 corruptions at all 5 severities: an mCE comparable with published ones."""
        return self.corruptions == CORRUPTIONS and self.severities == SEVERITIES

    @property
    def spec(self) -> str:
        """The canonical ``--corruptions`` text (``imagenet-c``, ``noise,fog:1,3``)."""
        names = BENCHMARK if self.corruptions == CORRUPTIONS else ",".join(self.corruptions)
        levels = "" if self.severities == SEVERITIES else ":" + ",".join(map(str, self.severities))
        return names + levels

    def pairs(self) -> list[tuple[str, int]]:
        return [(name, level) for name in self.corruptions for level in self.severities]


def parse_corruptions(text: str) -> CorruptionSet:
    """``imagenet-c``, ``imagenet-c:3``, ``imagenet-c:1,3,5``, ``noise,fog:2`` (groups: noise,
    blur, weather, digital; or corruption names) as a :class:`CorruptionSet`; a one-line error
    naming the choices otherwise."""
    names, colon, levels = text.strip().partition(":")
    chosen: list[str] = []
    for part in (p.strip() for p in names.split(",")):
        if part == BENCHMARK:
            chosen += CORRUPTIONS
        elif part in GROUPS:
            chosen += GROUPS[part]
        elif part in CORRUPTIONS:
            chosen.append(part)
        else:
            choices = (BENCHMARK, *GROUPS, *CORRUPTIONS)
            hint = did_you_mean(part, choices)
            raise EvalkitError(
                f"unknown corruption {part!r} in --corruptions {text!r}"
                f"{'; ' + hint if hint else ''} (use imagenet-c[:SEVERITIES], a group "
                f"({', '.join(GROUPS)}) or corruption names, comma-separated)"
            )
    order = {name: i for i, name in enumerate(CORRUPTIONS)}
    corruptions = tuple(sorted(set(chosen), key=order.__getitem__))
    return CorruptionSet(corruptions, _severities(levels, text) if colon else SEVERITIES)


def _severities(levels: str, text: str) -> tuple[int, ...]:
    try:
        values = {int(part) for part in levels.split(",") if part.strip()}
    except ValueError:
        values = set()
    if not values or not values <= set(SEVERITIES):
        raise EvalkitError(
            f"--corruptions {text!r}: severities are 1 to 5, comma-separated, after a single "
            "colon at the end, and apply to every corruption named (imagenet-c:1,3,5; fog,noise:2)"
        )
    return tuple(sorted(values))
