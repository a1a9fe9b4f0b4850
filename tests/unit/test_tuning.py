"""Measured defaults (batch size and layout probes, their cache) and the allocator setting."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from evalkit import tuning
from evalkit.allocator import TUNED_TEXT
from evalkit.errors import EvalkitError
from evalkit.options import EvalOptions
from evalkit.registry import load_model

# allocate and free a 64 MiB buffer 20 times, touching every page; print the minor page faults
FAULTS = """
import resource, sys
import numpy as np
if sys.argv[1] == "tuned":
    from evalkit.allocator import tune_allocator
    assert tune_allocator().startswith("glibc, large buffers reused"), tune_allocator()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    buffer = np.ones(8 * 2**20)  # 64 MiB of float64, above glibc's largest mmap threshold
    del buffer
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(script: str, *args: str) -> int:
    """The number ``script`` prints last, run in a fresh process (its own heap and faults)."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_tuned_allocator_reuses_large_buffers_instead_of_faulting_them_in_again() -> None:
    default, tuned = _faults(FAULTS, "default"), _faults(FAULTS, "tuned")
    # glibc maps and unmaps each 64 MiB buffer: every page (at least every 2 MiB huge page)
    # faults in again, 20 times over; tuned, the heap keeps the block and only the first pass
    # faults (measured: 10,880 against 493)
    assert default >= 20 * 64 // 2, default
    assert tuned < default / 5, (tuned, default)


# between shards: a batch's 64 MiB freed, the free heap released, the next batch allocated
BETWEEN_SHARDS = """
import resource
import numpy as np
from evalkit.allocator import release_free_memory, tune_allocator
assert tune_allocator().startswith("glibc, large buffers reused"), tune_allocator()
faults = []
for _ in range(5):
    buffer = np.ones(8 * 2**20)
    del buffer
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    release_free_memory()
    buffer = np.ones(8 * 2**20)
    del buffer
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(min(faults))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_the_next_shard_reuses_the_free_top_of_the_heap_without_faulting_it_in() -> None:
    # trimming the whole heap (0.6.4) gave the 64 MiB back, to be faulted in again (543 faults)
    assert _faults(BETWEEN_SHARDS) < 16


ALLOCATOR_STATE = (
    "from evalkit._frameworks import import_torch; import_torch(); "
    "from evalkit.allocator import allocator_state; print(allocator_state())"
)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, TUNED_TEXT),
        ({"EVALKIT_ALLOCATOR": "system"}, "system default (EVALKIT_ALLOCATOR=system)"),
        ({"MALLOC_ARENA_MAX": "2", "MALLOC_MMAP_MAX_": "10"}, "user's settings"),
        ({"LD_PRELOAD": "/nonexistent/libtcmalloc_minimal.so.4"}, "tcmalloc (preloaded"),
    ],
)
def test_allocator_is_tuned_on_framework_import_unless_the_user_chose(
    env: dict[str, str], expected: str
) -> None:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run(
        [sys.executable, "-c", ALLOCATOR_STATE],
        capture_output=True,
        text=True,
        env=clean | env,
        check=True,
    )
    assert expected in done.stdout.strip().splitlines()[-1]


def test_batch_size_and_layout_options() -> None:
    options = EvalOptions()
    assert (options.batch_size, options.channels_last, options.runtime) == ("auto", "auto", "eager")
    assert options.images_per_shard == options.shard_size
    assert EvalOptions(batch_size="48").batch_size == 48
    assert EvalOptions(batch_size=48).images_per_shard == 288
    assert EvalOptions(channels_last="on").channels_last is True
    assert EvalOptions(channels_last="off").execution.channels_last is False
    for bad, message in [
        ({"batch_size": 0}, "batch size must be a positive number"),
        ({"batch_size": "big"}, "batch size must be 'auto' or a positive number"),
        ({"channels_last": "maybe"}, "channels_last must be auto, on or off"),
        ({"runtime": "tensorrt"}, "unknown runtime 'tensorrt'"),
    ]:
        with pytest.raises(EvalkitError, match=message):
            EvalOptions(**bad)
    assert EvalOptions(runtime="onnxruntime").identity()["runtime"] == "onnxruntime"


class _Fake:
    """An adapter stand-in whose predict speed is scripted per (layout, batch size)."""

    id = "fake:model"
    framework = "torch"

    def __init__(self, rates: dict[tuple[bool, int], float]) -> None:
        self.rates = rates
        self.inference = self
        self.device = "cpu"
        self.layout = False
        self.agreement: dict[str, Any] = {}
        self.labels = SimpleNamespace(num_outputs=3)

    def use_channels_last(self, enabled: bool) -> bool:
        self.layout = enabled
        return True

    def preprocess(self, image: Any) -> np.ndarray:
        return np.zeros((3, 4, 4), dtype=np.float32)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        scores = np.full((len(batch), 3), 0.25, dtype=np.float32)
        scores[:, 1 if self.layout else 0] = 0.5  # the layouts disagree on every image
        return scores

    def runtime(self) -> dict[str, Any]:
        return {"device": "cpu", "torch": "x", "threads": 2}


