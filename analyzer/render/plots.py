"""Figures of an analysis (matplotlib), for notebooks and embedded in the HTML report.

Every function returns a :class:`matplotlib.figure.Figure` built without pyplot's global state, so
notebooks can show it and the report can embed it as PNG.
"""

from __future__ import annotations

import base64
import io
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from analyzer.findings.hpa_skew import Direction
from analyzer.simulate.views import View

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis

VIEW_STYLE = {
    "observed": {"color": "#444444", "lw": 1.0, "ls": "-"},
    View.AS_DEPLOYED: {"color": "#d95f02", "lw": 1.4, "ls": "-"},
    View.APP_ONLY: {"color": "#1b9e77", "lw": 1.4, "ls": "--"},
}
DIRECTION_COLOR = {
    Direction.INFLATION: "#d95f02",
    Direction.DILUTION: "#7570b3",
    Direction.STALLED: "#b00020",
    Direction.NONE: "#999999",
}


def _figure(width: float = 8.0, height: float = 3.2) -> tuple[Figure, Any]:
    """A figure whose layout fits its labels, whatever their length (bar charts named by the cluster)."""
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig, fig.add_subplot()


MARGINS_IN = {"left": 0.8, "right": 0.15, "top": 0.35, "bottom": 0.55}
"""Margins (inches) of the figures over time: room for a title, numeric tick labels up to five digits and
both axis labels. Fixed, since their labels are (a fitted layout measures every text twice, which was
half of drawing them)."""


def _time_figure(width: float, height: float, rows: int = 1) -> tuple[Figure, Any]:
    """A figure over time of ``rows`` axes sharing the x axis, with :data:`MARGINS_IN`."""
    fig = Figure(figsize=(width, height), dpi=100)
    fig.subplots_adjust(
        left=MARGINS_IN["left"] / width, right=1 - MARGINS_IN["right"] / width,
        bottom=MARGINS_IN["bottom"] / height, top=1 - MARGINS_IN["top"] / height, hspace=0.08,
    )  # fmt: skip
    return fig, fig.subplots(rows, 1, sharex=True) if rows > 1 else fig.add_subplot()


def _times(values: Any) -> np.ndarray:
    """Timestamps as numpy datetime64, which matplotlib converts in one pass (a pandas Series or index it
    converts a timestamp at a time)."""
    return np.asarray(values, dtype="datetime64[ns]")


def plain(text: object) -> str:
    """``text`` shown as written: names from the cluster never become mathtext (``$...$``) in a plot."""
    return str(text).replace("$", r"\$")


def _over_time(fig: Figure, ax: Any, title: str, ylabel: str) -> Figure:
    """Title, axis labels, legend and grid of a figure over time."""
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.set_xlabel("time (UTC)")
    ax.legend(loc="upper left", fontsize="small")
    ax.grid(alpha=0.3)
    return fig


def replicas_figure(analysis: Analysis, namespace: str, hpa: str) -> Figure:
    """Replicas over time: observed, replayed as deployed, and app-only."""
    series = analysis.hpa_series
    mine = series[(series.namespace == namespace) & (series.hpa == hpa)]
    fig, ax = _time_figure(8.0, 3.2)
    for view, style in VIEW_STYLE.items():
        part = mine[mine.view == view]
        if len(part):
            ax.step(_times(part.timestamp), part.replicas, where="post", label=view, **style)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # replicas are whole
    return _over_time(fig, ax, f"{plain(namespace)}/{plain(hpa)}: replicas", "replicas")


