"""Report renderers by name: ``--format`` choices and docs come from :data:`RENDERERS`.

The built-in formats are listed here explicitly; each renderer module knows nothing of the others.
"""

from __future__ import annotations

from analyzer.errors import SidecarImpactError, clip
from analyzer.render import csvout, fixes, html, jsonout, long_tables, markdown
from analyzer.render.renderer import Renderer

RENDERERS: dict[str, Renderer] = {
    r.name: r
    for r in (
        html.RENDERER,
        jsonout.RENDERER,
        markdown.RENDERER,
        csvout.RENDERER,
        long_tables.SERIES,
        long_tables.PODS,
        fixes.RENDERER,
    )
}


def find(name: str) -> Renderer:
    try:
        return RENDERERS[name]
    except KeyError:
        raise SidecarImpactError(f"unknown report format {clip(name)} (choose from {', '.join(available())})") from None


def available() -> list[str]:
    return sorted(RENDERERS)
