"""Pictures drawn in a forked child: jobs run there, after ``prepare``; failures come back as the same exception.

The test process may hold threads other tests left running, and then nothing
forks (by design), so the scenarios that need the child run in a fresh
interpreter (``scenario_*``, called by the tests below).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from liqmap.render.background import PictureProcess
from liqmap.render.static import check_image_path, save_liqmap_png

from .test_static import hand_map

REPO = Path(__file__).resolve().parents[2]
PREPARED: list[int] = []  # the pids in which prepare() ran (in this process's copy of the module)


def prepare() -> None:
    PREPARED.append(os.getpid())


def record(path: str) -> None:
    """A job: write which process ran it and whether prepare() ran there first."""
    Path(path).write_text(f"{os.getpid()} {PREPARED == [os.getpid()]}")


class _Local(Exception):
    def __init__(self, a, b):  # two required arguments: pickle cannot rebuild it from its args
        super().__init__(f"{a}-{b}")


def fail_oddly() -> None:
    raise _Local(1, 2)


def run_scenario(name: str, folder: Path) -> None:
    """``scenario_<name>(folder)`` in a fresh interpreter, where no other thread runs."""
    code = f"from tests.render.test_background import scenario_{name}; scenario_{name}({str(folder)!r})"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]


def scenario_jobs_in_child(folder: str) -> None:
    with PictureProcess(prepare) as pictures:
        assert pictures._pid is not None
        pictures.run([(record, (f"{folder}/a",), {}), (record, (f"{folder}/b",), {})])
    pids = set()
    for name in "ab":
        pid, prepared = Path(folder, name).read_text().split()
        pids.add(int(pid))
        assert prepared == "True"
    assert len(pids) == 1 and os.getpid() not in pids
    assert PREPARED == []  # prepare() never ran here


def test_jobs_run_in_a_child_after_prepare(tmp_path):
    run_scenario("jobs_in_child", tmp_path)


def scenario_same_picture(folder: str) -> None:
    m = hand_map()
    with PictureProcess(prepare) as pictures:
        assert pictures._pid is not None
        pictures.run([(save_liqmap_png, (m, Path(folder, "child.png")), {"layout": "profile"})])
    save_liqmap_png(m, Path(folder, "here.png"), layout="profile")


def test_the_picture_is_the_one_drawn_in_process(tmp_path):
    from matplotlib.image import imread

    run_scenario("same_picture", tmp_path)
    assert np.array_equal(imread(tmp_path / "child.png"), imread(tmp_path / "here.png"))


def scenario_same_exception(folder: str) -> None:
    missing = Path(folder, "missing", "x.png")
    with PictureProcess(prepare) as pictures:
        assert pictures._pid is not None
        try:
            pictures.run([(check_image_path, (missing,), {})])
        except FileNotFoundError as exc:
            assert str(exc) == f"cannot write {missing}: folder {missing.parent} does not exist"
        else:
            raise AssertionError("no exception")


def test_a_failing_job_raises_the_same_exception_here(tmp_path):
    run_scenario("same_exception", tmp_path)


def scenario_unpicklable_exception(folder: str) -> None:
    with PictureProcess(prepare) as pictures:
        assert pictures._pid is not None
        try:
            pictures.run([(fail_oddly, (), {})])
        except RuntimeError as exc:
            assert "drawing failed" in str(exc) and "_Local: 1-2" in str(exc) and "fail_oddly" in str(exc), exc
        else:
            raise AssertionError("no exception")


def test_an_exception_that_cannot_be_pickled_comes_back_with_its_traceback(tmp_path):
    run_scenario("unpicklable_exception", tmp_path)


def scenario_stop_unused_child(folder: str) -> None:
    pictures = PictureProcess(lambda: time.sleep(60))
    pid = pictures._pid
    assert pid is not None
    began = time.monotonic()
    pictures.close()
    assert time.monotonic() - began < 30  # stopped, not waited for
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return  # stopped and collected, not left as a zombie
    raise AssertionError(f"process {pid} is still there")


def test_leaving_without_jobs_stops_the_child(tmp_path):
    run_scenario("stop_unused_child", tmp_path)


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