def _scripted(monkeypatch: pytest.MonkeyPatch, fake: _Fake) -> list[tuple[bool, int]]:
    """The settings timed, in order (each is timed ``tuning.ROUNDS`` times)."""
    calls: list[tuple[bool, int]] = []

    def timed(adapter: _Fake, batch: np.ndarray) -> float:
        if (adapter.layout, len(batch)) not in calls:
            calls.append((adapter.layout, len(batch)))
        return fake.rates[adapter.layout, len(batch)]

    monkeypatch.setattr(tuning, "_timed", timed)
    return calls


def test_probe_takes_the_faster_layout_and_the_largest_batch_near_the_best(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # 32 and 64 within 3% of each other: the larger batch is taken
    fake = _Fake({(False, 16): 10.0, (True, 16): 14.0, (True, 32): 18.3, (True, 64): 18.0})
    calls = _scripted(monkeypatch, fake)
    chosen = tuning.tune(fake, EvalOptions(cache_dir=tmp_path))  # type: ignore[arg-type]
    assert (chosen.batch_size, chosen.channels_last, chosen.source) == (64, True, "probe")
    assert calls == [(False, 16), (True, 16), (True, 32), (True, 64)]
    assert fake.layout is True  # the model is left in the chosen layout
    record = chosen.record()
    assert record["batch_size"] == 64 and record["channels_last"] is True
    assert record["tuning"]["img_s"]["batch 16, contiguous"] == 10.0
    # the layouts' predictions are compared on the probe images: here their top-1 differs
    assert record["tuning"]["agreement"]["top1"] == 0.0
    # cached: the same choice without probing again
    calls.clear()
    again = tuning.tune(fake, EvalOptions(cache_dir=tmp_path))  # type: ignore[arg-type]
    assert (again.batch_size, again.channels_last, again.source) == (64, True, "cached probe")
    assert calls == []
    assert len(json.loads((tmp_path / "tuning.json").read_text())) == 1


def test_probe_stops_growing_the_batch_once_throughput_falls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _Fake({(False, 16): 20.0, (True, 16): 12.0, (False, 32): 15.0, (False, 64): 30.0})
    calls = _scripted(monkeypatch, fake)
    chosen = tuning.tune(fake, EvalOptions(cache_dir=tmp_path))  # type: ignore[arg-type]
    assert (chosen.batch_size, chosen.channels_last) == (16, False)
    assert (False, 64) not in calls  # 15 < 0.97 x 20: larger batches are not tried


def test_given_values_win_and_skip_the_probe(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _Fake({})
    calls = _scripted(monkeypatch, fake)
    options = EvalOptions(batch_size=8, channels_last=True, cache_dir=tmp_path)
    chosen = tuning.tune(fake, options)  # type: ignore[arg-type]
    assert (chosen.batch_size, chosen.channels_last, chosen.source) == (8, True, "given")
    assert calls == [] and fake.layout is True
    assert not (tmp_path / "tuning.json").exists()


def test_an_unwritable_cache_only_means_probing_every_time(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _Fake({(False, 16): 10.0, (True, 16): 9.0, (False, 32): 9.5, (False, 64): 8.0})
    _scripted(monkeypatch, fake)
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    chosen = tuning.tune(fake, EvalOptions(cache_dir=blocked / "cache"))  # type: ignore[arg-type]
    assert (chosen.batch_size, chosen.source) == (16, "probe")


def test_probe_images_are_real_photographs_through_the_model_preprocessing(
    demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, _ = demo
    adapter = load_model(models["torch"])
    batch = tuning.probe_batch(adapter, 12)
    assert batch.shape[0] == 12 and batch.dtype == np.float32
    assert len({row.tobytes() for row in batch}) == tuning.PROBE_IMAGES  # 8 distinct crops
    chosen = tuning.tune(adapter, EvalOptions(cache_dir=tmp_path))
    assert chosen.batch_size in tuning.CPU_BATCHES and chosen.source == "probe"
    agreement = chosen.record()["tuning"]["agreement"]
    assert agreement["top1"] == 1.0 and agreement["max_abs_dp"] < 1e-4
    assert adapter.runtime()["channels_last"] is chosen.channels_last


def test_layouts_are_timed_in_turns_and_the_best_round_counts(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = _Fake({})
    order: list[bool] = []
    bursts = iter([5.0, 18.0, 19.0, 10.0])  # a burst of load slows channels-last's first round

    def timed(adapter: _Fake, batch: np.ndarray) -> float:
        order.append(adapter.layout)
        return next(bursts) if len(batch) == 16 else 1.0

    monkeypatch.setattr(tuning, "_timed", timed)
    record = tuning.probe(fake, (16, 32), (True, False))  # type: ignore[arg-type]
    assert order[:4] == [True, False, True, False]
    assert record["channels_last"] is True and record["img_s"]["batch 16, channels_last"] == 19.0
