"""Pictures drawn in a forked child: jobs run there, after ``prepare``; failures come back as the same exception."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from liqmap.render.background import PictureProcess
from liqmap.render.static import check_image_path, save_liqmap_png

from .test_static import hand_map

PREPARED: list[int] = []  # the pids in which prepare() ran (in this process's copy of the module)


def prepare() -> None:
    PREPARED.append(os.getpid())


def record(path: str) -> None:
    """A job: write which process ran it and whether prepare() ran there first."""
    Path(path).write_text(f"{os.getpid()} {PREPARED == [os.getpid()]}")


def test_jobs_run_in_a_child_after_prepare(tmp_path):
    with PictureProcess(prepare) as pictures:
        pictures.run([(record, (str(tmp_path / "a"),), {}), (record, (str(tmp_path / "b"),), {})])
    pids = set()
    for name in "ab":
        pid, prepared = (tmp_path / name).read_text().split()
        pids.add(int(pid))
        assert prepared == "True"
    assert len(pids) == 1 and os.getpid() not in pids
    assert PREPARED == []  # prepare() never ran here


def test_the_picture_is_the_one_drawn_in_process(tmp_path):
    m = hand_map()
    with PictureProcess(prepare) as pictures:
        pictures.run([(save_liqmap_png, (m, tmp_path / "child.png"), {"layout": "profile"})])
    save_liqmap_png(m, tmp_path / "here.png", layout="profile")
    assert np.array_equal(imread(tmp_path / "child.png"), imread(tmp_path / "here.png"))


def test_a_failing_job_raises_the_same_exception_here(tmp_path):
    with PictureProcess(prepare) as pictures, pytest.raises(FileNotFoundError) as err:
        pictures.run([(check_image_path, (tmp_path / "missing" / "x.png",), {})])
    assert str(err.value) == f"cannot write {tmp_path / 'missing' / 'x.png'}: folder {tmp_path / 'missing'} does not exist"


class _Local(Exception):
    def __init__(self, a, b):  # two required arguments: pickle cannot rebuild it from its args
        super().__init__(f"{a}-{b}")


def fail_oddly() -> None:
    raise _Local(1, 2)


def test_an_exception_that_cannot_be_pickled_comes_back_with_its_traceback():
    with PictureProcess(prepare) as pictures, pytest.raises(RuntimeError) as err:
        pictures.run([(fail_oddly, (), {})])
    assert "drawing failed" in str(err.value) and "_Local: 1-2" in str(err.value) and "fail_oddly" in str(err.value)


def test_leaving_without_jobs_stops_the_child():
    pictures = PictureProcess(lambda: time.sleep(60))
    pid = pictures._pid
    assert pid is not None
    pictures.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and collected, not left as a zombie


def test_with_other_threads_running_jobs_run_here(tmp_path):
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        with PictureProcess(prepare) as pictures:
            assert pictures._pid is None
            pictures.run([(record, (str(tmp_path / "a"),), {})])
    finally:
        stop.set()
        thread.join()
    assert (tmp_path / "a").read_text() == f"{os.getpid()} False"  # here, and prepare() was not needed
