"""``--plot FILE.png``: each row's ratio to its floor, a bar per header, on a log scale.

Reads the rows as ``--json`` writes them (``Result`` fields), so a plot can
be drawn again from a saved run (``--plot FILE.png --from-json RUN.json``).
Rows that are their own floor (ratio 1 by definition) and skipped rows are
left out; a row whose floor is not the headline floor names it, and a row
with a target of issue 13 has it drawn across its bars.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .headers import HEADERS, row_name
from .targets import ROW_LIMITS

__all__ = ["plot_ratios"]

_COLOURS = {"alone": "#4c72b0", "crowded": "#dd8452"}


def _groups(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, dict[str, float]]]:
    """(row name, tick label, {header: ratio}) per row that has a ratio and is not its own floor."""
    groups: dict[str, tuple[str, str, dict[str, float]]] = {}
    for row in rows:
        if row.get("ratio") is None or row["key"] == row["floor"]:
            continue
        name, floor = row_name(row["key"]), row_name(row["floor"])
        label = row["label"] if floor == "floor" else f"{row['label']}  [vs {floor}]"
        groups.setdefault(name, (name, label, {}))[2][row["header"]] = row["ratio"]
    return list(groups.values())


def plot_ratios(rows: Sequence[Mapping[str, Any]], path: Path, title: str) -> int:
    """Draw the ratios of ``rows`` into the PNG ``path``; returns the number of bar groups."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = _groups(rows)
    if not groups:
        raise ValueError("no measured rows to plot")
    height = 0.8 / len(HEADERS)
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.42 * len(groups)), layout="constrained")
    for n, header in enumerate(HEADERS):
        ys = [g + (n - (len(HEADERS) - 1) / 2) * height for g in range(len(groups))]
        values = [ratios.get(header, float("nan")) for _, _, ratios in groups]
        bars = ax.barh(ys, values, height=height, color=_COLOURS.get(header), label=f"{header} Cookie header")
        ax.bar_label(bars, labels=[f"{v:.2f}x" if v == v else "" for v in values], padding=3, fontsize=7)
    ax.set_xscale("log")
    finite = [v for _, _, ratios in groups for v in ratios.values()]
    ax.set_xlim(min(finite) / 1.5, max(finite) * 4)  # room for the value labels
    ax.axvline(1.0, color="black", linewidth=1)
    limits = [(g, ROW_LIMITS[name]) for g, (name, _, _) in enumerate(groups) if name in ROW_LIMITS]
    for n, (g, limit) in enumerate(limits):
        ax.vlines(limit, g - 0.45, g + 0.45, color="#c44e52", linewidth=2,
                  label="the row's target (issue 13)" if n == 0 else "_nolegend_")
    ax.set_yticks(range(len(groups)), [label for _, label, _ in groups], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("time per request / its floor's, same header, same round (log scale; 1 = floor)")
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return len(groups)
