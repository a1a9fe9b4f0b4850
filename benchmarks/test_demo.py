"""Offline accuracy gate on the demo models (real scikit-learn digits), with a committed baseline.

    pytest benchmarks/test_demo.py                            # gate against benchmarks/baselines
    pytest benchmarks/test_demo.py --evalkit-save-baseline    # re-create the baselines

The baseline folder comes from ``evalkit_baseline`` in pyproject.toml. The demo models are
trained once (seeded) and cached, exactly as ``evalkit demo`` does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from evalkit.demo import prepare_demo


@pytest.fixture(scope="session")
def demo() -> tuple[dict[str, str], Path]:
    (torch_model, keras_model), data = prepare_demo()
    return {"torch": torch_model, "keras": keras_model}, data


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_demo_model_holds_accuracy(
    evalkit: object, demo: tuple[dict[str, str], Path], framework: str
) -> None:
    models, data = demo
    result = evalkit.evaluate(models[framework], data, batch_size=64)  # type: ignore[attr-defined]
    assert result.top1 >= 0.90
    assert not result.failures
    evalkit.assert_no_regression(result)  # type: ignore[attr-defined]
