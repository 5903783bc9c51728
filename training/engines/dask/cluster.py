"""The Dask cluster a command runs on: the one at DASK_SCHEDULER_ADDRESS, or an embedded LocalCluster.

The embedded cluster is WORKERS processes (default 2) of one thread each, WORKER_MEMORY (default 4GiB) each,
bound to 127.0.0.1 with the dashboard on a free port. Processes rather than threads: LightGBM's network
training and liblinear both hold per-process state, and a memory limit is only enforceable per process.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from training.environment import environment_setting
from training.exceptions import TrainingError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Client

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
DEFAULT_WORKERS = "2"
DEFAULT_WORKER_MEMORY = "4GiB"
# Below this a worker's imports alone (a few hundred MB) pass the 80 % at which Dask pauses it, and a paused worker
# never resumes: the run would hang without a word.
MIN_WORKER_MEMORY = 2**30
# distributed loggers kept to errors: a shuffle's progress, and the tasks cancelled after one failed.
ERROR_ONLY = ("distributed.shuffle", "distributed.worker.state_machine")
logger = logging.getLogger(__name__)


@contextmanager
def dask_client(*modules: str, rerun: str = "", reads_text: bool = False) -> Iterator[Client]:
    """A connected client for the duration of the block; an embedded cluster is shut down after it.

    `modules` are imported on every worker before any task runs (`WorkerSetup`). `rerun` says how a rerun after a
    lost worker can start later, if it can. `reads_text`: the workers lower-case, fold and tokenize text, so each
    must read it by this process's Unicode version (`WorkerSetup`).

    Raises:
        TrainingError: The configured scheduler cannot be reached, WORKERS/WORKER_MEMORY are invalid, a worker
            died while the block ran, or (`reads_text`) a worker reads text by another Unicode version.
    """
    import dask
    from distributed import Client, LocalCluster

    _quiet_logs()
    address = environment_setting(SCHEDULER_ENV, "")
    if address:
        try:
            client = Client(address, timeout="10s")
        except OSError as exc:
            raise TrainingError(f"cannot reach the Dask scheduler at {SCHEDULER_ENV}={address}: {exc}") from exc
        except ValueError as exc:  # distributed's parse of the address: no port, an unknown scheme
            raise TrainingError(
                f"{SCHEDULER_ENV}={address} is no scheduler address ({exc}): write the scheduler's, as its log prints "
                "it, such as tcp://10.0.0.5:8786 (not the dashboard's http:// address)"
            ) from exc
        with (
            client,
            _workers_lost(f"the workers of {address}", rerun),
            _set_up(client, modules, embedded=False, reads_text=reads_text),
        ):
            yield client
        return
    workers = environment_setting("WORKERS", DEFAULT_WORKERS)
    if not workers.isdigit() or int(workers) < 1:
        raise TrainingError(f"WORKERS must be a positive whole number, got {workers!r}")
    memory = environment_setting("WORKER_MEMORY", DEFAULT_WORKER_MEMORY)
    try:
        # Without work stealing each task runs where its inputs lie, which is what pins partitions to workers.
        with dask.config.set({"distributed.scheduler.work-stealing": False}):
            cluster = LocalCluster(
                n_workers=int(workers),
                threads_per_worker=1,
                processes=True,
                memory_limit=memory,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
            )
    except ValueError as exc:
        raise TrainingError(f"invalid WORKER_MEMORY {memory!r}: {exc}") from exc
    limits = [worker.memory_manager.memory_limit for worker in cluster.workers.values()]
    if any(limit and limit < MIN_WORKER_MEMORY for limit in limits):
        cluster.close()
        raise TrainingError(
            f"WORKER_MEMORY {memory!r} is under 1GiB a worker: its imports alone take a few hundred MB, past the 80 % "
            "at which Dask pauses a worker, which then never resumes; give each worker 1GiB or more"
        )
    with (
        cluster,
        Client(cluster) as client,
        _workers_lost(f"WORKER_MEMORY={memory} per worker", rerun),
        _set_up(client, modules, embedded=True, reads_text=reads_text),
    ):
        yield client


@contextmanager
def _workers_lost(workers: str, rerun: str) -> Iterator[None]:
    """A worker that dies (over its memory limit, or killed) as one TrainingError naming what to change.

    Raises:
        TrainingError: A worker's connection closed while the block ran, or a task killed worker after worker.
    """
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError

    try:
        yield
    # A task of a lost worker whose result the client had let go is cancelled ("already forgotten"), not killed.
    except (CommClosedError, KilledWorker, FutureCancelledError) as exc:
        raise TrainingError(
            f"a Dask worker died ({type(exc).__name__}); nothing was written. A worker over its memory limit is "
            f"restarted, then given up on: with {workers}, raise WORKER_MEMORY (a worker's imports alone take a few "
            f"hundred MB) or WORKERS.{' ' + rerun if rerun else ''}"
        ) from exc


def worker_order(client: Client) -> list[str]:
    """The workers' addresses ordered by worker name: partition i goes to worker i mod n.

    Names, not addresses: a LocalCluster's workers get new ports on every start but the same names, so a rerun
    pins the same rows to the same worker (and LightGBM rank), which is what makes it give the same model.

    Raises:
        TrainingError: The cluster has no workers.
    """
    # Asked of the scheduler itself: Client.scheduler_info() returns the client's cached view, which the client's
    # periodic refresh (a view without workers) can overwrite between the fetch and the read.
    names = client.run_on_scheduler(
        lambda dask_scheduler: {address: str(state.name) for address, state in dask_scheduler.workers.items()}
    )
    if not names:
        raise TrainingError(
            f"the Dask cluster has no workers: start some, or check {SCHEDULER_ENV} (or WORKERS for the embedded one)"
        )
    return sorted(names, key=lambda address: (names[address], address))


def _quiet_logs() -> None:
    """distributed logs every connection at INFO, every shuffle as a WARNING, and each task it cancels after one
    failed as a WARNING: keep its other warnings, and errors.

    Set here and in the Dask config, which the embedded cluster's worker processes inherit.
    """
    import dask

    dask.config.set({"logging": {"distributed": "warning"} | dict.fromkeys(ERROR_ONLY, "error")})
    for name in [name for name in logging.root.manager.loggerDict if name.startswith("distributed")]:
        logging.getLogger(name).setLevel(logging.ERROR if name.startswith(ERROR_ONLY) else logging.WARNING)
    logging.getLogger("distributed").setLevel(logging.WARNING)


@contextmanager
def _set_up(client: Client, modules: tuple[str, ...], *, embedded: bool, reads_text: bool) -> Iterator[None]:
    """Every worker, and every worker that joins while the block runs, set up by `WorkerSetup`; say where to watch
    the work. The setup is taken off an external cluster's workers after the block."""
    from training.engines.dask.worker_setup import NAME, WorkerSetup, driver_unicode

    present: frozenset[str] = frozenset()
    unicode = None
    if reads_text:  # only this check tells the workers there now from those that join later
        present = frozenset(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.workers)))
        unicode = driver_unicode()
    try:
        client.register_plugin(WorkerSetup(modules, embedded=embedded, unicode=unicode, present=present), name=NAME)
        logger.info("dask cluster", extra={"dashboard": client.dashboard_link, "workers": len(client.nthreads())})
        yield
    finally:
        if not embedded:
            with suppress(OSError):  # the scheduler is gone: so are the workers the setup was on
                client.unregister_worker_plugin(NAME)
