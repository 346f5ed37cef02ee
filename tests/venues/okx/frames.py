"""The recorded OKX frames of ``tests/fixtures/frames/okx`` (sources in its SOURCE.md)."""

from __future__ import annotations

import json
from pathlib import Path

FRAMES = Path(__file__).resolve().parents[2] / "fixtures" / "frames" / "okx"


def frame_text(name: str) -> str:
    return (FRAMES / f"{name}.json").read_text()


def frame(name: str):
    return json.loads(frame_text(name))
