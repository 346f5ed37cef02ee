"""`liqmap flow` options: bounds named, and a bucket volume that would cut the history too fine refused."""

from __future__ import annotations

import json

import pytest

from liqmap.cli import main


@pytest.mark.parametrize(
    "args, message",
    [
        # the sample's 30 days of history hold 7,153,116 BTC of volume: 1e-9 would make 7.2e15 buckets (50 PiB)
        (["--bucket-volume", "1e-9"], "bucket_volume 1e-09 cuts the 7,153,116 units of volume in the history into "
                                      "7.153e+15 buckets, over the 2,000,000-bucket budget; use a bucket volume of "
                                      "at least 3.58"),
        (["--adv-days", "1000"], "--adv-days 1000 is outside (0, 365] (days)"),
        (["--step", "1ms"], "a CVD point every 1ms over the window is 86,400,000 points, over the 100,000-point "
                            "budget; use a longer step"),
    ],
)
def test_flow_options_out_of_bounds(capsys, args, message):
    assert main(["flow", "BTCUSDT", *args]) == 1
    err = capsys.readouterr().err
    assert err == f"liqmap flow: error: {message}\n"


@pytest.mark.parametrize("args, message", [
    (["--bucket-volume", "nan"], "argument --bucket-volume: 'nan': nan is not a finite number"),
    (["--vpin-window", "0"], "argument --vpin-window: '0': value 0 is outside [1, 10000]"),
])
def test_flow_numbers_are_checked_when_parsed(capsys, args, message):
    with pytest.raises(SystemExit):
        main(["flow", "BTCUSDT", *args])
    assert message in capsys.readouterr().err


def test_setups_thresholds_are_typed(capsys):
    assert main(["setups", "BTCUSDT", "--set", "min_z=NaN"]) == 1
    assert capsys.readouterr().err == "liqmap setups: error: --set min_z=NaN: NaN is not a finite number\n"


def test_the_flow_table_says_what_its_buckets_are(capsys):
    assert main(["flow", "BTCUSDT", "--format", "json"]) == 0
    tof = json.loads(capsys.readouterr().out)["tof"]
    assert main(["flow", "BTCUSDT"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "VPIN buckets" in line)
    assert (f"│ VPIN buckets     │ {tof['buckets']:,} of {tof['bucket_volume']:,.2f} (base units of volume each); "
            f"VPIN over the last 50") in row
