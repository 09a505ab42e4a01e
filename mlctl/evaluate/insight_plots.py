"""The plots of the evaluation insights: cumulative gain, lift per decile, learning curve.

Drawn like :mod:`mlctl.evaluate.plots` (Agg, the same figure sizes, colours and
"cannot be drawn" message), from the ``ctx`` sections they illustrate.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlctl.evaluate.learning import MORE_DATA, material_gain
from mlctl.evaluate.plots import _COLOR, _REF, _message, _new_figure, _save


def gain_png(lift: dict[str, Any], path: Path | str) -> Path:
    """Cumulative share of positives found against the share of rows contacted, best
    scores first, with the random-order diagonal."""
    fig = _new_figure(5.5, 5.0)
    ax = fig.add_subplot()
    ax.set_title("Cumulative gain")
    bins = lift.get("bins") or []
    if not bins or bins[0]["gain"] is None:
        _message(ax, "Gain undefined:\nno positive row in the test set")
        return _save(fig, path)
    total = sum(b["rows"] for b in bins)
    xs, ys, seen = [0.0], [0.0], 0
    for b in bins:
        seen += b["rows"]
        xs.append(seen / total)
        ys.append(b["gain"])
    ax.plot(xs, ys, marker="o", color=_COLOR, lw=2, label="model")
    ax.plot([0, 1], [0, 1], ls="--", color=_REF, lw=1, label="random order")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("Share of test rows, highest scores first")
    ax.set_ylabel("Share of positives found")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, path)


def lift_png(lift: dict[str, Any], path: Path | str) -> Path:
    """Lift of each decile (bars) and the cumulative lift (line), against 1 (random)."""
    fig = _new_figure(6.0, 4.5)
    ax = fig.add_subplot()
    ax.set_title("Lift by decile")
    bins = lift.get("bins") or []
    if not bins or bins[0]["lift"] is None:
        _message(ax, "Lift undefined:\nno positive row in the test set")
        return _save(fig, path)
    deciles = [b["decile"] for b in bins]
    ax.bar(deciles, [b["lift"] for b in bins], color=_COLOR, alpha=0.8, label="lift")
    ax.plot(
        deciles,
        [b["cumulative_lift"] for b in bins],
        marker="o",
        color="#d62728",
        lw=2,
        label="cumulative lift",
    )
    ax.axhline(1.0, ls="--", color=_REF, lw=1, label="random (1.0)")
    ax.set_xticks(deciles)
    ax.set_xlabel("Decile of the predicted score (1 = highest)")
    ax.set_ylabel("Positive rate / base rate")
    ax.legend(loc="upper right")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path)


def learning_curve_png(curve: dict[str, Any], path: Path | str) -> Path:
    """The test score against the training rows the model was fitted on."""
    fig = _new_figure(6.0, 4.5)
    ax = fig.add_subplot()
    ax.set_title("Learning curve")
    shown = [p for p in curve.get("points") or [] if p["score"] is not None]
    if not shown:
        _message(ax, "No point of the curve could be scored")
        return _save(fig, path)
    ax.plot(
        [p["train_rows"] for p in shown],
        [p["score"] for p in shown],
        marker="o",
        color=_COLOR,
        lw=2,
        label=f"test {curve.get('metric', 'score')}",
    )
    ax.set_xlabel("Training rows")
    ax.set_ylabel(f"Test {curve.get('metric', 'score')}")
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    # At least ten "material" steps tall, so that test-set noise does not look like a trend.
    scores = [p["score"] for p in shown]
    middle, half = (max(scores) + min(scores)) / 2, (max(scores) - min(scores)) / 2
    half = max(half * 1.15, 5 * material_gain(scores[-1]))
    ax.set_ylim(middle - half, middle + half)
    if curve.get("verdict") == MORE_DATA:
        ax.set_title("Learning curve: still improving at 100 % of the rows")
    elif curve.get("slope") is not None:
        ax.set_title("Learning curve: flat at 100 % of the rows")
    return _save(fig, path)
