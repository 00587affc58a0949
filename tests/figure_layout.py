"""Layout checks on a drawn matplotlib figure: what a reader of the book cannot read or cannot see.

Issue 18 listed tick labels run together until unreadable (Figure 3), a legend box drawn over a data point
(Figure 1a) and a marker cut in half by the axes' edge (Figure 2). Each is a geometric fact about the drawn
figure, checked here in display coordinates after ``fig.canvas.draw()``, so the figure tests and the browser
test (which re-draws the book's figures) share one definition of "readable": :func:`layout_problems`, and
one set of figures to apply it to: :func:`study_figures`, every figure a study's pages draw, through the same
functions and calls, from simulated results.

A rotated tick label is compared as the rotated rectangle it is, not its axis-aligned bounding box: slanted
neighbours' boxes overlap although their text does not.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from helpers.analysis import figures
from helpers.analysis.gaps import strategy_errors
from helpers.analysis.paired import mcnemar_table, paired_table
from helpers.evaluation.accuracy_chart import plot_accuracy_by_context
from helpers.evaluation.refusal import apply_refusal_rule
from helpers.vocabulary import COMPARED_VARIANTS

#: Pixels by which two boxes must overlap to count: labels that merely touch are readable.
TOLERANCE_PX = 1.0


def _renderer(fig: Figure):
    fig.canvas.draw()
    return fig.canvas.get_renderer()


def visible_tick_labels(fig: Figure) -> list[tuple[str, Text]]:
    """Every drawn, non-empty tick label of the figure, with a name saying where it is.

    Ticks outside the view limits are skipped: matplotlib keeps their labels but does not draw them.
    """
    labels = []
    for index, ax in enumerate(fig.axes):
        if not ax.get_visible() or not ax.axison:
            continue
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * (high - low)
            locs = axis.get_majorticklocs()
            for loc, tick in zip(locs, axis.get_major_ticks(len(locs)), strict=True):
                if not low - slack <= loc <= high + slack:
                    continue
                for label in (tick.label1, tick.label2):
                    if label.get_visible() and label.get_text().strip():
                        labels.append((f"axes {index} {name} tick {label.get_text()!r}", label))
    return labels


def _text_corners(label: Text, renderer) -> np.ndarray:
    """The four corners of the rectangle a (possibly rotated) text covers on screen, shrunk by the tolerance."""
    outer = label.get_window_extent(renderer)
    angle = label.get_rotation()
    label.set_rotation(0)
    flat = label.get_window_extent(renderer)
    label.set_rotation(angle)
    half_w = max(flat.width / 2 - TOLERANCE_PX, 0.0)
    half_h = max(flat.height / 2 - TOLERANCE_PX, 0.0)
    corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    theta = np.deg2rad(angle)
    rotation = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    centre = np.array([(outer.x0 + outer.x1) / 2, (outer.y0 + outer.y1) / 2])
    return corners @ rotation.T + centre


def _rectangles_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two convex quadrilaterals overlap (separating axis test over both shapes' edge normals)."""
    for shape in (a, b):
        for edge in np.diff(np.vstack([shape, shape[:1]]), axis=0):
            normal = np.array([-edge[1], edge[0]])
            if not normal.any():
                continue
            pa, pb = a @ normal, b @ normal
            if pa.max() <= pb.min() or pb.max() <= pa.min():
                return False
    return True


def overlapping_tick_labels(fig: Figure) -> list[str]:
    """Pairs of tick labels whose text overlaps on screen, within one axes or across panels."""
    renderer = _renderer(fig)
    shapes = [(name, _text_corners(label, renderer)) for name, label in visible_tick_labels(fig)]
    return [
        f"tick labels overlap: {a} and {b}"
        for i, (a, shape_a) in enumerate(shapes)
        for b, shape_b in shapes[i + 1 :]
        if _rectangles_overlap(shape_a, shape_b)
    ]


def _points_px(points: np.ndarray, transform) -> np.ndarray:
    points = np.asarray(points, dtype=float).reshape(-1, 2)
    points = points[np.isfinite(points).all(axis=1)]
    return transform.transform(points) if len(points) else points


def data_points(ax: Axes) -> Iterator[tuple[str, np.ndarray, float]]:
    """``(what, display xy, marker radius in px)`` for every drawn datum of an axes: line vertices and markers,
    scatter points, error-bar ends and bar tops. Reference lines (``axhline``/``axvline``, drawn in axes
    coordinates) are not data."""
    px_per_point = ax.figure.dpi / 72
    for line in ax.get_lines():
        if not line.get_visible() or line.get_transform() != ax.transData:
            continue
        has_marker = line.get_marker() not in (None, "None", "", " ")
        radius = line.get_markersize() / 2 * px_per_point if has_marker else 0.0
        for xy in _points_px(line.get_xydata(), ax.transData):
            yield "line vertex", xy, radius
    for collection in ax.collections:
        if not collection.get_visible():
            continue
        if isinstance(collection, PathCollection):
            sizes = collection.get_sizes()
            radius = float(np.sqrt(sizes.max()) / 2 * px_per_point) if len(sizes) else 0.0
            offsets = _points_px(collection.get_offsets(), collection.get_offset_transform())
            for xy in offsets:
                yield "scatter point", xy, radius
        elif isinstance(collection, LineCollection):
            for segment in collection.get_segments():
                for xy in _points_px(segment, collection.get_transform()):
                    yield "error bar end", xy, 0.0
    for patch in ax.patches:
        if (
            isinstance(patch, Rectangle)
            and patch.get_visible()
            and patch.get_data_transform() == ax.transData
        ):
            top = (patch.get_x() + patch.get_width() / 2, patch.get_y() + patch.get_height())
            for xy in _points_px(top, ax.transData):
                yield "bar top", xy, 0.0