def utilization_figure(analysis: Analysis, namespace: str, hpa: str) -> Figure:
    """The first metric's utilization as the HPA sees it (as deployed) vs the app alone, with the target."""
    series = analysis.hpa_series
    mine = series[(series.namespace == namespace) & (series.hpa == hpa)]
    fig, ax = _time_figure(8.0, 3.2)
    for view in (View.AS_DEPLOYED, View.APP_ONLY):
        part = mine[mine.view == view]
        missing = part.utilization.isna()
        label = view
        if len(part) and missing.all():
            label = f"{view} (no value: stalled)"
        elif missing.any():
            label = f"{view} (gaps: no value while stalled)"
        ax.plot(_times(part.timestamp), part.utilization, label=label, **VIEW_STYLE[view])
    row = analysis.hpa_skew[(analysis.hpa_skew.namespace == namespace) & (analysis.hpa_skew.hpa == hpa)]
    metric = str(row.metrics.iloc[0]) if len(row) else ""
    target = metric.split(" at ")[-1].rstrip("%") if "%" in metric else ""
    if target.isdigit():
        ax.axhline(int(target), color="#000000", lw=0.8, ls=":", label=f"target {target} %")
    return _over_time(fig, ax, f"{plain(namespace)}/{plain(hpa)}: utilization the HPA computes", "utilization (%)")


def skew_figure(analysis: Analysis, top: int = 20) -> Figure:
    """Replica-hours the sidecars add (+) or remove (−) per HPA, the ``top`` largest."""
    skew = analysis.hpa_skew.dropna(subset=["skew_replica_hours"])
    skew = skew.reindex(skew.skew_replica_hours.abs().sort_values(ascending=True).index).tail(top)
    fig, ax = _figure(8.0, max(2.0, 0.35 * len(skew) + 1.0))
    labels = [plain(f"{r.namespace}/{r.hpa}") for r in skew.itertuples()]
    colors = [DIRECTION_COLOR.get(d, "#999999") for d in skew.direction]
    ax.barh(labels, skew.skew_replica_hours, color=colors)
    ax.axvline(0, color="#000000", lw=0.8)
    ax.set_xlabel("replica-hours as deployed minus app-only, over the snapshot")
    ax.set_title("HPA skew from sidecars")  # the colours in a legend: a title that says them runs off the figure
    shown = [d for d in (Direction.INFLATION, Direction.DILUTION, Direction.STALLED) if d in set(skew.direction)]
    if shown:
        ax.legend(handles=[Patch(color=DIRECTION_COLOR[d], label=d) for d in shown], fontsize="small", loc="best")
    ax.grid(axis="x", alpha=0.3)
    return fig


SHARE_NAMESPACES = 20
"""Namespaces the sidecar-share figure shows at most."""


def sidecar_share_figure(analysis: Analysis, top: int = SHARE_NAMESPACES) -> Figure:
    """Sidecars' share of the billed CPU and memory per namespace: the ``top`` namespaces whose sidecars
    cost most (a bar per namespace of a large cluster is neither readable nor quick to draw)."""
    ns = analysis.namespaces
    if len(ns) > top:
        ns = ns.sort_values(["sidecar_cost_month", "namespace"], ascending=[False, True], kind="stable").head(top)
    fig, ax = _figure(8.0, 3.2)
    x = np.arange(len(ns))
    ax.bar(x - 0.2, 100 * ns.sidecar_cpu_share.fillna(0), width=0.4, label="CPU", color="#1b9e77")
    ax.bar(x + 0.2, 100 * ns.sidecar_memory_share.fillna(0), width=0.4, label="memory", color="#7570b3")
    ax.set_xticks(x, [plain(n) for n in ns.namespace], rotation=30, ha="right")
    ax.set_ylabel("sidecars' share (%)")
    many = len(analysis.namespaces) > top
    which = f"the {len(ns)} namespaces whose sidecars cost most" if many else "per namespace"
    tallest = 100 * ns[["sidecar_cpu_share", "sidecar_memory_share"]].fillna(0).to_numpy().max(initial=0.01)
    ax.set_ylim(0, 1.3 * tallest)  # headroom for the legend above the bars
    ax.set_title(f"Sidecars' share of billed CPU and memory, {which}", fontsize="medium")
    ax.legend(fontsize="small", loc="upper right", ncols=2)
    ax.grid(axis="y", alpha=0.3)
    return fig


