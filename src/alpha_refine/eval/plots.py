"""Success and precision plots of an :class:`~alpha_refine.eval.report.EvalReport` (PNG).

Needs matplotlib (the ``plots`` extra); without it :func:`write_plots` warns and writes nothing.
The figures are drawn with matplotlib's Agg canvas directly, so no global backend is changed.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from alpha_refine.eval.report import EvalReport

__all__ = ["write_plots"]

# (file stem, title, x label, curve attribute, thresholds attribute, score attribute, legend)
_PLOTS = (
    ("success", "Success plot", "Overlap threshold", "success_curve", "success_thresholds",
     "auc", "AUC"),
    ("precision", "Precision plot", "Location error threshold (pixels)", "precision_curve",
     "precision_thresholds", "precision", "P@20px"),
    ("norm_precision", "Normalized precision plot", "Normalized location error threshold",
     "norm_precision_curve", "norm_precision_thresholds", "norm_precision", "P_norm@0.2"),
)  # fmt: skip


def write_plots(report: EvalReport, folder: str | Path) -> list[Path]:
    """Write ``success.png``, ``precision.png`` and ``norm_precision.png`` into ``folder``.

    One colour per base tracker: its refined version solid, the base tracker dashed beside it
    (solid when alone); the legend gives each curve's score and is sorted by it. Returns the
    written paths (none, with a warning, when matplotlib is not installed).
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        warnings.warn(
            "matplotlib is not installed, so no plots were written; install the 'plots' extra: "
            "pip install 'alpha-refine[plots]'",
            stacklevel=2,
        )
        return []
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    colours = [f"C{i % 10}" for i in range(len(report.comparisons))]
    written = []
    for stem, title, xlabel, curve_key, threshold_key, score_key, score_label in _PLOTS:
        curves = sum(1 + (c.refined is not None) for c in report.comparisons)
        # Past a handful of curves an inside legend hides them: put it to the right.
        outside = curves > 6
        figure = Figure(figsize=(8.8 if outside else 6.4, 4.8), dpi=120)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        entries: list[tuple[float, Any]] = []
        for colour, comparison in zip(colours, report.comparisons, strict=True):
            for scores, refined in ((comparison.base, False), (comparison.refined, True)):
                if scores is None:
                    continue
                data = scores.scores
                thresholds = np.asarray(getattr(data, threshold_key))
                curve = np.asarray(getattr(data, curve_key))
                score = float(getattr(data, score_key))
                label = f"{comparison.tracker}{'+AR' if refined else ''} [{score:.3f}]"
                (line,) = axes.plot(
                    thresholds,
                    curve,
                    color=colour,
                    # Dashed base curves only where a solid refined curve stands beside them.
                    linestyle="--" if comparison.refined is not None and not refined else "-",
                    linewidth=1.5 if comparison.refined is not None and not refined else 2.0,
                    label=label,
                )
                entries.append((score, line))
        entries.sort(key=lambda item: -item[0] if np.isfinite(item[0]) else np.inf)
        handles = [line for _, line in entries]
        placement: dict[str, Any] = (
            {"loc": "center left", "bbox_to_anchor": (1.02, 0.5)}
            if outside
            else {"loc": "upper right" if stem == "success" else "lower right"}
        )
        axes.legend(
            handles,
            [h.get_label() for h in handles],
            fontsize="small",
            title=score_label,
            **placement,
        )
        axes.set_xlim(float(thresholds[0]), float(thresholds[-1]))
        axes.set_ylim(0.0, 1.0)
        axes.set_xlabel(xlabel)
        axes.set_ylabel("Success rate" if stem == "success" else "Precision")
        axes.set_title(
            f"{title} ({report.convention}, {len(report.sequences)} sequences)", fontsize="medium"
        )
        axes.grid(True, alpha=0.3)
        figure.tight_layout()
        path = folder / f"{stem}.png"
        figure.savefig(path)
        written.append(path)
    return written
