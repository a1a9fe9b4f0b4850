"""Durable evaluation: shards committed atomically, resumed after SIGKILL at any point, broken
shard files evaluated again, Ctrl-C, and the prediction cache. On the demo's torch model and
its 540 real digits: 9 shards of 64 images (2 batches of 32)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import evalkit
from evalkit.driver import Interrupted
from evalkit.executors.local import LocalExecutor
from evalkit.results import RunResult, load_results
from helpers import assert_user_error, run_cli

SHARDING = ("--batch-size", "32", "--shard-size", "64", "--no-cache")


def _run(model: str, data: Path, out: Path, *extra: str, env: dict[str, str] | None = None) -> Any:
    return run_cli(
        "run", "--model", model, "--data", data, "--out", out, *SHARDING, *extra, env=env
    )


@pytest.fixture(scope="module")
def reference(demo: tuple[dict[str, str], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An uninterrupted run."""
    models, data = demo
    out = tmp_path_factory.mktemp("reference")
    done = _run(models["torch"], data, out)
    assert done.returncode == 0, done.stderr
    return out


def _same_run(folder: Path, reference: Path) -> RunResult:
    """``folder`` holds exactly the reference's predictions (bit for bit) and metrics."""
    (run,) = load_results(folder)
    (ref,) = load_results(reference)
    pd.testing.assert_frame_equal(run.predictions, ref.predictions, check_exact=True)
    assert run.metrics == ref.metrics and run.dataset.fingerprint == ref.dataset.fingerprint
    return run