def _inside(box: Bbox, xy: np.ndarray, margin: float) -> bool:
    return box.x0 - margin < xy[0] < box.x1 + margin and box.y0 - margin < xy[1] < box.y1 + margin


def legends_over_data(fig: Figure) -> list[str]:
    """Legends (of an axes or of the figure) whose box covers a drawn data point of any panel."""
    renderer = _renderer(fig)
    legends = [legend for legend in [*fig.legends, *(ax.get_legend() for ax in fig.axes)] if legend]
    problems = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for index, ax in enumerate(fig.axes):
            clip = ax.get_window_extent(renderer)
            for what, xy, radius in data_points(ax):
                if _inside(clip, xy, TOLERANCE_PX) and _inside(box, xy, radius - TOLERANCE_PX):
                    problems.append(f"legend covers a {what} of axes {index} at {np.round(xy).tolist()}")
    return problems


def clipped_markers(fig: Figure) -> list[str]:
    """Markers whose centre is drawn but whose disc reaches past the edge of its axes, so the edge cuts it."""
    renderer = _renderer(fig)
    problems = []
    for index, ax in enumerate(fig.axes):
        frame = ax.get_window_extent(renderer)
        for what, xy, radius in data_points(ax):
            drawn = _inside(frame, xy, TOLERANCE_PX)
            if radius > TOLERANCE_PX and drawn and not _inside(frame, xy, TOLERANCE_PX - radius):
                problems.append(f"{what} of axes {index} cut by the axes edge at {np.round(xy).tolist()}")
    return problems


def layout_problems(fig: Figure) -> list[str]:
    """Everything this module finds wrong with a figure's layout, each problem once (seaborn draws some
    curves twice); empty when a reader can read it all."""
    return list(dict.fromkeys(overlapping_tick_labels(fig) + legends_over_data(fig) + clipped_markers(fig)))


def simulated_warmth() -> pd.DataFrame:
    """One model's warm and cold fine-tunes from the original (epoch 0), cold ending at the lowest score: the
    case where a legend in the lower right covered a point."""
    return pd.DataFrame(
        {
            "model": ["m"] * 7,
            "variant": ["original", "warm", "warm", "warm", "cold", "cold", "cold"],
            "epoch": [0, 0.5, 1, 2, 0.5, 1, 2],
            "mean": [0.010, 0.015, 0.020, 0.030, 0.009, 0.008, 0.004],
            "sem": [0.002] * 7,
        }
    )


def simulated_benchmarks() -> pd.DataFrame:
    """Capability results of every variant on the three benchmarks, with 95% intervals (percent)."""
    return pd.DataFrame(
        [
            {"model": "m", "variant": v, "benchmark": b, "accuracy": a, "ci_lower": a - 8, "ci_upper": a + 8}
            for v, shift in zip(figures.VARIANT_ORDER, (0, -3, -1, 2), strict=True)
            for b, a in (("MMLU", 40 + shift), ("GSM8K", 10 + shift), ("AdvBench", 90 + shift))
        ]
    )


def study_figures(rows: pd.DataFrame) -> dict[str, Figure]:
    """Every figure a study's pages draw, from evaluation rows (``tests/simulate.py``) with an original and the
    warm fine-tune at least: the analysis page's five, as ``notebooks/analysis.ipynb`` calls them (Figures 2
    and 3 for the warm fine-tune), and the warm evaluation page's chart, as ``notebooks/evaluate.ipynb`` does.
    Warmth and benchmarks are :func:`simulated_warmth` and :func:`simulated_benchmarks`."""
    variants = [v for v in COMPARED_VARIANTS if v in set(rows["variant"])]
    cells = pd.concat([mcnemar_table(paired_table(rows, v)) for v in variants], ignore_index=True)
    scored = apply_refusal_rule(rows[rows["variant"].eq("warm")])
    contexts = list(dict.fromkeys(scored["amendment_type"]))
    return {
        "analysis-fig1a-warmth": figures.plot_warmth_by_epoch(simulated_warmth()),
        "analysis-fig2-error-scatter": figures.plot_error_scatter(cells[cells["variant"].eq("warm")]),
        "analysis-fig3-error-by-strategy": figures.plot_error_by_strategy(strategy_errors(cells, "warm")),
        "analysis-fig4-capabilities": figures.plot_capabilities(simulated_benchmarks()),
        "analysis-fig5-accuracy-change": figures.plot_accuracy_change_by_context(cells),
        "evaluate-warm-accuracy-by-context": plot_accuracy_by_context(
            scored, contexts, "warm: accuracy by context and user belief"
        ),
    }
