"""What every worker of a command's cluster does as it joins: a WorkerPlugin, so that a worker the nanny restarts
(killed over its memory limit) or that joins later does it too, which a one-off `client.run` would miss.

Imported only once a cluster is up (`training.engines.dask.cluster`): it needs distributed.
"""

from __future__ import annotations

import importlib
import logging
import platform
import unicodedata
from typing import TYPE_CHECKING

from distributed.diagnostics.plugin import WorkerPlugin

from training.engines.dask.cluster import ERROR_ONLY
from training.exceptions import TrainingError

if TYPE_CHECKING:
    from distributed import Worker

NAME = "product-classifier-worker-setup"
WORKER_LOGGER = "distributed.worker"
logger = logging.getLogger(__name__)


def driver_unicode() -> tuple[str, str]:
    """This process's Unicode version, and the Python version that says where it comes from."""
    return unicodedata.unidata_version, platform.python_version()


class WorkerSetup(WorkerPlugin):
    """Refuses a worker that reads text otherwise, imports the command's modules and quiets the worker's logs of what
    the command reports itself.

    `ERROR_ONLY` loggers are kept to errors: a worker sets its loggers up before the cluster's config reaches it.

    Args:
        modules: Imported before any task runs: a worker that imports dask.dataframe in a task thread while its
            comm thread unpickles the next task can fail with `KeyError: 'dask.dataframe'`.
        embedded: The cluster is the command's own LocalCluster (see `ClosedSchedulerFilter`).
        unicode: The driver's `driver_unicode()`, when the workers featurize text: workers lower-case, fold and
            tokenize titles with their own Python's Unicode tables, while the exported graph carries the driver's
            (`training.text.compatibility_folds`) and the parity gate, run on the driver, replays the driver's, so a
            worker that reads a title otherwise (Python 3.13 has Unicode 15.1, 3.12 has 15.0) would go unnoticed.
        present: The workers there when the plugin was registered. A worker among them that reads text otherwise
            fails the registration, which ends the command before any task; one that joins later closes itself as
            it registers (its setup runs before it reads the scheduler's messages), since nothing else would keep the
            scheduler from giving it tasks. One that joins between the two does both.
    """

    def __init__(
        self,
        modules: tuple[str, ...],
        *,
        embedded: bool,
        unicode: tuple[str, str] | None = None,
        present: frozenset[str] = frozenset(),
    ) -> None:
        self.modules, self.embedded, self.unicode, self.present = modules, embedded, unicode, present

    def setup(self, worker: Worker) -> None:
        """Run in the worker process as it joins (or as the plugin is registered).

        Raises:
            TrainingError: This worker reads text by another Unicode version than the driver.
        """
        for kind in self._filters():
            if not any(isinstance(installed, kind) for installed in logging.getLogger(WORKER_LOGGER).filters):
                logging.getLogger(WORKER_LOGGER).addFilter(kind())
        if self.unicode is not None and self.unicode[0] != unicodedata.unidata_version:
            self._refuse(worker, *self.unicode)
        for module in self.modules:
            importlib.import_module(module)
        for name in ERROR_ONLY:
            logging.getLogger(name).setLevel(logging.ERROR)

    def _refuse(self, worker: Worker, unicode: str, python: str) -> None:
        problem = (
            f"Dask worker {worker.address} reads text by Unicode {unicodedata.unidata_version} (Python "
            f"{platform.python_version()}), the training command by Unicode {unicode} (Python {python}): the "
            "features it computes would differ from the exported graph's. Run the workers on the driver's Python "
            "version."
        )
        if worker.address not in self.present:
            logger.error("%s It joined while the command ran and closes itself.", problem)
            worker.loop.add_callback(worker.close, reason="unicode-version")
        raise TrainingError(problem)

    def teardown(self, worker: Worker) -> None:
        """Take the filters out again: an external cluster's workers outlive the command.

        An embedded worker keeps them. It ends with the command, and it tears its plugins down as it closes, before
        it stops its heartbeat (distributed's `Worker.close`), so a heartbeat still in flight would print its failure.
        """
        if self.embedded:
            return
        for installed in list(logging.getLogger(WORKER_LOGGER).filters):
            if isinstance(installed, self._filters()):
                logging.getLogger(WORKER_LOGGER).removeFilter(installed)

    def _filters(self) -> tuple[type[logging.Filter], ...]:
        return (OwnErrorFilter, ClosedSchedulerFilter) if self.embedded else (OwnErrorFilter,)


class OwnErrorFilter(logging.Filter):
    """Drops a worker's "Compute Failed" record of a TrainingError, and its traceback of `WorkerSetup` refusing it:
    the driver re-raises the error, and the command ends in its one line, which a worker traceback printed before
    it would bury. Any other failure is still logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but a task or setup failure whose exception is the project's own."""
        if str(record.msg).startswith("Worker plugin %s failed to setup"):
            return not (record.exc_info and isinstance(record.exc_info[1], TrainingError))
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


class ClosedSchedulerFilter(logging.Filter):
    """Drops an embedded worker's "Failed to communicate with scheduler during heartbeat" record.

    An embedded cluster's scheduler lives in the command's own process and closes only when the command ends, so a
    heartbeat that finds it closed is a worker's race with its retirement, not news; its traceback would bury the
    command's last line. An external cluster's workers keep the record: there a closed scheduler is an outage.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep every record but a failed heartbeat."""
        return not str(record.msg).startswith("Failed to communicate with scheduler during heartbeat")
