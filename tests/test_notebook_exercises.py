"""The notebooks' exercises: every notebook ends with 2-6 of them (the eqs 2-3 ones are 06's 3-6),
every one has a solution in ``notebooks/solutions/``, and its check accepts the solution and
rejects a wrong answer."""
from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
sys.path.insert(0, str(NOTEBOOKS))
exercises = importlib.import_module("exercises")
exercises07 = importlib.import_module("exercises07")

CHECKS = list(exercises.EXERCISES)


def _solution(check):
    number, name = exercises.EXERCISES[check]
    return getattr(importlib.import_module(f"solutions.s{number}"), name)


# Wrong answers, the mistakes each exercise is about: every check must reject its wrong answer.
def _rot(a):
    return np.asarray(a)[..., ::-1, ::-1]


WRONG = {
    "check_conv1d_input_grad": lambda dy, w, pad: _solution(exercises.check_conv1d_input_grad)(
        dy, w[::-1], pad),  # a correlation: the flip forgotten
    "check_conv1d_kernel_grad": lambda dy, x, taps, pad: _solution(exercises.check_conv1d_kernel_grad)(
        dy, x, taps, pad)[::-1],  # eq 3 as printed: the gradient reversed
    "check_conv2d_grads": lambda dy, x, w, pad: (lambda dx_dw: (dx_dw[0], _rot(dx_dw[1])))(
        _solution(exercises.check_conv2d_grads)(dy, x, w, pad)),  # dw rotated by 180 degrees
    "check_predict_eq3": lambda dw: dw,  # "it is dw": the rotation missed
    "check_stride2_input_grad": lambda g, w, shape: _solution(exercises.check_stride2_input_grad)(
        g, _rot(w), shape),  # the flip forgotten
    "check_flip_blind_kernel": lambda kh, kw: np.arange(1.0, kh * kw + 1).reshape(kh, kw),  # asymmetric
    "check_dynamic_1x1": lambda x, k: (lambda y_b: (y_b[0], lambda dy: (y_b[1](dy)[0], y_b[1](dy)[1].sum(
        axis=0, keepdims=True).repeat(len(x), axis=0))))(_solution(exercises.check_dynamic_1x1)(x, k)),  # eq 7 summed
    "check_eq7_literal": lambda dy, x, pad: _rot(_solution(exercises.check_eq7_literal)(dy, x, pad)),
    "check_dynamic_backward_batched": lambda dy, x, k, pad: (lambda dx_dk: (dx_dk[0], np.broadcast_to(
        dx_dk[1].mean(axis=0), k.shape)))(_solution(exercises.check_dynamic_backward_batched)(
            dy, x, k, pad)),  # eq 7 read literally: the batch mean for every sample
    "check_tied_kernels": lambda backward, dy, x, w, pad: backward(
        dy, x, np.broadcast_to(w, (len(x), *w.shape)), pad)[1].mean(axis=0),  # the paper's 1/T
    "check_sgd_momentum": lambda w0, grads, lrs, mu: _solution(exercises.check_sgd_momentum)(
        w0, grads, [lrs[0]] * len(lrs), mu),  # the schedule ignored
    "check_square_backward": lambda x, dy: x * dy,  # the factor 2 forgotten
    "check_scale_weights": lambda inputs, labels, scales: {float(s): 1.0 for s in np.unique(scales)},
    "check_cosine_lr": lambda t, total, m: m + (1 - m) * 0.5 * (1 + np.cos(np.pi * t / total)),  # no clamp
    "check_psnr_shaved": lambda ref, est, scale: _solution(exercises.check_psnr_shaved)(ref, est, 0.5),
    "check_register_unsharp": lambda: None,  # registers nothing
    "check_wide_grid_cost": lambda Hp, Wp, kh, kw: (lambda r: (r, r - 1))(
        _solution(exercises.check_wide_grid_cost)(Hp, Wp, kh, kw)[0]),  # waste read off the ratio
    "check_kn2row_dynamic_dk": lambda dy, x, pad, kh, kw: np.broadcast_to(_solution(
        exercises.check_kn2row_dynamic_dk)(dy, x, pad, kh, kw).sum(axis=0), (len(x), dy.shape[1], x.shape[1], kh, kw)),
    # ^ the static dw: the sample sum taken, every sample handed the batch's gradient
    "check_magnitude_backward": lambda profile, periods, d_mag: _solution(exercises.check_magnitude_backward)(
        profile, periods, d_mag * exercises07.profile_magnitudes(profile, periods)),  # half d|A|^2: no 1/|A|
    "check_laplacian_transpose": lambda g: np.pad(_solution(exercises.check_laplacian_transpose)(g)[
        :, :, 1:-1, 1:-1], [(0, 0), (0, 0), (1, 1), (1, 1)]),  # gathered inside only: the border left at zero
    "check_alias_period": lambda s: s,  # aliasing ignored
    "check_euclidean_grads": lambda pred, target: (lambda d: (2 * d[0], d[1]))(
        _solution(exercises.check_euclidean_grads)(pred, target)),  # dpred: the 1/2 forgotten
    "check_eq1_by_hand": lambda: [[5.0, 2.0], [0.0, 7.0]],  # a true convolution: the kernel turned
    "check_stable_rate": lambda a: 1.0 / a,  # |1 - alpha a| < 1 read as alpha a < 1
    "check_center_crop_backward": lambda dy, shape: np.pad(dy, [(0, 0), (0, 0), (0, shape[2] - dy.shape[2]),
                                                              (0, shape[3] - dy.shape[3])]),  # top-left corner
}


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_solution_passes_its_check(check):
    check(_solution(check))
    assert exercises.try_it(check, _solution(check))


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_check_rejects_a_wrong_answer(check, capsys):
    with pytest.raises(AssertionError):
        check(WRONG[check.__name__])
    assert not exercises.try_it(check, WRONG[check.__name__]) and "not yet" in capsys.readouterr().out


