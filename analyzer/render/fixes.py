"""``fixes/``: every recommended fix as a file per object, and ``apply.sh`` to read before running.

Each file is a JSON Patch for ``kubectl patch --type json``; its ``test`` operations make it fail,
changing nothing, when the object is no longer the one analysed. ``apply.sh`` lists one command per
object with the findings it answers as comments; run it from the report folder (it changes there).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from analyzer.findings.remedies import KIND_OF_RESOURCE, fix_file
from analyzer.render.renderer import Renderer

if TYPE_CHECKING:
    from analyzer.findings.analysis import Analysis

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]+")


def _comment(text: str) -> str:
    return _UNPRINTABLE.sub(" ", text)


def produce(analysis: Analysis, top: int = 0) -> dict[str, str]:
    chosen = analysis.remedies[analysis.remedies["recommended"] & (analysis.remedies["patch"] != "")]
    files: dict[str, list[dict[str, object]]] = {}
    commands: dict[str, tuple[str, list[str]]] = {}
    findings = analysis.findings.set_index(["namespace", "object"])
    for r in chosen.itertuples(index=False):
        resource, _, name = str(r.object).partition("/")
        path = fix_file(r.namespace, KIND_OF_RESOURCE[resource], name)
        files.setdefault(path, []).extend(json.loads(r.patch))
        why = [f"{r.namespace}/{r.object}: {r.remedy}: {r.description}"]
        key = (r.namespace, f"hpa/{r.hpa}")
        if key in findings.index:
            hit = findings.loc[[key]].iloc[0]
            why.insert(0, f"{r.namespace}/hpa/{r.hpa}: {hit['kind']} ({hit['severity']}): {hit['message']}")
        if r.notes:
            why.append(f"not in the patch: {r.notes}")
        previous = commands.get(path, (str(r.command), []))[1]
        commands[path] = (str(r.command), previous + why)
    for h in analysis.vpa_hazards[analysis.vpa_hazards["patch"] != ""].itertuples(index=False):
        path = fix_file(h.namespace, "VerticalPodAutoscaler", h.vpa)
        files[path] = json.loads(h.patch)  # one patch per VPA, the same on each of its hazards
        previous = commands.get(path, (str(h.command), []))[1]
        commands[path] = (str(h.command), [*previous, f"{h.namespace}/vpa/{h.vpa}: vpa-{h.hazard} ({h.severity}): "
                                                      f"{h.change}"])  # fmt: skip
    meta = analysis.metadata
    script = [
        "#!/bin/sh",
        f"# Fixes sidecar-impact recommends for {_comment(meta.cluster)}, from the snapshot "
        f"{meta.start.isoformat()} to {meta.end.isoformat()}.",
        "# Read each one before running. Every patch is a JSON Patch guarded by test operations: it fails,",
        "# changing nothing, when the object changed since the snapshot. Run from the report folder.",
        "set -eu",
        'cd "$(dirname "$0")/.."',
        "",
    ]
    for path in sorted(commands):
        command, why = commands[path]
        script += [*(f"# {_comment(line)}" for line in why), command, ""]
    if not commands:
        script.append("# Nothing to fix: no HPA or VPA finding has a fix that applies as a patch.")
    out = {path: json.dumps(ops, indent=2) + "\n" for path, ops in files.items()}
    out["apply.sh"] = "\n".join(script) + "\n"
    return out


RENDERER = Renderer("fixes", "fixes", produce, "each recommended fix as a JSON Patch per object, and apply.sh")
