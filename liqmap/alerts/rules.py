"""Alert rules: the YAML schema, its loader (errors name the line and column), what each rule watches, the alerts.

A rules file::

    rules:
      - name: major-cluster-near      # unique; names the alert
        when: cluster_near            # cluster_near | cluster_swept | new_cluster | liqratio_flip
        view: all                     # leverage view the rule reads (default all)
        z_min: 2.0                    # clusters with Z >= z_min count
        within_pct: 1.0               # near = within this % of price ...
        within_atr: 1.0               # ... or within this many ATR (give one or both)
        side: any                     # above | below | any (default any)
      - name: ratio-flip
        when: liqratio_flip
        band_pct: 1.0                 # one of the map's LiqRatio bands
        margin: 0.1                   # decisive = long share >= 0.5 + margin or <= 0.5 - margin

Pure functions of map snapshots; no I/O except reading the rules file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeGuard

import numpy as np

from ..analysis.mapping import MapSettings, price_grid
from ..frames import format_ms
from ..model.leverage import VIEWS

KINDS = ("cluster_near", "cluster_swept", "new_cluster", "liqratio_flip")
SIDES = ("any", "above", "below")
#: Default Z floor per kind.
DEFAULT_Z = {"cluster_near": 2.0, "cluster_swept": 1.5, "new_cluster": 2.5, "liqratio_flip": 0.0}
#: Fields each kind accepts besides name, when, view.
KIND_FIELDS = {
    "cluster_near": {"z_min", "within_pct", "within_atr", "side"},
    "cluster_swept": {"z_min", "side"},
    "new_cluster": {"z_min", "side"},
    "liqratio_flip": {"band_pct", "margin"},
}
_NUMBER_FIELDS = ("z_min", "within_pct", "within_atr", "band_pct", "margin")


class RuleError(ValueError):
    """A rules file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Rule:
    """One alert rule (see the module docstring for the meaning of each field)."""

    name: str
    when: str
    view: str = "all"
    z_min: float = 0.0
    within_pct: float | None = None
    within_atr: float | None = None
    side: str = "any"
    band_pct: float = 1.0
    margin: float = 0.1
    line: int = 0


@dataclass(frozen=True)
class ClusterPoint:
    """The parts of a map cluster the rules read (JSON-friendly, so state can persist it)."""

    id: int
    price_low: float
    price_high: float
    peak: float
    z: float
    notional: float
    long: float
    short: float


@dataclass(frozen=True)
class Snapshot:
    """A map reduced to what the rules compare between updates."""

    symbol: str
    view: str
    as_of_ms: int
    price: float
    atr: float
    clusters: tuple[ClusterPoint, ...]
    long_share: dict  # band pct -> long share (None if the band is empty)

    @classmethod
    def from_map(cls, liqmap) -> "Snapshot":
        clusters = tuple(ClusterPoint(c.id, c.price_low, c.price_high, c.peak, c.z, c.notional, c.long, c.short)
                         for c in liqmap.clusters)
        return cls(liqmap.symbol, liqmap.view, liqmap.as_of_ms, liqmap.price, liqmap.atr, clusters,
                   {float(b.pct): b.long_share for b in liqmap.liq_ratio})


@dataclass(frozen=True)
class Finding:
    """A rule condition that holds at an update.  ``anchor`` is the price it is about (or None)."""

    rule: Rule
    anchor: float | None
    message: str
    data: dict


