r"""Optimizers (SGD of paper eq 4, Adam), learning-rate schedules and gradient-norm clipping.

An optimizer updates parameters **in place** from the gradients the layers stored::

    opt = SGD(graph, lr=1e-4, momentum=0.9, groups={"conv3.*": {"lr": 1e-5}})
    for step in range(steps):
        graph.forward(feeds); graph.backward(); opt.step()

``params`` is anything with a ``parameters()`` method yielding ``(name, param, grad)`` — a
:class:`~dynconv.graph.Graph` or a layer — re-read at every step (so ``astype`` afterwards is
safe), or a list of such triples.

**Parameter groups.** ``groups`` maps shell-style name patterns (``fnmatch``: ``"conv3.*"``,
``"*.b"``) to overrides of the hyperparameters; the first matching pattern wins, others use the
defaults. A pattern that matches no parameter is an error (it is almost always a typo that would
silently train with the wrong rate). The paper's rates: ``lr=1e-4`` with ``{"conv3.*": {"lr": 1e-5}}``.

**Schedules** multiply every group's rate by a factor of the step number ``t`` (0 for the first
step): :class:`ConstantLR`, :class:`StepLR`, :class:`CosineLR`.

**State.** ``state_dict()`` holds the step count, the hyperparameters (for the record) and the
per-parameter buffers (``"conv1.w/momentum"`` → array); ``load_state_dict`` restores the step and
buffers — hyperparameters come from the constructor, so a resumed run may change them.
"""
from __future__ import annotations

import fnmatch
import math

import numpy as np

from dynconv.kernels import sgd_update


# --------------------------------------------------------------------------- schedules
class ConstantLR:
    """Factor 1 at every step."""

    def __call__(self, t):
        return 1.0

    def to_dict(self):
        return {"type": "constant"}


