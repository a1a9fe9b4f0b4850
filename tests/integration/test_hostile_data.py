"""A run over a corpus of 200+ malformed and odd files: no crash, every entry scored, listed as
a failure with a reason, or listed as ignored with a reason; --strict fails with one line."""

from __future__ import annotations

from pathlib import Path, PurePath

import pytest
from hostile import entries, make_corpus

from evalkit.errors import printable
from evalkit.results import load_results
from helpers import assert_user_error, run_cli


@pytest.fixture(scope="module")
def corpus(demo: tuple[dict[str, str], Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    _, data = demo
    real = sorted(data.glob("*/*.png"))[::9][:40]
    return make_corpus(tmp_path_factory.mktemp("hostile") / "data", real)


def test_every_hostile_entry_is_scored_or_listed_with_a_reason(
    demo: tuple[dict[str, str], Path], corpus: Path, tmp_path: Path
) -> None:
    models, _ = demo
    walked = entries(corpus)
    assert len(walked) - 30 >= 200  # 30 real digit images, 200+ malformed or odd entries
    done = run_cli(
        "run", "--model", models["torch"], "--data", corpus, "--out", tmp_path, "--no-cache"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "\x1b" not in done.stderr  # no escape sequences
    run = load_results(tmp_path)[0]
    scored = set(run.predictions["path"])
    failed = {f.file: f.reason for f in run.failures}
    ignored = {f.file: f.reason for f in run.dataset.ignored}
    assert scored and failed and ignored and not scored & set(failed)
    assert all(failed.values()) and all(ignored.values())
    unaccounted = [
        entry
        for entry in walked
        if entry not in scored
        and entry not in failed
        and not {printable(str(p)) for p in (PurePath(entry), *PurePath(entry).parents)}
        & set(ignored)
    ]
    assert unaccounted == []
    assert run.dataset.ignored_count == len(ignored) and run.dataset.failed == len(failed)
    reasons = " ".join(ignored.values())
    for reason in ("symbolic link loop", "broken symbolic link", "not followed", "named pipe",
                   "not valid UTF-8", "hidden", "outside any class folder", "(.txt)"):  # fmt: skip
        assert reason in reasons, reason
    assert any("too large to decode safely" in r for r in failed.values())
    assert any("not an image evalkit decodes" in r for r in failed.values())  # PostScript too


def _listed(entry: str, ignored: set[str]) -> bool:
    """Whether ``entry`` or a folder holding it is listed as ignored."""
    return any(printable(str(p)) in ignored for p in (PurePath(entry), *PurePath(entry).parents))


def test_strict_fails_with_one_line(
    demo: tuple[dict[str, str], Path], corpus: Path, tmp_path: Path
) -> None:
    models, _ = demo
    done = run_cli(
        "run", "--model", models["torch"], "--data", corpus, "--out", tmp_path / "o", "--strict"
    )
    assert_user_error(done, "--strict")
    assert done.returncode == 2 and not (tmp_path / "o" / "results.json").exists()