@dataclass(frozen=True)
class Alert:
    """One event to deliver.  ``key`` identifies it: a receiver that sees a key twice has seen the same alert."""

    key: str
    rule: str
    kind: str
    symbol: str
    view: str
    as_of_ms: int
    message: str
    data: dict

    def to_dict(self) -> dict:
        """The JSON object the JSON-lines file and the webhook receive."""
        return {"key": self.key, "rule": self.rule, "kind": self.kind, "symbol": self.symbol, "view": self.view,
                "as_of": format_ms(self.as_of_ms), "message": self.message, "data": self.data}

    def text(self) -> str:
        return f"[{format_ms(self.as_of_ms)}] {self.symbol} {self.rule} ({self.kind}, {self.view}): {self.message}"

    @classmethod
    def from_record(cls, record) -> "Alert":
        """An alert from its ``dataclasses.asdict`` form (as kept in a state file); ValueError says what is wrong."""
        if not isinstance(record, dict) or set(record) != set(cls.__dataclass_fields__):
            raise ValueError(f"an alert must be an object with the fields {', '.join(cls.__dataclass_fields__)}")
        texts = ("key", "rule", "kind", "symbol", "view", "message")
        if not all(isinstance(record[name], str) for name in texts) or not record["key"]:
            raise ValueError(f"an alert's {', '.join(texts)} must be text (and its key non-empty)")
        if record["kind"] not in KINDS or record["view"] not in VIEWS:
            raise ValueError(f"alert kind {record['kind']!r} or view {record['view']!r} is unknown")
        if not is_ms_time(record["as_of_ms"]) or not isinstance(record["data"], dict):
            raise ValueError("an alert's as_of_ms must be a time in ms and its data an object")
        return cls(**record)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def is_ms_time(value: object) -> TypeGuard[int]:
    """A millisecond timestamp ``format_ms`` can print (years 1970..9999)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 253_402_300_800_000


def memory_fits(rule: Rule, memory) -> bool:
    """Whether ``memory`` (read back from a state file) has the shape ``evaluate`` keeps for ``rule``."""
    if memory is None:
        return True
    if rule.when == "liqratio_flip":
        return memory in ("long", "short")
    if not isinstance(memory, list):
        return False
    if rule.when == "cluster_swept":
        fields = set(ClusterPoint.__dataclass_fields__)
        return all(isinstance(m, dict) and set(m) == fields and isinstance(m["id"], int)
                   and all(_is_number(m[f]) for f in fields) for m in memory)
    return all(isinstance(m, list) and len(m) == 2 and all(_is_number(v) for v in m) for m in memory)


#: The deepest nesting a rules file needs is 3 (top mapping, rules list, rule mapping); deeper is refused
#: before the tree is built, so a pathological file costs no recursion.
MAX_DEPTH = 3
#: A rules file is a few kilobytes; anything past this is not one.
MAX_BYTES = 1_000_000


def load_rules(path) -> list[Rule]:
    """Rules from a YAML file; a bad file raises ``RuleError`` naming the file, line and column."""
    import yaml

    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise RuleError(f"{path}: {path.stat().st_size:,} bytes is too large for a rules file "
                            f"(at most {MAX_BYTES:,})")
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RuleError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise RuleError(f"cannot read the rules file {path}: {exc.strerror or exc}") from None
    try:
        _check_depth(yaml.parse(text), path)
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise RuleError(f"{path}{_where(mark)}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    return parse_rules(root, str(path))


def _where(mark) -> str:
    return f", line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


def _check_depth(events, path: Path) -> None:
    """Refuse nesting deeper than a rules file has, from the event stream (which needs no recursion)."""
    import yaml

    depth = 0
    for event in events:
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise RuleError(f"{path}{_where(event.start_mark)}: nested {depth} levels deep; a rules file has "
                                f"{MAX_DEPTH} (a mapping with a 'rules' list of rule mappings of single values)")
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def parse_rules(root, source: str) -> list[Rule]:
    """Rules from a composed YAML node tree (``yaml.compose``), checking every field."""
    import yaml

    def fail(node, message):
        raise RuleError(f"{source}{_where(node.start_mark) if node is not None else ''}: {message}")

    def keys_of(mapping) -> dict:
        """A mapping node's plain keys -> (key node, value node); complex or repeated keys are refused."""
        found: dict = {}
        for key, value in mapping.value:
            if not isinstance(key, yaml.ScalarNode):
                fail(key, "keys must be plain names, not lists or mappings")
            if key.value in found:
                fail(key, f"key {key.value!r} is given twice")
            found[key.value] = (key, value)
        return found

    if not isinstance(root, yaml.MappingNode):
        fail(root, "the file must be a mapping with a 'rules' list")
    top = keys_of(root)
    for key, _ in top.values():
        if key.value != "rules":
            fail(key, f"unknown top-level key {key.value!r} (expected 'rules')")
    if "rules" not in top or not isinstance(top["rules"][1], yaml.SequenceNode) or not top["rules"][1].value:
        fail(root, "'rules' must be a non-empty list")
    rules: list[Rule] = []
    names: set[str] = set()
    for item in top["rules"][1].value:
        if not isinstance(item, yaml.MappingNode):
            fail(item, "each rule must be a mapping of fields")
        fields = keys_of(item)
        for key, value in fields.values():
            if not isinstance(value, yaml.ScalarNode):
                fail(value, f"field {key.value!r} must be a single value")
        rules.append(_rule(item, fields, names, fail))
    return rules


