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

    ``say`` receives the dashboard link when there is one.
    """
    from distributed import Client, LocalCluster

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
        client = Client(cluster)
    else:
        client = Client(scheduler, timeout="10s")
    try:
        if say is not None and client.dashboard_link:
            say(f"Dask dashboard: {client.dashboard_link}")
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
