"""The recorded frames of ``tests/fixtures/frames/<venue>`` (sources in each folder's SOURCE.md)."""

from __future__ import annotations

import json
from pathlib import Path

FRAMES = Path(__file__).resolve().parents[1] / "fixtures" / "frames"


def frame_text(venue: str, name: str) -> str:
    return (FRAMES / venue / f"{name}.json").read_text()


def frame(venue: str, name: str):
    return json.loads(frame_text(venue, name))