def vpa_figure(analysis: Analysis, namespace: str, workload: str) -> Figure:
    """CPU per container: current request, and the VPA's target with its [lower, upper] bounds."""
    rows = analysis.vpa[(analysis.vpa.namespace == namespace) & (analysis.vpa.workload == workload)]
    fig, ax = _figure(6.0, 3.0)
    x = np.arange(len(rows))
    target = 1000 * rows.cpu_target_cores.to_numpy()
    low = target - 1000 * rows.cpu_lower_cores.to_numpy()
    high = 1000 * rows.cpu_upper_cores.to_numpy() - target
    ax.bar(x - 0.2, 1000 * rows.cpu_request_cores.fillna(0), width=0.4, label="current request", color="#999999")
    ax.bar(x + 0.2, np.nan_to_num(target), width=0.4, yerr=[np.nan_to_num(low), np.nan_to_num(high)], capsize=3,
           label="VPA target [lower, upper]", color="#d95f02")  # fmt: skip
    ax.set_xticks(x, [plain(c) for c in rows.container])
    ax.set_ylabel("CPU (millicores)")
    ax.set_title(f"{plain(namespace)}/{plain(workload)}: VPA CPU recommendation")
    ax.legend(fontsize="small")
    ax.grid(axis="y", alpha=0.3)
    return fig


def usage_figure(analysis: Analysis, namespace: str, workload: str) -> Figure:
    """CPU and working set of one pod of the workload over time, app then each sidecar stacked, with the
    app's request and the pod's (all stacked containers') request as lines."""
    pu = analysis.pod_usage
    mine = pu[(pu.namespace == namespace) & (pu.workload == workload)]
    rows = analysis.containers[
        (analysis.containers.namespace == namespace) & (analysis.containers.workload == workload)
    ]
    order = [c for c in rows.container if c in set(mine.container)]  # app first, as the containers table
    fig, axes = _time_figure(8.0, 4.8, rows=2)
    for ax, column, request, scale, unit in (
        (axes[0], "cpu_cores", "cpu_request_cores", 1000.0, "CPU (millicores)"),
        (axes[1], "memory_bytes", "memory_request_bytes", 1 / 2**20, "working set (MiB)"),
    ):
        wide = mine.pivot_table(index="timestamp", columns="container", values=column, observed=True)
        wide = wide.reindex(columns=order).fillna(0.0)
        ax.stackplot(
            _times(wide.index),
            *(scale * wide[c].to_numpy() for c in order),
            labels=[plain(c) for c in order],
            alpha=0.85,
        )
        requests = rows.set_index("container")[request].reindex(order)
        if len(order) and np.isfinite(requests.iloc[0]):
            ax.axhline(scale * requests.iloc[0], color="#000000", lw=0.9, ls="--", label=f"{plain(order[0])} request")
        if requests.notna().any():
            missing = [c for c in order if np.isnan(requests[c])]
            label = "pod request" + (f" (none for {plain(', '.join(missing))})" if missing else "")
            ax.axhline(scale * requests.fillna(0).sum(), color="#b00020", lw=0.9, ls=":", label=label)
        ax.set_ylabel(unit)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize="x-small", ncols=2)
    axes[0].set_title(f"{plain(namespace)}/{plain(workload)}: usage of one pod, app and sidecars stacked")
    axes[1].set_xlabel("time (UTC)")
    return fig


