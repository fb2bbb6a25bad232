"""The HTML report's figures, drawn together once the page is written, on every CPU.

Drawing PNGs is most of the HTML's time (a report holds a hundred figures), and each figure is
independent of the others. So the page is written with a marker where each figure goes, the
figures are drawn afterwards, in forked processes when there are CPUs to spare
(:mod:`analyzer.runtime.forked_calls`: the same PNG bytes as in this process), and the markers replaced by
the images.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import partial
from html import escape
from typing import TYPE_CHECKING

from analyzer.runtime.cpus import available_cpus
from analyzer.runtime.forked_calls import forked_calls

if TYPE_CHECKING:
    from matplotlib.figure import Figure

Plot = Callable[[], "Figure"]
"""Builds one figure when called."""

# Escaped text never holds "<", so no label from the cluster can forge a marker.
_MARKER = re.compile(r"<!--figure (\d+)-->")


class FigureSheet:
    """The figures of one page: :meth:`figure` gives a figure's HTML with a marker for its image, and
    :meth:`fill` draws them all and puts each image in place of its marker."""

    def __init__(self) -> None:
        self._plots: list[Plot] = []

    def figure(self, plot: Plot, caption: str) -> str:
        """A plot inline as a PNG data URI (no request leaves the page), its caption escaped."""
        marker = f"<!--figure {len(self._plots)}-->"
        self._plots.append(plot)
        text = escape(caption)
        return f'<figure><img src="{marker}" alt="{text}"><figcaption>{text}</figcaption></figure>'

    def fill(self, page: str, workers: int | None = None) -> str:
        """``page`` with every figure drawn in place of its marker; ``workers``: processes (default: the
        CPUs available)."""
        uris = draw(self._plots, available_cpus() if workers is None else workers)
        return _MARKER.sub(lambda m: uris[int(m.group(1))], page)


def draw(plots: Sequence[Plot], workers: int = 1) -> list[str]:
    """Each plot as a PNG data URI, in order, drawn by this process and ``workers`` - 1 forked ones."""
    return forked_calls([partial(_png, plot) for plot in plots], workers)


def _png(plot: Plot) -> str:
    from analyzer.render.plots import png_data_uri  # matplotlib is imported by the first page that draws

    return png_data_uri(plot())
