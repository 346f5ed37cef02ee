"""`liqmap heatmap` options: resolution, start and bins checked against the data and the work budget."""

from __future__ import annotations

import pytest

from liqmap.cli import main


@pytest.mark.parametrize(
    "args, message",
    [
        (["--resolution", "1m"], "resolution 1m is finer than the BTCUSDT candles (1h): the columns in between "
                                 "would repeat the one before; use 1h or coarser"),
        (["--resolution", "0.4ms"], "resolution '0.4ms' is outside the spans liqmap accepts (1ms .. 100 years)"),
        (["--window", "12345678901234567890123456d"],
         "window '12345678901234567890123456d' is outside the spans liqmap accepts (1ms .. 100 years)"),
    ],
)
def test_heatmap_requests_that_cannot_be_drawn_are_refused(capsys, tmp_path, args, message):
    assert main(["heatmap", "BTCUSDT", "--png", str(tmp_path / "h.png"), *args]) == 1
    assert capsys.readouterr().err == f"liqmap heatmap: error: {message}\n"
    assert not (tmp_path / "h.png").exists()


def test_html_heatmaps_have_the_served_budget(capsys, tmp_path):
    # the whole sample at 1h with 10,000 bins: 2,268 columns x 10,000 x 8 bytes = 181 MB, under 320 MB for a PNG
    # but over the 48 MB a browser is given; 4h columns (567 x 10,000 x 8 = 45 MB) would fit
    args = ["heatmap", "BTCUSDT", "--from", "2025-12-01", "--bins", "10000", "--html", str(tmp_path / "h.html")]
    assert main(args) == 1
    assert capsys.readouterr().err == (
        "liqmap heatmap: error: a heatmap of 2,268 columns x 10,000 bins is 181 MB, over the 48 MB budget; use "
        "resolution 4h or coarser, at most 2,645 bins at this resolution, or a shorter span (start/end)\n")


def test_bins_are_bounded_when_parsed(capsys):
    with pytest.raises(SystemExit):
        main(["heatmap", "BTCUSDT", "--png", "x.png", "--bins", "1"])
    assert "argument --bins: '1': value 1 is outside [2, 10000]" in capsys.readouterr().err


def test_a_start_before_the_data_is_cut_to_it_with_a_note(capsys, tmp_path):
    # as a map's window is: the heatmap begins where the data does, and says so
    assert main(["heatmap", "BTCUSDT", "--png", str(tmp_path / "h.png"), "--from", "2025-01-01"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("BTCUSDT heatmap: 2268 columns x ")
    assert err.endswith("note: start: 2025-01-01T00:00:00Z asked, but the BTCUSDT data starts 2025-12-01T00:00:00Z: "
                        "the heatmap begins there\n")