class StepLR:
    r"""Multiply the rate by ``gamma`` every ``step_size`` steps: :math:`\gamma^{\lfloor t/s \rfloor}`."""

    def __init__(self, step_size, gamma=0.1):
        if step_size < 1:
            raise ValueError(f"step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)

    def __call__(self, t):
        return self.gamma ** (t // self.step_size)

    def to_dict(self):
        return {"type": "step", "step_size": self.step_size, "gamma": self.gamma}


class CosineLR:
    r"""Cosine decay from 1 to ``min_factor`` over ``total_steps``, then ``min_factor``.

    .. math::

        f(t) = m + (1 - m)\,\tfrac12\big(1 + \cos(\pi \min(t, T)/T)\big)
    """

    def __init__(self, total_steps, min_factor=0.0):
        if total_steps < 1:
            raise ValueError(f"total_steps must be >= 1, got {total_steps}")
        self.total_steps, self.min_factor = int(total_steps), float(min_factor)

    def __call__(self, t):
        t = min(t, self.total_steps)
        m = self.min_factor
        return m + (1 - m) * 0.5 * (1 + math.cos(math.pi * t / self.total_steps))

    def to_dict(self):
        return {"type": "cosine", "total_steps": self.total_steps, "min_factor": self.min_factor}


# --------------------------------------------------------------------------- clipping
def clip_grad_norm(grads, max_norm):
    r"""Scale gradients in place so that their global L2 norm is at most ``max_norm``.

    .. math::

        g \leftarrow g \cdot \min\!\Big(1, \frac{\text{max\_norm}}{\lVert g \rVert_2}\Big),
        \qquad \lVert g \rVert_2^2 = \sum_{\text{tensors}} \sum g^2

    Parameters
    ----------
    grads : iterable of ndarray, or an object with ``parameters()``
    max_norm : float

    Returns
    -------
    float
        The norm before clipping.
    """
    if hasattr(grads, "parameters"):
        grads = [g for _, _, g in grads.parameters()]
    grads = list(grads)
    norm = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    if norm > max_norm:
        for g in grads:
            g *= g.dtype.type(max_norm / norm)
    return norm


# --------------------------------------------------------------------------- optimizers
class Optimizer:
    """Shared machinery: parameter source, groups, schedule, clipping, step count, state."""

    hyper_names: tuple = ()

    def __init__(self, params, *, groups=None, schedule=None, clip_norm=None, **defaults):
        self._source = params if hasattr(params, "parameters") else list(params)
        self.defaults = defaults
        self.groups = list((groups or {}).items())
        for pattern, over in self.groups:
            bad = set(over) - set(self.hyper_names)
            if bad:
                raise ValueError(f"group {pattern!r}: unknown hyperparameter(s) {sorted(bad)}; "
                                 f"known: {list(self.hyper_names)}")
        self.schedule = schedule or ConstantLR()
        self.clip_norm = clip_norm
        self.step_count = 0
        self.buffers: dict[str, dict[str, np.ndarray]] = {}
        names = [n for n, _, _ in self._triples()]
        for pattern, _ in self.groups:
            if not fnmatch.filter(names, pattern):
                raise ValueError(f"group pattern {pattern!r} matches no parameter; parameters are {names}")

    def _triples(self):
        return list(self._source.parameters()) if hasattr(self._source, "parameters") else self._source

    def hyper(self, name):
        """The hyperparameters of parameter ``name`` (defaults overridden by its group)."""
        for pattern, over in self.groups:
            if fnmatch.fnmatchcase(name, pattern):
                return {**self.defaults, **over}
        return dict(self.defaults)

    def lrs(self):
        """``{name: learning rate}`` that the next ``step()`` will use (schedule applied)."""
        f = self.schedule(self.step_count)
        return {n: self.hyper(n)["lr"] * f for n, _, _ in self._triples()}

    def step(self):
        """Update every parameter once from its current gradient."""
        triples = self._triples()
        if self.clip_norm is not None:
            clip_grad_norm([g for _, _, g in triples], self.clip_norm)
        factor = self.schedule(self.step_count)
        for name, p, g in triples:
            h = self.hyper(name)
            state = self.buffers.setdefault(name, {})
            self._update(p, g, state, h["lr"] * factor, h)
        self.step_count += 1

    def _update(self, p, g, state, lr, h):
        raise NotImplementedError

    def _buffer(self, state, key, p):
        if key not in state:
            state[key] = np.zeros_like(p)
        return state[key]

    def state_dict(self):
        """``{"type", "step", "hyper", "buffers"}``; everything but the buffers is JSON-able."""
        return {
            "type": type(self).__name__,
            "step": self.step_count,
            "hyper": {"defaults": self.defaults, "groups": [[p, o] for p, o in self.groups],
                      "schedule": self.schedule.to_dict(), "clip_norm": self.clip_norm},
            "buffers": {f"{n}/{k}": v for n, st in self.buffers.items() for k, v in st.items()},
        }

    def load_state_dict(self, state):
        """Restore the step count and the buffers; every buffer must match a parameter's shape."""
        if state.get("type") != type(self).__name__:
            raise ValueError(f"optimizer state is for {state.get('type')!r}, not {type(self).__name__!r}")
        params = {n: p for n, p, _ in self._triples()}
        buffers = {}
        for key, value in state["buffers"].items():
            name, _, kind = key.rpartition("/")
            if name not in params:
                raise ValueError(f"optimizer state has buffer {key!r} for unknown parameter {name!r}")
            if np.shape(value) != params[name].shape:
                raise ValueError(f"optimizer buffer {key!r}: expected shape {params[name].shape}, "
                                 f"got {np.shape(value)}")
            buffers.setdefault(name, {})[kind] = np.array(value, dtype=params[name].dtype)
        self.step_count = int(state["step"])
        self.buffers = buffers


class SGD(Optimizer):
    r"""Stochastic gradient descent: paper eq 4, with Caffe's momentum and weight decay.

    .. math::

        v \leftarrow \mu v + \alpha\,(g + \lambda w), \qquad w \leftarrow w - v

    With :math:`\mu = \lambda = 0` this is eq 4, :math:`w \leftarrow w - \alpha g`; the update
    itself is :func:`dynconv.kernels.sgd_update`, the one implementation of eq 4. (Caffe's
    form — the learning rate inside the velocity — is what the paper's SRCNN-style training
    used; it differs from PyTorch's only when the rate changes.)

    Parameters
    ----------
    params : Graph, layer, or list of (name, param, grad)
    lr : float
        :math:`\alpha`.
    momentum : float
        :math:`\mu`.
    weight_decay : float
        :math:`\lambda` (L2).
    groups : dict pattern -> dict, optional
        Per-pattern overrides of ``lr``, ``momentum``, ``weight_decay``.
    schedule : ConstantLR, StepLR or CosineLR
    clip_norm : float, optional
        Clip the global gradient norm to this before every step.
    """

    hyper_names = ("lr", "momentum", "weight_decay")

    def __init__(self, params, lr, *, momentum=0.0, weight_decay=0.0, groups=None,
                 schedule=None, clip_norm=None):
        super().__init__(params, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         groups=groups, schedule=schedule, clip_norm=clip_norm)

    def _update(self, p, g, state, lr, h):
        if h["weight_decay"]:
            g = g + h["weight_decay"] * p
        if not h["momentum"]:
            sgd_update(p, g, lr)  # eq 4: w <- w - lr g
            return
        v = self._buffer(state, "momentum", p)
        v *= h["momentum"]
        v += lr * g
        sgd_update(p, v, 1.0)  # w <- w - v: eq 4 with the velocity as the step


class Adam(Optimizer):
    r"""Adam (Kingma & Ba) with bias correction and optional L2 weight decay.

    .. math::

        g' = g + \lambda w,\quad m \leftarrow \beta_1 m + (1-\beta_1) g',\quad
        v \leftarrow \beta_2 v + (1-\beta_2) g'^2,\\
        w \leftarrow w - \alpha\,\frac{m / (1-\beta_1^t)}{\sqrt{v/(1-\beta_2^t)} + \epsilon}

    with :math:`t` the 1-based step number. Parameters as :class:`SGD`, plus ``betas``, ``eps``.
    """

    hyper_names = ("lr", "betas", "eps", "weight_decay")

    def __init__(self, params, lr=1e-3, *, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 groups=None, schedule=None, clip_norm=None):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay,
                         groups=groups, schedule=schedule, clip_norm=clip_norm)

    def _update(self, p, g, state, lr, h):
        b1, b2 = h["betas"]
        t = self.step_count + 1
        if h["weight_decay"]:
            g = g + h["weight_decay"] * p
        m, v = self._buffer(state, "m", p), self._buffer(state, "v", p)
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        p -= (lr / (1 - b1 ** t)) * m / (np.sqrt(v / (1 - b2 ** t)) + h["eps"])
