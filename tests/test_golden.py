"""Outputs a user sees stay as recorded (``tests/golden/record.py``) unless a change means to move them.

Floats agree to 1e-9 relative; text, counts and structure exactly.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path


GOLDEN = Path(__file__).resolve().parent / "golden"


def _recorder():
    spec = importlib.util.spec_from_file_location("golden_record", GOLDEN / "record.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _differences(expected, actual, where="$"):
    """Paths where two JSON values differ (floats to 1e-9 relative)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if expected.keys() != actual.keys():
            return [f"{where}: keys {sorted(expected.keys() ^ actual.keys())} differ"]
        return [d for k in expected for d in _differences(expected[k], actual[k], f"{where}.{k}")]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{where}: {len(expected)} items recorded, {len(actual)} now"]
        return [d for i, (e, a) in enumerate(zip(expected, actual)) for d in _differences(e, a, f"{where}[{i}]")]
    if isinstance(expected, float) and isinstance(actual, (int, float)) and not isinstance(actual, bool):
        if math.isclose(expected, actual, rel_tol=1e-9, abs_tol=1e-9):
            return []
        return [f"{where}: {expected!r} recorded, {actual!r} now"]
    return [] if expected == actual else [f"{where}: {expected!r} recorded, {actual!r} now"]


def _check(name: str, actual) -> None:
    expected = json.loads((GOLDEN / name).read_text())
    diffs = _differences(expected, json.loads(json.dumps(actual)))
    assert not diffs, f"{name} moved ({len(diffs)} differences), first ones:\n" + "\n".join(diffs[:10])


def test_map_json_of_the_five_views_on_the_sample():
    _check("map_sample.json", _recorder().map_outputs())


def test_heatmap_cells_on_the_sample():
    _check("heatmap_sample.json", _recorder().heatmap_outputs())


def test_validation_figures_on_two_weeks(shared_data):
    _check("validate_feb.json", _recorder().validate_outputs(shared_data))


def test_the_comparison_sees_a_change():
    assert _differences({"a": [1.0, "x"]}, {"a": [1.0 + 1e-6, "x"]})
    assert _differences({"a": 1}, {"b": 1})
    assert not _differences({"a": [1.0]}, {"a": [1.0 + 1e-12]})