def _rule(item, fields: dict, names: set, fail) -> Rule:
    for required in ("name", "when"):
        if required not in fields:
            fail(item, f"rule is missing {required!r}")
    name_key, name_node = fields["name"]
    name = name_node.value
    if not name or name in names:
        fail(name_node, f"rule name {name!r} is empty or used twice")
    names.add(name)
    kind_node = fields["when"][1]
    if kind_node.value not in KINDS:
        fail(kind_node, f"rule {name!r}: 'when' must be one of {', '.join(KINDS)}, not {kind_node.value!r}")
    kind = kind_node.value
    allowed = {"name", "when", "view"} | KIND_FIELDS[kind]
    values = {"name": name, "when": kind, "line": item.start_mark.line + 1, "z_min": DEFAULT_Z[kind]}
    for field_name, (key, node) in fields.items():
        if field_name not in allowed:
            fail(key, f"rule {name!r}: unknown field {field_name!r} for {kind} "
                      f"(allowed: {', '.join(sorted(allowed))})")
        if field_name in _NUMBER_FIELDS:
            try:
                number = float(node.value)
            except ValueError:
                number = math.nan
            if not math.isfinite(number) or number < 0:
                fail(node, f"rule {name!r}: {field_name} must be a non-negative number, not {node.value!r}")
            problem = _impossible(field_name, number)
            if problem:
                fail(node, f"rule {name!r}: {field_name} {node.value} can never fire: {problem}")
            values[field_name] = number
        elif field_name == "view":
            if node.value not in VIEWS:
                fail(node, f"rule {name!r}: view must be one of {', '.join(VIEWS)}, not {node.value!r}")
            values["view"] = node.value
        elif field_name == "side":
            if node.value not in SIDES:
                fail(node, f"rule {name!r}: side must be one of {', '.join(SIDES)}, not {node.value!r}")
            values["side"] = node.value
    if kind == "cluster_near" and "within_pct" not in values and "within_atr" not in values:
        fail(item, f"rule {name!r}: cluster_near needs within_pct, within_atr or both")
    return Rule(**values)


def _impossible(field_name: str, number: float) -> str | None:
    """Why a rule with this value could never fire under the default map settings, or None."""
    settings = MapSettings()
    if field_name == "margin" and number > 0.5:
        return (f"the long share would have to reach {0.5 + number:g} or fall to {0.5 - number:g}, and a share "
                f"lies in 0..1 (margin must be at most 0.5)")
    if field_name in ("within_pct", "within_atr") and number == 0:
        return "only a cluster peak exactly at the price would be near (give a positive distance)"
    if field_name == "band_pct" and number not in settings.liq_ratio_bands:
        bands = ", ".join(f"{b:g}" for b in settings.liq_ratio_bands)
        return f"the map's LiqRatio bands are {bands}"
    if field_name == "z_min" and number > max_z():
        return (f"a map has at most {max_bins():,} bins, so no bin's Z exceeds sqrt({max_bins():,} - 1) = "
                f"{max_z():.1f}")
    return None


@lru_cache(maxsize=1)
def max_bins() -> int:
    """The most bins a default-settings map grid has, over a decade of prices (the grid's step repeats per decade)."""
    settings = MapSettings()
    return max(len(price_grid(float(p), settings.bin_pct, settings.span_pct)) - 1
               for p in np.geomspace(1.0, 10.0, 400))


def max_z() -> float:
    """Samuelson's bound: no value of n exceeds the mean by more than sqrt(n - 1) population deviations."""
    return math.sqrt(max_bins() - 1)


def _side_ok(rule: Rule, peak: float, price: float) -> bool:
    return rule.side == "any" or (rule.side == "above") == (peak > price)