@pytest.mark.parametrize("fault", ["batch:7", "commit:3", "shard:5"])
def test_resume_after_sigkill_equals_an_uninterrupted_run(
    demo: tuple[dict[str, str], Path], reference: Path, tmp_path: Path, fault: str
) -> None:
    """Killed during a batch, between writing and renaming a shard, and right after a commit."""
    models, data = demo
    killed = _run(models["torch"], data, tmp_path, env={"EVALKIT_FAULT": fault})
    assert killed.returncode == -9, killed.stderr
    shards = sorted((tmp_path / "store").glob("*/shard-*.parquet"))
    assert len(shards) == {"batch:7": 3, "commit:3": 2, "shard:5": 5}[fault]
    assert not (tmp_path / "results.json").exists()
    resumed = _run(models["torch"], data, tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert not list((tmp_path / "store").glob("*/.*.tmp"))  # a half-written shard is cleared
    run = _same_run(tmp_path, reference)
    assert run.execution is not None
    assert run.execution.resumed == 64 * len(shards)
    assert run.execution.evaluated == 540 - run.execution.resumed


def test_broken_shard_files_are_evaluated_again(
    demo: tuple[dict[str, str], Path], reference: Path, tmp_path: Path
) -> None:
    models, data = demo
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    (store,) = (tmp_path / "store").iterdir()
    truncated = store / "shard-00002.parquet"
    truncated.write_bytes(truncated.read_bytes()[:500])
    (store / "shard-00004.parquet").write_bytes(b"not parquet at all")
    shutil.copy(store / "shard-00006.parquet", store / "shard-00007.parquet")  # another shard
    result = evalkit.evaluate(
        models["torch"], data, batch_size=32, shard_size=64, cache=False, out=tmp_path, resume=True
    )
    assert result.execution is not None
    assert result.execution.reevaluated_shards == 3 and result.execution.evaluated == 3 * 64
    evalkit.save_results([result], tmp_path)
    _same_run(tmp_path, reference)


def test_resume_refuses_a_different_run(
    demo: tuple[dict[str, str], Path], reference: Path, tmp_path: Path
) -> None:
    models, data = demo
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)
    done = _run(models["keras"], data, tmp_path, "--resume")  # would drop torch from the run
    assert done.returncode == 2 and "also evaluated torch-export_digits" in done.stderr
    done = _run(models["torch"], data, tmp_path, "--resume", "--per-class", "10")
    assert done.returncode == 2
    assert "cannot resume: the run in" in done.stderr and "options per_class" in done.stderr
    done = _run(models["torch"], data, tmp_path, "--resume", "--precision", "bf16")
    assert 'used options precision "fp32", this run has "bf16"' in done.stderr, done.stderr
    manifest = next((tmp_path / "store").glob("*/manifest.json"))
    manifest.write_text("{broken")
    done = _run(models["torch"], data, tmp_path, "--resume")
    assert done.returncode == 2 and "manifest.json is unreadable" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_ctrl_c_commits_what_is_done_and_says_how_to_resume(
    demo: tuple[dict[str, str], Path],
    reference: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    models, data = demo
    original = LocalExecutor.run

    def interrupted_after_three(self: LocalExecutor, works: Any) -> Iterator[Any]:
        for number, output in enumerate(original(self, works)):
            if number == 3:
                raise KeyboardInterrupt
            yield output

    monkeypatch.setattr(LocalExecutor, "run", interrupted_after_three)
    options = {"batch_size": 32, "shard_size": 64, "cache": False, "out": tmp_path}
    with pytest.raises(Interrupted, match=r"3 of 9 shards are committed in .*--resume") as stop:
        evalkit.evaluate(models["torch"], data, **options)
    assert stop.value.exit_code == 130
    monkeypatch.setattr(LocalExecutor, "run", original)
    result = evalkit.evaluate(models["torch"], data, **options, resume=True)
    assert result.execution is not None and result.execution.resumed == 3 * 64
    evalkit.save_results([result], tmp_path)
    _same_run(tmp_path, reference)


def _degraded(model: str, target: Path) -> str:
    """A copy of the torch demo model with other weights (never predicts 3)."""
    import torch

    source = Path(model.partition(":")[2])
    target.mkdir()
    program = torch.export.load(str(source))
    with torch.no_grad():
        program.state_dict["7.bias"][3] -= 1000.0
    torch.export.save(program, str(target / source.name))
    shutil.copy(
        source.with_suffix(".evalkit.json"), target / source.with_suffix(".evalkit.json").name
    )
    return f"torch-export:{target / source.name}"


def test_cache_evaluates_only_what_changed(
    demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, source = demo
    data = tmp_path / "data"
    shutil.copytree(source, data)
    options = {"batch_size": 32, "shard_size": 64, "cache_dir": tmp_path / "cache"}

    def counts(model: str = models["torch"]) -> tuple[int, int]:
        result = evalkit.evaluate(model, data, **options)
        assert result.execution is not None
        return result.execution.evaluated, result.execution.cached

    assert counts() == (540, 0)
    assert counts() == (0, 540)  # the same run again: nothing evaluated
    for i, image in enumerate(sorted((data / "3").glob("*.png"))[:10]):
        shutil.copy(image, data / "3" / f"added-{i}.png")
    assert counts() == (10, 540)  # ten files added: only they are evaluated
    for image in sorted((data / "5").glob("*.png"))[:20]:
        image.unlink()
    assert counts() == (0, 530)  # files removed: nothing to evaluate
    result = evalkit.evaluate(models["torch"], data, **options)
    on_disk = sorted(str(p.relative_to(data)) for p in data.glob("*/*.png"))
    assert sorted(result.predictions["path"]) == on_disk  # cached rows, as this plan lists them
    changed = _degraded(models["torch"], tmp_path / "changed")
    assert counts(changed) == (530, 0)  # other weights: the cache does not apply


def test_store_logits_keeps_log_probabilities_and_resume_adds_them(
    demo: tuple[dict[str, str], Path], reference: Path, tmp_path: Path
) -> None:
    """Output vectors are log-probabilities in float16 (probabilities would underflow); a
    resumed run without them evaluates its shards again rather than silently lacking them."""
    models, data = demo
    shutil.copytree(reference, tmp_path, dirs_exist_ok=True)  # committed without vectors
    result = evalkit.evaluate(
        models["torch"],
        data,
        batch_size=32,
        shard_size=64,
        cache=False,
        out=tmp_path,
        resume=True,
        store_logits=True,
    )
    assert result.execution is not None
    assert result.execution.reevaluated_shards == 9 and result.execution.evaluated == 540
    table = pq.read_table(next((tmp_path / "store").glob("*/shard-00000.parquet")))
    logits = np.array(table.column("logits").to_pylist(), dtype=np.float32)
    assert logits.shape == (64, 10) and logits.max() <= 0 and (logits < -20).any()
    np.testing.assert_allclose(np.exp(logits).sum(axis=1), 1.0, atol=0.02)
    top_p = np.array(table.column("top_p").to_pylist())[:, 0]
    np.testing.assert_allclose(np.exp(logits.max(axis=1)), top_p, rtol=0.01)


def test_unwritable_places_are_one_line_errors(
    demo: tuple[dict[str, str], Path], tmp_path: Path
) -> None:
    models, data = demo
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert_user_error(_run(models["torch"], data, blocker / "out"))
    done = run_cli(
        "run",
        "--model",
        models["torch"],
        "--data",
        data,
        "--out",
        tmp_path / "o",
        "--cache",
        blocker,
    )
    assert_user_error(done, str(blocker))
