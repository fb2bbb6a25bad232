"""The HTML report's figures, drawn together once the page is written, on every CPU.

Drawing PNGs is most of the HTML's time (about 0.15 s a figure, and a report holds a hundred), and each
figure is independent of the others. So the page is written with a marker where each figure goes, the
figures are drawn afterwards, in forked processes when there are CPUs to spare (the same PNG bytes as
in this process), and the markers replaced by the images.
"""

from __future__ import annotations

import gc
import multiprocessing as mp
import re
from collections.abc import Callable, Sequence
from html import escape

from matplotlib.figure import Figure

from analyzer.render.plots import png_data_uri
from analyzer.simulate.hpa_replay import available_cpus

Plot = Callable[[], Figure]
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
    """Each plot as a PNG data URI, in order; with ``workers`` > 1 (and ``fork``) this process draws a
    share and ``workers`` - 1 forked processes, which inherit the plots and the analysis they read, the
    rest (one fewer copy of what they touch than a pool of ``workers``)."""
    workers = min(workers, len(plots))
    if workers < 2 or "fork" not in mp.get_all_start_methods():
        return [png_data_uri(plot()) for plot in plots]
    global _INHERITED
    _INHERITED = plots
    mine = range(0, len(plots), workers)
    theirs = [i for i in range(len(plots)) if i % workers]
    uris: list[str] = [""] * len(plots)
    # A collection in a child would touch (and so copy) every object it inherits; frozen ones are skipped.
    gc.freeze()
    try:
        with mp.get_context("fork").Pool(workers - 1) as pool:
            drawn = pool.map_async(_draw, theirs, chunksize=1)
            for i in mine:
                uris[i] = _draw(i)
            for i, uri in zip(theirs, drawn.get(), strict=True):
                uris[i] = uri
    finally:
        gc.unfreeze()
        _INHERITED = ()
    return uris


_INHERITED: Sequence[Plot] = ()
"""The plots the forked processes of :func:`draw` draw (set before they are forked)."""


def _draw(index: int) -> str:
    return png_data_uri(_INHERITED[index]())
