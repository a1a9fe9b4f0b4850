"""Fuzzing the results reader through the CLI: every mutated results folder gives exit 2 with
one ``evalkit: error:`` line (or exit 0 when the mutation left a valid file), never a traceback
or an internal error."""

from __future__ import annotations

import gzip
import json
import random
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evalkit.cli import main

GOLDEN = Path(__file__).parents[1] / "golden" / "demo-v1"
WRONG = ["ninety", [], {}, None, 10**40, -7, "NaN", True, 1.5, [[1, 2], [3]]]
Mutation = Callable[[Path, random.Random], None]


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every location in a JSON document (containers too)."""
    yield path
    children = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, child in children:
        yield from _leaves(child, (*path, key))


def _edit(folder: Path, change: Callable[[Any, random.Random], Any], rng: random.Random) -> None:
    file = folder / "results.json"
    file.write_text(json.dumps(change(json.loads(file.read_text()), rng)))


def _pick(document: Any, rng: random.Random) -> tuple[Any, Any]:
    """A random (container, key) pair inside ``document``."""
    location = rng.choice([p for p in _leaves(document) if p])
    parent = document
    for key in location[:-1]:
        parent = parent[key]
    return parent, location[-1]


def delete_key(document: Any, rng: random.Random) -> Any:
    parent, key = _pick(document, rng)
    del parent[key]
    return document


def wrong_type(document: Any, rng: random.Random) -> Any:
    parent, key = _pick(document, rng)
    parent[key] = rng.choice(WRONG)
    return document


def text_damage(folder: Path, rng: random.Random) -> None:
    file = folder / "results.json"
    data = file.read_bytes()
    damage = rng.choice(["truncate", "bytes", "empty", "nested", "list", "latin1"])
    new = {
        "truncate": data[: rng.randrange(len(data))],
        "bytes": data[:100] + bytes(rng.randrange(256) for _ in range(50)) + data[150:],
        "empty": b"",
        "nested": b"[" * 5000 + b"]" * 5000,
        "list": b"[1, 2, 3]",
        "latin1": data.replace(b'"cpu"', b'"\xe9\xff"'),
    }[damage]
    file.write_bytes(new)


def predictions_damage(folder: Path, rng: random.Random) -> None:
    file = rng.choice(sorted(folder.glob("predictions-*.csv.gz")))
    damage = rng.choice(["deflate", "column", "cell", "truncate", "name"])
    if damage == "name":
        document = json.loads((folder / "results.json").read_text())
        name = rng.choice(["../../etc/passwd", "/etc/passwd", "", "missing.csv.gz", ".."])
        document["runs"][rng.randrange(2)]["predictions_file"] = name
        (folder / "results.json").write_text(json.dumps(document))
        return
    raw = file.read_bytes()
    if damage in ("deflate", "truncate"):
        cut = rng.randrange(20, len(raw))
        middle = bytes(rng.randrange(256) for _ in range(20)) if damage == "deflate" else b""
        file.write_bytes(raw[:cut] + middle + (raw[cut + 20 :] if damage == "deflate" else b""))
        return
    lines = gzip.decompress(raw).decode().splitlines()
    header = lines[0].split(",")
    column = rng.randrange(len(header))
    rows = [line.split(",") for line in lines]
    for row in rows[: 1 if damage == "column" else rng.randrange(2, len(rows))]:
        if damage == "column":
            del row[column]
    if damage == "cell":
        rows[rng.randrange(1, len(rows))][column] = rng.choice(["", "NaN", "x", "1e999", "-1"])
    file.write_bytes(gzip.compress("\n".join(",".join(r) for r in rows).encode()))


MUTATIONS: list[tuple[str, Mutation]] = [
    ("delete a key", lambda f, r: _edit(f, delete_key, r)),
    ("wrong type", lambda f, r: _edit(f, wrong_type, r)),
    ("damaged text", text_damage),
    ("damaged predictions", predictions_damage),
]
WEIGHTS = [5, 5, 1, 2]


def _outcome(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str]:
    code = main(argv)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("seed", range(8))
def test_mutated_results_give_exit_2_and_one_line(
    seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """25 mutations per seed (200 in all); each is read by ``compare`` both ways and, for one in
    five, rendered by ``report``."""
    monkeypatch.setenv("EVALKIT_CACHE", str(tmp_path / "cache"))  # crash files land here
    rng = random.Random(seed)
    problems = []
    for number in range(25):
        folder = tmp_path / f"m{number}"
        shutil.copytree(GOLDEN, folder)
        name, mutate = rng.choices(MUTATIONS, WEIGHTS)[0]
        mutate(folder, rng)
        commands = [["compare", str(GOLDEN), str(folder)], ["compare", str(folder), str(GOLDEN)]]
        if number % 5 == 0:
            commands.append(["report", str(folder), "--out", str(tmp_path / f"r{number}.html")])
        for argv in commands:
            code, err = _outcome(capsys, argv)
            lines = [line for line in err.splitlines() if line.strip()]
            good = code == 0 or (
                code == 2 and len(lines) == 1 and lines[0].startswith("evalkit: error:")
            )
            if not good or "Traceback" in err:
                problems.append(
                    f"{name} #{number}: evalkit {' '.join(argv[:1])} -> {code}: {err[-500:]}"
                )
        shutil.rmtree(folder)
    assert problems == []
    assert not (tmp_path / "cache" / "crashes").exists()