def test_an_untried_exercise_does_not_stop_the_notebook(capsys):
    def untried(*args):
        raise NotImplementedError

    assert not exercises.try_it(exercises.check_cosine_lr, untried)
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("0[1-8]_*.py")), ids=lambda p: p.stem)
def test_each_notebook_ends_with_two_to_six_checked_exercises(path):
    text = path.read_text()
    headings = re.findall(r"^# (#+) (.*)$", text, flags=re.M)
    exercise_at = [i for i, (_, h) in enumerate(headings) if "Exercise" in h]
    numbered = [h for _, h in headings if re.match(r"Exercise \d", h)]
    assert 2 <= len(numbered) <= 6, f"{path.name}: {len(numbered)} exercises"
    assert exercise_at and exercise_at[-1] == len(headings) - 1, f"{path.name} must end with its exercises"
    assert all("Exercise" in h for _, h in headings[exercise_at[0]:]), f"{path.name}: exercises come last"
    number = path.stem[:2]
    mine = [c.__name__ for c, (n, _) in exercises.EXERCISES.items() if n == number]
    assert len(mine) == len(numbered)
    for name in mine:
        assert f"exercises.{name}" in text, f"{path.name} does not run {name}"


def test_a_correct_float32_answer_passes_the_2d_check():
    sol = _solution(exercises.check_conv2d_grads)
    exercises.check_conv2d_grads(lambda *a: tuple(np.asarray(g, np.float32) for g in sol(*a)))


def test_notebook_07s_checks_accept_float32_and_say_what_is_wrong(capsys):
    sol = _solution(exercises.check_magnitude_backward)
    exercises.check_magnitude_backward(lambda *a: sol(*a).astype(np.float32))
    exercises.check_laplacian_transpose(lambda g: _solution(exercises.check_laplacian_transpose)(
        g.astype(np.float32)))
    exercises.check_alias_period(lambda s: np.float32(_solution(exercises.check_alias_period)(s)))
    for check, says in [(exercises.check_laplacian_transpose, "zero on the border"),
                        (exercises.check_alias_period, "under 2 pixels"),
                        (exercises.check_magnitude_backward, "dl/dpi for n = 31, periods (2, 3, 4): off by")]:
        exercises.try_it(check, WRONG[check.__name__])
        assert says in capsys.readouterr().out


def test_try_it_reports_any_exception_and_goes_on(capsys):
    def broken(*args):
        raise KeyError("oops")

    assert exercises.try_it(exercises.check_conv2d_grads, broken) is False
    assert "raised KeyError" in capsys.readouterr().out