def _cluster_data(c: ClusterPoint, price: float, atr: float) -> dict:
    distance = (c.peak - price) / price * 100.0
    return {"cluster_id": c.id, "peak": c.peak, "price_low": c.price_low, "price_high": c.price_high, "z": c.z,
            "notional": c.notional, "distance_pct": distance,
            "distance_atr": abs(c.peak - price) / atr if atr > 0 else None}


def _atr_text(distance_atr: float | None) -> str:
    return "n/a" if distance_atr is None else f"{distance_atr:.2f}"


def _overlaps(c: ClusterPoint, ranges) -> bool:
    return any(low <= c.price_high and c.price_low <= high for low, high in ranges)


def evaluate(rule: Rule, current: Snapshot, memory, path_low: float, path_high: float) -> tuple[list[Finding], object]:
    """What ``rule`` finds at ``current``, given what it remembered from the previous update.

    Every rule is a transition: ``memory`` (JSON-friendly; None at the first
    update) is what the rule kept last time, and the new memory is returned
    with the findings.  ``path_low``/``path_high`` bound the traded price
    since the previous update.
    """
    price = current.price
    strong = [c for c in current.clusters if c.z >= rule.z_min and _side_ok(rule, c.peak, price)]
    if rule.when == "cluster_near":
        # Level-triggered: alert when a cluster comes near, not again while it stays near.
        near = []
        for c in strong:
            data = _cluster_data(c, price, current.atr)
            by_pct = rule.within_pct is not None and abs(data["distance_pct"]) <= rule.within_pct
            by_atr = rule.within_atr is not None and data["distance_atr"] is not None \
                and data["distance_atr"] <= rule.within_atr
            if by_pct or by_atr:
                near.append((c, data))
        found = [Finding(rule, c.peak, f"cluster Z {c.z:.2f} at {c.peak:,.2f} is {data['distance_pct']:+.2f}% / "
                         f"{_atr_text(data['distance_atr'])} ATR from price {price:,.2f}", data)
                 for c, data in near if not _overlaps(c, memory or [])]
        return found, [[c.price_low, c.price_high] for c, _ in near]
    if rule.when == "cluster_swept":
        # Memory: the strong clusters of the previous update; swept = the price path crossed the peak.
        found = [Finding(rule, c.peak, f"cluster Z {c.z:.2f} at {c.peak:,.2f} was swept "
                         f"(price ranged {path_low:,.2f}-{path_high:,.2f})", _cluster_data(c, price, current.atr))
                 for c in (ClusterPoint(**m) for m in memory or []) if path_low <= c.peak <= path_high]
        return found, [c.__dict__ for c in strong]
    if rule.when == "new_cluster":
        # Formed = overlaps no cluster (of any strength) of the previous update.
        found = [] if memory is None else [
            Finding(rule, c.peak, f"new cluster Z {c.z:.2f} at {c.peak:,.2f} ({c.notional:,.0f} notional)",
                    _cluster_data(c, price, current.atr)) for c in strong if not _overlaps(c, memory)]
        return found, [[c.price_low, c.price_high] for c in current.clusters]
    # liqratio_flip.  Memory: the last decisive side, so a pass through the neutral zone still counts.
    side = dominant_side(current, rule.band_pct, rule.margin)
    found = []
    if side is not None and memory is not None and side != memory:
        share = current.long_share[rule.band_pct]
        found = [Finding(rule, None, f"LiqRatio ±{rule.band_pct:g}% flipped from {memory} to {side} "
                         f"(long share {share:.0%})",
                         {"band_pct": rule.band_pct, "from": memory, "to": side, "long_share": share})]
    return found, side or memory


def dominant_side(snapshot: Snapshot, band_pct: float, margin: float) -> str | None:
    """'long' if the band's long share is >= 0.5 + margin, 'short' if <= 0.5 - margin, else None."""
    if band_pct not in snapshot.long_share:
        bands = ", ".join(f"{b:g}" for b in snapshot.long_share)
        raise RuleError(f"band_pct {band_pct:g} is not one of the map's LiqRatio bands ({bands})")
    share = snapshot.long_share[band_pct]
    if share is None:
        return None
    return "long" if share >= 0.5 + margin else "short" if share <= 0.5 - margin else None
