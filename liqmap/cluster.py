"""The Dask cluster the coarse jobs run on: a LocalCluster of processes, or an existing scheduler.

``liqmap backfill`` (one task per venue-symbol-month) and the validation's
tuning (one task per configuration and month) share it, so both take the same
``--workers N`` / ``--scheduler tcp://HOST:8786`` options.
"""

from __future__ import annotations

from contextlib import contextmanager


@contextmanager
def dask_client(workers: int | None, scheduler: str | None, say=None):
    """A ``distributed.Client`` on ``workers`` local processes (one thread each), or on the cluster at ``scheduler``.

    ``say`` receives the dashboard link when there is one.  A scheduler that does not answer within 10 s
    raises :class:`~liqmap.net.Unreachable`.
    """
    from distributed import Client, LocalCluster

    from .net import Unreachable

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="10s")
        except OSError as exc:
            raise Unreachable(f"the Dask scheduler at {scheduler} did not answer ({exc}); start it, or leave out "
                              "--scheduler to run on this machine's processes") from None
    try:
        if say is not None and client.dashboard_link:
            say(f"Dask dashboard: {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
