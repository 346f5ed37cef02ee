"""Pictures drawn in a forked child, so importing matplotlib runs beside the caller's computing.

Importing matplotlib costs about a third of a second, most of it Python
bytecode that holds the interpreter lock, so a thread cannot overlap it with
the map's computation; a second process can.  ``liqmap map --png`` forks the
child before it reads any data: the child imports matplotlib while the parent
reads and computes, then receives the finished maps through a pipe and
writes the files.  Where ``fork`` is missing (Windows) or other threads run
(forking them is unsafe) the pictures are drawn in the calling process.
"""

from __future__ import annotations

import os
import pickle
import signal
import threading
import traceback
import warnings
from collections.abc import Callable

#: One picture: a function importable by name (so it pickles), its arguments and keywords.
Job = tuple[Callable[..., object], tuple, dict]


class PictureProcess:
    """A child process that runs ``prepare()`` now and the jobs given to :meth:`run` later.

    Use it as a context manager: leaving the block without :meth:`run` (an
    error while computing) stops the child.
    """

    def __init__(self, prepare: Callable[[], object]):
        self._pid: int | None = None
        self._jobs_w = self._done_r = -1
        if not hasattr(os, "fork") or threading.active_count() > 1:
            return
        jobs_r, jobs_w = os.pipe()
        done_r, done_w = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns when native threads exist: numpy's OpenBLAS pool is one, and it
            # re-creates its threads after a fork; no Python thread runs (checked above).
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: never returns
            os.close(jobs_w)
            os.close(done_r)
            _child(prepare, jobs_r, done_w)
        os.close(jobs_r)
        os.close(done_w)
        self._pid, self._jobs_w, self._done_r = pid, jobs_w, done_r

    def __enter__(self) -> PictureProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, jobs: list[Job]) -> None:
        """Run the jobs (in the child when there is one) and return when all are done.

        An exception raised by a job is raised here again, as if the job ran here.
        """
        if self._pid is None:
            for function, args, kwargs in jobs:
                function(*args, **kwargs)
            return
        try:
            with os.fdopen(self._jobs_w, "wb") as pipe:
                self._jobs_w = -1
                pickle.dump(jobs, pipe, protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(self._done_r, "rb") as pipe:
                self._done_r = -1
                answer = pipe.read()
        finally:
            self.close()
        if answer:
            raise pickle.loads(answer)

    def close(self) -> None:
        """Stop the child (if it is still waiting for jobs) and collect it."""
        for fd in (self._jobs_w, self._done_r):
            if fd >= 0:
                os.close(fd)
        self._jobs_w = self._done_r = -1
        if self._pid is not None:
            pid, self._pid = self._pid, None
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            os.waitpid(pid, 0)


def _child(prepare: Callable[[], object], jobs_r: int, done_w: int) -> None:
    """Prepare, wait for the jobs, run them; report an exception (pickled) on ``done_w``, then exit."""
    status = 0
    answer = b""
    try:
        prepare()
        with os.fdopen(jobs_r, "rb") as pipe:
            data = pipe.read()
        for function, args, kwargs in pickle.loads(data) if data else ():
            function(*args, **kwargs)
    except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
        status = 1
        try:
            answer = pickle.dumps(exc)
            pickle.loads(answer)
        except Exception:
            answer = pickle.dumps(RuntimeError("drawing failed:\n" + "".join(traceback.format_exception(exc))))
    finally:
        try:
            while answer:
                answer = answer[os.write(done_w, answer):]
        finally:
            os._exit(status)
