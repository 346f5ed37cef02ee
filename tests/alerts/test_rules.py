"""The rules file: its schema, errors that name file, line and column, rules that could never fire, fuzzing."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from liqmap.alerts.rules import (KINDS, SIDES, VIEWS, MapSettings, RuleError, evaluate, load_rules, max_bins,
                                 max_z)

from .test_engine import snap

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def write(tmp_path, text):
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def test_example_rules_file_loads():
    rules = load_rules(EXAMPLES / "alerts.yaml")
    assert [r.when for r in rules] == ["cluster_near", "cluster_swept", "new_cluster", "liqratio_flip"]
    near = rules[0]
    assert (near.z_min, near.within_pct, near.within_atr, near.view, near.line) == (2.0, 1.0, 1.0, "all", 3)
    assert rules[2].z_min == 2.5  # the documented default for new_cluster is not overridden there


@pytest.mark.parametrize(
    "text, message",
    [
        ("rules:\n  - name: a\n    when: cluster_near\n    z_min: lots\n    within_pct: 1\n",
         "line 4, column 12: rule 'a': z_min must be a non-negative number, not 'lots'"),
        ("rules:\n  - name: a\n    when: cluster_close\n", "line 3, column 11: rule 'a': 'when' must be one of"),
        ("rules:\n  - name: a\n    when: cluster_swept\n    within_pct: 1\n",
         "line 4, column 5: rule 'a': unknown field 'within_pct' for cluster_swept"),
        ("rules:\n  - name: a\n    when: cluster_near\n    z_min: 2\n",
         "line 2, column 5: rule 'a': cluster_near needs"),
        ("rules:\n  - name: a\n    when: new_cluster\n  - name: a\n    when: new_cluster\n",
         "line 4, column 11: rule name 'a' is empty or used twice"),
        ("rules:\n  - when: new_cluster\n", "line 2, column 5: rule is missing 'name'"),
        ("rules:\n  - name: a\n    when: new_cluster\n    view: huge\n", "line 4, column 11: rule 'a': view must be"),
        ("alerts:\n  - name: a\n", "line 1, column 1: unknown top-level key 'alerts'"),
        ("rules: [a, b\n", "line 2, column 1: not valid YAML: expected ',' or ']', but got '<stream end>'"),
        ("rules: []\n", "line 1, column 1: 'rules' must be a non-empty list"),
        # Keys that are not plain names, keys given twice.
        ("? [a, b]\n: 1\n", "line 1, column 3: keys must be plain names, not lists or mappings"),
        ("rules:\n  - name: a\n    when: new_cluster\n    name: b\n", "line 4, column 5: key 'name' is given twice"),
        ("rules:\n  - name: a\n    when: new_cluster\nrules: []\n", "line 4, column 1: key 'rules' is given twice"),
        # Nesting deeper than a rules file has is refused before the tree is built (no recursion).
        ("rules: " + "[" * 5000 + "]" * 5000 + "\n", "line 1, column 10: nested 4 levels deep; a rules file has 3"),
        ("rules:\n  - name: a\n    when: {deep: [1]}\n", "line 3, column 11: nested 4 levels deep"),
        # Rules that could never fire.
        ("rules:\n  - name: f\n    when: liqratio_flip\n    margin: 0.9\n",
         "line 4, column 13: rule 'f': margin 0.9 can never fire: the long share would have to reach 1.4 or fall "
         "to -0.4, and a share lies in 0..1 (margin must be at most 0.5)"),
        ("rules:\n  - name: f\n    when: liqratio_flip\n    band_pct: 3\n",
         "rule 'f': band_pct 3 can never fire: the map's LiqRatio bands are 0.5, 1, 2, 5"),
        ("rules:\n  - name: n\n    when: cluster_near\n    within_pct: 0\n",
         "rule 'n': within_pct 0 can never fire: only a cluster peak exactly at the price would be near"),
        ("rules:\n  - name: n\n    when: new_cluster\n    z_min: 30\n",
         "rule 'n': z_min 30 can never fire: a map has at most 566 bins, so no bin's Z exceeds sqrt(566 - 1) = 23.8"),
    ],
)
def test_bad_rule_files_name_the_line_and_column(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(RuleError) as info:
        load_rules(path)
    assert str(info.value).startswith(f"{path}, line ") and message in str(info.value)


def test_files_that_cannot_be_rules(tmp_path):
    with pytest.raises(RuleError, match=f"cannot read the rules file {tmp_path}: Is a directory"):
        load_rules(tmp_path)
    with pytest.raises(RuleError, match="cannot read the rules file .*missing.yaml: No such file or directory"):
        load_rules(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"rules:\n\xff\xfe")
    with pytest.raises(RuleError, match=r"binary.yaml: not UTF-8 text \(byte 7\)"):
        load_rules(binary)
    large = tmp_path / "large.yaml"
    large.write_text("#" * 1_000_001)
    with pytest.raises(RuleError, match="large.yaml: 1,000,001 bytes is too large for a rules file"):
        load_rules(large)


def test_the_z_bound_is_samuelsons_on_the_largest_default_grid():
    """No value among n exceeds the mean by more than sqrt(n - 1) population standard deviations."""
    settings = MapSettings()
    # The grid's step is the 1/2/2.5/5 step nearest bin_pct% of price, so a bin is at least 0.1% / sqrt(2)
    # (between the steps 5 and 10) and the ±20% span holds at most 40 / (0.1 / sqrt(2)) = 565.7 bins, plus
    # the edge bins.
    assert (settings.bin_pct, settings.span_pct) == (0.1, 20.0)
    assert 2 * settings.span_pct / (settings.bin_pct / math.sqrt(2)) < max_bins() <= 2 * settings.span_pct / (
        settings.bin_pct / math.sqrt(2)) + 2
    assert max_z() == pytest.approx(math.sqrt(565))
    values = [1.0] + [0.0] * (max_bins() - 1)  # the extreme case: one bin holds everything
    mean = sum(values) / len(values)
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    assert (1.0 - mean) / std == pytest.approx(max_z())


# ---------------------------------------------------------------- fuzzing
FIELD_NAMES = ["name", "when", "view", "z_min", "within_pct", "within_atr", "side", "band_pct", "margin"]
SCALARS = (st.sampled_from(KINDS + VIEWS + SIDES) | st.floats(allow_nan=True) | st.integers(-10, 100)
           | st.text(max_size=6) | st.none() | st.booleans())
RULE = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=4), SCALARS | st.lists(SCALARS, max_size=2),
                       max_size=7)
DOCUMENT = st.one_of(
    st.fixed_dictionaries({"rules": st.lists(RULE, max_size=4)}),
    st.dictionaries(st.text(max_size=6), st.lists(RULE, max_size=2), max_size=2),
    st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner,
                                                                                      max_size=3), max_leaves=10),
)
EXAMPLE_LINES = (EXAMPLES / "alerts.yaml").read_text().splitlines()


@st.composite
def rules_text(draw) -> str:
    """YAML of a random structure, the example file with lines dropped, repeated or mangled, or any text."""
    choice = draw(st.sampled_from(["structure", "example", "text"]))
    if choice == "structure":
        return yaml.safe_dump(draw(DOCUMENT), default_flow_style=draw(st.booleans()))
    if choice == "text":
        return draw(st.text(max_size=200))
    lines = list(EXAMPLE_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "repeat", "insert"]))
        if action == "drop":
            del lines[i]
        elif action == "repeat":
            lines.insert(i, lines[i])
        else:
            j = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:j] + draw(st.text(alphabet=":-[]{}&*!|>'\"#%@ \t?,0123456789ab.", max_size=3)) \
                + lines[i][j:]
        if not lines:
            break
    return "\n".join(lines) + "\n"


@settings(max_examples=60, deadline=None)
@given(text=rules_text())
def test_any_rules_file_gives_rules_that_evaluate_or_a_named_error(text):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "rules.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            rules = load_rules(path)
        except RuleError as exc:
            assert str(exc).startswith(str(path))
            return
    assert rules and len({r.name for r in rules}) == len(rules)
    for rule in rules:
        assert rule.when in KINDS and rule.view in VIEWS and rule.side in SIDES
        assert 0 <= rule.z_min <= max_z() and 0 <= rule.margin <= 0.5
        assert rule.band_pct in MapSettings().liq_ratio_bands
        # Every rule that loads evaluates on a map, with or without a memory.
        first, memory = evaluate(rule, snap(1, 100_000, [(99_000, 99_200, 3.0)]), None, 100_000, 100_000)
        evaluate(rule, snap(2, 99_100, [(99_000, 99_200, 3.0)]), memory, 99_000, 100_000)
