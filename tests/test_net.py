"""The one retry helper: what is retried, how long it waits, when it gives up."""

from __future__ import annotations

import httpx
import pytest

from liqmap.net import TransientError, raise_for_transient, retry_after_seconds, with_retries


class Clock:
    """A fake clock whose sleeps are recorded and advance it."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def failing(times, error):
    calls = []

    def call():
        calls.append(1)
        if len(calls) <= times:
            raise error
        return "ok"

    return call, calls


def test_backoff_doubles_and_the_call_succeeds():
    clock = Clock()
    call, calls = failing(3, TransientError("HTTP 503"))
    assert with_retries(call, what="x", retries=3, backoff_s=0.5, sleep=clock.sleep, clock=lambda: clock.now) == "ok"
    assert clock.sleeps == [0.5, 1.0, 2.0] and len(calls) == 4


def test_retry_after_is_honoured_when_longer_than_the_backoff():
    clock = Clock()
    call, _ = failing(1, TransientError("HTTP 429", retry_after_s=7.0))
    with_retries(call, what="x", backoff_s=0.5, sleep=clock.sleep, clock=lambda: clock.now)
    assert clock.sleeps == [7.0]


def test_gives_up_after_its_retries_naming_what_and_how_often():
    clock = Clock()
    call, calls = failing(10, httpx.ConnectError("refused"))
    with pytest.raises(TransientError, match=r"^file.zip: connection failed \(refused\) \(gave up after 3 tries\)$"):
        with_retries(call, what="file.zip", retries=2, backoff_s=0.1, sleep=clock.sleep, clock=lambda: clock.now)
    assert len(calls) == 3


def test_a_deadline_stops_the_waiting_early():
    clock = Clock()
    call, calls = failing(10, TransientError("HTTP 500"))
    with pytest.raises(TransientError, match="deadline of 5s"):
        with_retries(call, what="x", retries=10, backoff_s=1.0, deadline_s=5.0, sleep=clock.sleep, clock=lambda: clock.now)
    assert clock.sleeps == [1.0, 2.0] and len(calls) == 3  # a third wait (4 s) would end at 7 s


def test_other_errors_are_not_retried():
    call, calls = failing(1, ValueError("bad"))
    with pytest.raises(ValueError):
        with_retries(call, what="x", sleep=lambda s: None)
    assert len(calls) == 1


@pytest.mark.parametrize(("status", "transient"), [(200, False), (404, False), (418, True), (429, True), (503, True)])
def test_which_statuses_are_transient(status, transient):
    response = httpx.Response(status, headers={"Retry-After": "3"})
    if transient:
        with pytest.raises(TransientError) as caught:
            raise_for_transient(response, "GET /x")
        assert caught.value.retry_after_s == 3.0 and str(caught.value) == f"GET /x: HTTP {status}"
    else:
        assert raise_for_transient(response, "GET /x") is response


def test_retry_after_only_in_seconds():
    assert retry_after_seconds(httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) is None
    assert retry_after_seconds(httpx.Response(429)) is None
