"""A training run's crash safety: the last good state, kept in memory and written to disk.

A state (the parameters and the optimizer state at one step) is *good* when its loss on its own
batch was finite and its parameters are finite. Only good states are ever written: the loop
offers each state to :meth:`Checkpointer.take` before it steps; :meth:`~Checkpointer.save_periodically`
writes the state just taken every few minutes; :meth:`~Checkpointer.save_good` writes the newest
good state when the run ends (done, Ctrl-C, SIGTERM or an error). :mod:`dynconv.training.train` runs the
loop; :mod:`dynconv.checkpoint` is the file format.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager

import numpy as np

__all__ = ["Checkpointer", "save_checkpoint"]


def save_checkpoint(model, path, config, step, wall, optimizer=None, extra=None):
    """Write ``model`` (and ``optimizer``'s state) to ``path`` atomically; the header records the
    run's step and wall time, the config and ``extra``."""
    meta = {"run": {"wall_seconds": wall, "step": step}, **(extra or {})}
    model.save(path, step=step, optimizer=optimizer, meta={**meta, "train_config": config})


class Checkpointer:
    """The newest good state of a run in memory (``step``, ``wall``) and the step on disk (``saved``).

    Parameters
    ----------
    model : dynconv.sr.models.Model
        The model being trained; its parameters are copied, restored and saved in place.
    optimizer : dynconv.optim.Optimizer
        Its state is copied and restored with the parameters.
    path : Path
        The checkpoint file (``<out>/checkpoint.npz``).
    config : dict
        The run's config, stored in every checkpoint's header.
    every_seconds : float
        The period of :meth:`save_periodically` (``checkpoint.every_minutes`` × 60).
    loss_at : callable
        ``loss_at(step) -> float``: the current parameters' loss on the batch of ``step``.
    saved : int, optional
        The step of a good checkpoint already on disk (a resumed run), else ``None``.
    clock : callable
        Seconds, for the period (tests pass a fake one).
    """

    def __init__(self, model, optimizer, path, config, every_seconds, loss_at, *, saved=None,
                 clock=time.perf_counter):
        self.model, self.optimizer, self.path, self.config = model, optimizer, path, config
        self.every, self.loss_at, self.saved, self.clock = float(every_seconds), loss_at, saved, clock
        self.step, self.wall = None, None  # the good state in memory: none yet
        self.in_flight = False  # inside updating(): the parameters may be half-updated
        self.last_save = clock()

    def take(self, step, wall):
        """Keep the current state as the good one (its loss was seen finite). Returns False, and
        keeps the older good state, when a parameter is NaN or inf."""
        params = [(n, p) for n, p, _ in self.model.graph.parameters()]
        if not all(np.isfinite(p).all() for _, p in params):
            return False
        self._params = {n: p.copy() for n, p in params}
        self._opt_state = copy.deepcopy(self.optimizer.state_dict())
        self.step, self.wall = step, wall
        return True

    def restore(self):
        """Put the good state back into the model and the optimizer."""
        for n, p, _ in self.model.graph.parameters():
            p[...] = self._params[n]
        self.optimizer.load_state_dict(self._opt_state)

    @contextmanager
    def updating(self):
        """Mark the body as changing the parameters: if it does not finish, the current state is
        not whole and :meth:`save_good` falls back on the good state before it."""
        self.in_flight = True
        yield
        self.in_flight = False

    def save_periodically(self):
        """Write the state just taken if ``every_seconds`` have passed since the last write.

        Call it right after a successful :meth:`take`: the model holds that state.
        """
        if self.clock() - self.last_save >= self.every:
            save_checkpoint(self.model, self.path, self.config, self.step, self.wall, self.optimizer)
            self.saved, self.last_save = self.step, self.clock()

    def save_good(self, step, wall):
        """Write the newest good state, unless it is on disk already: the current state at
        ``step`` if it is whole and its loss is finite, else the one before the step in flight.
        The model is left holding the state written."""
        if not self.in_flight and self.step != step:
            try:
                if math.isfinite(self.loss_at(step)):
                    self.take(step, wall)
            except (Exception, KeyboardInterrupt):  # it cannot be checked: keep the older good state
                pass
        if self.step is not None and self.step != self.saved:
            self.restore()
            save_checkpoint(self.model, self.path, self.config, self.step, self.wall, self.optimizer)
            self.saved = self.step
