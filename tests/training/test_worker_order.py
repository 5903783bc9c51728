"""Partitions are pinned to workers in the order of their names, read from the scheduler every time."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import dask
import pytest
from distributed import Client, LocalCluster

from training.engines.dask.cluster import worker_order
from training.exceptions import TrainingError

if TYPE_CHECKING:
    from collections.abc import Iterator


@contextmanager
def _client(workers: int) -> Iterator[tuple[LocalCluster, Client]]:
    """An in-process cluster of `workers` workers on 127.0.0.1, and its client."""
    with (
        LocalCluster(
            n_workers=workers, processes=False, protocol="tcp", host="127.0.0.1", dashboard_address="127.0.0.1:0"
        ) as cluster,
        Client(cluster) as client,
    ):
        yield cluster, client


def test_the_order_holds_every_worker_while_the_client_refreshes_its_cached_view():
    # The client refreshes its cached view of the scheduler every millisecond here, a view without workers: reading
    # the workers from that cache raced with the refresh (a rerun from the features folder died of a modulo by 0).
    with dask.config.set({"distributed.client.scheduler-info-interval": "1ms"}), _client(2) as (cluster, client):
        by_name = [cluster.workers[name].address for name in sorted(cluster.workers)]
        orders = [worker_order(client) for _ in range(300)]

    assert len(by_name) == 2
    assert all(order == by_name for order in orders)


def test_a_cluster_without_workers_is_named_not_divided_by():
    with _client(0) as (_, client), pytest.raises(TrainingError, match="no workers"):
        worker_order(client)