def failure_figure(analysis: Analysis, namespace: str, workload: str, container: str) -> Figure:
    """A failing sidecar over time: its HPA's replicas with those missing metrics held, and the pods it held
    unready with its restarts, per bin of its timeline."""
    fs = analysis.failure_series
    mine = fs[(fs.namespace == namespace) & (fs.workload == workload) & (fs.container == container)]
    times = _times(mine["timestamp"])
    fig, axes = _time_figure(8.0, 4.4, rows=2)
    fig.subplots_adjust(right=1 - 0.6 / 8.0)  # room for the restarts' axis on the right
    top, bottom = axes
    replicas = mine["replicas"].to_numpy(dtype=float)
    if np.isfinite(replicas).any():
        top.step(times, replicas, where="post", color="#1f77b4", lw=1.0, label="replicas (observed)")
        held = mine["replicas_held"].to_numpy(dtype=float)
        top.fill_between(times, replicas - np.maximum(held, 0), replicas, step="post", color="#d62728", alpha=0.5,
                         label="held on by missing metrics")  # fmt: skip
        if (held < 0).any():
            top.fill_between(times, replicas, replicas - np.minimum(held, 0), step="post", color="#7570b3",
                             alpha=0.5, label="held back by missing metrics")  # fmt: skip
        top.legend(loc="upper left", fontsize="x-small")
    else:
        top.text(0.5, 0.5, "no HPA", transform=top.transAxes, ha="center", va="center")
    top.set_ylabel("replicas")
    top.grid(alpha=0.3)
    width = (mine["timestamp"].iloc[1] - mine["timestamp"].iloc[0]).total_seconds() / 60 if len(mine) > 1 else 5
    top.set_title(f"{plain(namespace)}/{plain(workload)}: {plain(container)} over time ({width:.0f}-minute bins)")
    bottom.fill_between(times, 0, mine["pods_unready"].to_numpy(dtype=float), step="post", color="#ff7f0e",
                        alpha=0.6, label="pods it held unready")  # fmt: skip
    bottom.set_ylabel("pods unready")
    bottom.grid(alpha=0.3)
    twin = bottom.twinx()
    twin.step(times, mine["restarts"].to_numpy(dtype=float), where="post", color="#000000", lw=0.8,
              label="restarts")  # fmt: skip
    twin.set_ylabel("restarts")
    twin.set_ylim(0, max(1.0, float(np.nanmax(mine["restarts"].to_numpy(dtype=float), initial=0.0))) * 1.05)
    twin.yaxis.set_major_locator(MaxNLocator(integer=True))
    lines = [*bottom.get_legend_handles_labels()[0], *twin.get_legend_handles_labels()[0]]
    bottom.legend(lines, [str(h.get_label()) for h in lines], loc="upper left", fontsize="x-small")
    bottom.set_xlabel("time (UTC)")
    return fig


TREND_PANELS = (
    ("waste $/month", (("waste_cost_month", "waste"),)),
    ("replica-hours", (("shortfall_replica_hours", "shortfall"), ("waste_replica_hours", "waste"))),
    ("sidecar cost $/month", (("sidecar_cost_month", "sidecar requests"),)),
    ("findings", (("findings_high", "high"), ("findings_medium", "medium"), ("findings_low", "low"))),
)
"""The runs index's panels: (y label, ((summary key, line label), ...)). Waste and shortfall share a panel
in replica-hours but stay two lines: they never add up."""


def trends_figure(times: Any, summaries: list[dict[str, Any]], resolved: list[int], fixed: list[int]) -> Figure:
    """A cluster's runs over time (oldest first): waste, shortfall, sidecar cost and findings by severity;
    runs that found a recommended fix applied since the run before (``fixed``) are marked on every panel,
    and those that found findings resolved (``resolved``) more faintly."""
    fig, axes = _time_figure(9.0, 7.5, rows=len(TREND_PANELS))
    when = _times(times)
    for ax, (label, lines) in zip(axes, TREND_PANELS, strict=True):
        for key, name in lines:
            values = [float(s.get(key) or 0.0) for s in summaries]
            ax.plot(when, values, marker="o", markersize=3, label=name)
        for t, n, f in zip(when, resolved, fixed, strict=True):
            if f:
                ax.axvline(t, color="tab:purple", alpha=0.6, linewidth=3)
            elif n:
                ax.axvline(t, color="tab:green", alpha=0.3, linewidth=2)
        ax.set_ylabel(label)
        ax.legend(loc="upper left", fontsize="small")
        ax.grid(alpha=0.3)
    axes[0].set_title("Runs over time (purple: a recommended fix applied; green: findings resolved)")
    axes[-1].set_xlabel("run (UTC)")
    return fig


def png_data_uri(fig: Figure) -> str:
    """The figure as an inline ``data:image/png;base64`` URI (the HTML report is one self-contained file)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
