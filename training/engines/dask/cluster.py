"""The Dask cluster a command runs on: the one at DASK_SCHEDULER_ADDRESS, or an embedded LocalCluster.

The embedded cluster is WORKERS processes (default 2) of one thread each, WORKER_MEMORY (default 4GiB) each,
bound to 127.0.0.1 with the dashboard on a free port. Processes rather than threads: LightGBM's network
training and liblinear both hold per-process state, and a memory limit is only enforceable per process.
"""

from __future__ import annotations

import importlib
import logging
import platform
import unicodedata
from contextlib import contextmanager
from typing import TYPE_CHECKING

from training.environment import environment_setting
from training.exceptions import TrainingError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from distributed import Client

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
DEFAULT_WORKERS = "2"
DEFAULT_WORKER_MEMORY = "4GiB"
# distributed loggers kept to errors: a shuffle's progress, and the tasks cancelled after one failed.
ERROR_ONLY = ("distributed.shuffle", "distributed.worker.state_machine")
logger = logging.getLogger(__name__)


@contextmanager
def dask_client(*modules: str, rerun: str = "") -> Iterator[Client]:
    """A connected client for the duration of the block; an embedded cluster is shut down after it.

    `modules` are imported on every worker before any task runs: a worker that imports dask.dataframe in a
    task thread while its comm thread unpickles the next task can fail with `KeyError: 'dask.dataframe'`.
    `rerun` says how a rerun after a lost worker can start later, if it can.

    Raises:
        TrainingError: The configured scheduler cannot be reached, WORKERS/WORKER_MEMORY are invalid, or a worker
            died while the block ran.
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
        with client, _workers_lost(f"the workers of {address}", rerun):
            _prepare(client, modules)
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
    with cluster, Client(cluster) as client, _workers_lost(f"WORKER_MEMORY={memory} per worker", rerun):
        _prepare(client, modules)
        client.run(_quiet_heartbeats_to_a_closed_scheduler)
        yield client


@contextmanager
def _workers_lost(workers: str, rerun: str) -> Iterator[None]:
    """A worker that dies (over its memory limit, or killed) as one TrainingError naming what to change.

    Raises:
        TrainingError: A worker's connection closed while the block ran, or a task killed worker after worker.
    """
    from distributed import KilledWorker
    from distributed.comm.core import CommClosedError

    try:
        yield
    except (CommClosedError, KilledWorker) as exc:
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


def require_the_drivers_unicode(client: Client) -> None:
    """Refuse workers whose Python reads text by another Unicode version than this process's.

    Workers lower-case, fold and tokenize the titles they featurize with their own Python's tables, while the
    exported graph carries this process's (`training.text.compatibility_folds`), and the parity gate, run here,
    replays this process's: a worker that reads a title otherwise would go unnoticed. Every Python 3.12 has
    Unicode 15.0; Python 3.13 has 15.1.

    Raises:
        TrainingError: A worker's Unicode version differs from this process's.
    """
    other = {
        address: version
        for address, version in client.run(_unicode_version).items()
        if version != unicodedata.unidata_version
    }
    if other:
        address, version = sorted(other.items())[0]
        raise TrainingError(
            f"{len(other)} Dask worker(s) read text by Unicode {version} ({address}), this process by "
            f"{unicodedata.unidata_version} (Python {platform.python_version()}): the features they compute would "
            "differ from the exported graph's. Run the workers on the same Python version as the driver."
        )


def _unicode_version() -> str:
    """This process's Unicode version (run on a worker)."""
    return unicodedata.unidata_version


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


def _prepare(client: Client, modules: tuple[str, ...]) -> None:
    """Import `modules` on every worker, and say where to watch the work."""
    for module in modules:
        client.run(importlib.import_module, module)
    client.run(_quiet_own_errors)
    logger.info("dask cluster", extra={"dashboard": client.dashboard_link, "workers": len(client.nthreads())})


class _OwnErrorFilter(logging.Filter):
    """Drops a worker's "Compute Failed" record of a TrainingError: the driver re-raises it, and the command ends
    in its one line, which a worker traceback printed before it would bury. Any other failure is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but a task failure whose exception is the project's own."""
        args = record.args if isinstance(record.args, tuple) else ()
        # The worker logs the exception as its text, e.g. 'DataValidationError("...")'.
        own = any(isinstance(arg, str) and arg.startswith(_own_error_names()) for arg in args)
        return not (own and str(record.msg).startswith("Compute Failed"))


def _own_error_names() -> tuple[str, ...]:
    """'TrainingError(' and its subclasses' names likewise: how a worker's log writes them."""
    found, pending = [], [TrainingError]
    while pending:
        kind = pending.pop()
        found.append(f"{kind.__name__}(")
        pending += kind.__subclasses__()
    return tuple(found)


class _ClosedSchedulerFilter(logging.Filter):
    """Drops an embedded worker's "Failed to communicate with scheduler during heartbeat" record.

    An embedded cluster's scheduler lives in the command's own process and closes only when the command ends, so a
    heartbeat that finds it closed is a worker's race with its retirement, not news; its traceback would bury the
    command's last line. An external cluster's workers keep the record: there a closed scheduler is an outage.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but a failed heartbeat."""
        return not str(record.msg).startswith("Failed to communicate with scheduler during heartbeat")


def _quiet_heartbeats_to_a_closed_scheduler() -> None:
    """Install `_ClosedSchedulerFilter` in an embedded cluster's worker process (`client.run`)."""
    worker = logging.getLogger("distributed.worker")
    if not any(isinstance(installed, _ClosedSchedulerFilter) for installed in worker.filters):
        worker.addFilter(_ClosedSchedulerFilter())


def _quiet_own_errors() -> None:
    """Install `_OwnErrorFilter` in a worker process (`client.run`), and keep its ERROR_ONLY loggers to errors
    (a worker process sets its loggers up before the cluster's config reaches it)."""
    for name in ERROR_ONLY:
        logging.getLogger(name).setLevel(logging.ERROR)
    worker = logging.getLogger("distributed.worker")
    if not any(isinstance(installed, _OwnErrorFilter) for installed in worker.filters):  # once per worker process
        worker.addFilter(_OwnErrorFilter())
