"""``fixes/``: every recommended fix as a file per object, and ``apply.sh`` to read before running; the
changes at the causes' sources, the alternative, in ``apply-at-source.sh``.

Each object's file is a JSON Patch for ``kubectl patch --type json``; its ``test`` operations make it
fail, changing nothing, when the object is no longer the one analysed. ``apply.sh`` lists one command per
object with the findings it answers as comments; run it from the report folder (it changes there).
``apply-at-source.sh`` answers whole causes at once: a namespace's injector annotations as a merge patch
(``namespace-NAME.json``), and as comments the mesh-wide settings their owner applies. For a cause's
members, apply one script's fixes or the other's, not both.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from analyzer.findings.native_migration import MIGRATION_FOLDER
from analyzer.findings.remedies import KIND_OF_RESOURCE, annotations_patch, fix_file, namespace_command, pointer
from analyzer.model.signals import NAMESPACE_READERS, REQUEST_ANNOTATIONS
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
    for f in analysis.failures[analysis.failures["patch"] != ""].itertuples(index=False):
        path = fix_file(f.namespace, str(f.workload_kind), str(f.workload))
        files.setdefault(path, []).extend(json.loads(f.patch))
        previous = commands.get(path, (str(f.command), []))[1]
        commands[path] = (str(f.command), [*previous, f"{f.namespace}/{f.workload}: {f.container}: {f.fix}"])
    for kind, table in (("sidecar-start-order", analysis.start_order), ("sidecar-stop-order", analysis.stop_order)):
        for o in table[table["patch"] != ""].itertuples(index=False):
            path = fix_file(o.namespace, str(o.workload_kind), str(o.workload))
            files.setdefault(path, []).extend(json.loads(o.patch))
            previous = commands.get(path, (str(o.command), []))[1]
            commands[path] = (str(o.command), [*previous, f"{o.namespace}/{o.workload}: {kind}: {o.fix}"])
    for j in analysis.jobs_held[analysis.jobs_held["patch"] != ""].itertuples(index=False):
        path = fix_file(j.namespace, str(j.workload_kind), str(j.workload))
        files.setdefault(path, []).extend(json.loads(j.patch))
        previous = commands.get(path, (str(j.command), []))[1]
        commands[path] = (str(j.command), [*previous, f"{j.namespace}/{j.workload}: job-held-by-sidecar: {j.fix}"])
    meta = analysis.metadata
    script = _script([
        f"# Fixes sidecar-impact recommends for {_comment(meta.cluster)}, from the snapshot "
        f"{meta.start.isoformat()} to {meta.end.isoformat()}.",
        "# Read each one before running. Every patch is a JSON Patch guarded by test operations: it fails,",
        "# changing nothing, when the object changed since the snapshot. Run from the report folder.",
    ], commands)  # fmt: skip
    if not commands:
        script += "# Nothing to fix: no HPA, VPA, sidecar failure or held Job finding has a patch.\n"
    return _patch_files(files) | {"apply.sh": script} | _at_source(analysis) | _native_sidecars(analysis)


def _script(header: list[str], commands: dict[str, tuple[str, list[str]]]) -> str:
    """A script run from the report folder: ``header`` comments, then per patch file its command under the
    reasons for it as comments."""
    lines = ["#!/bin/sh", *header, "set -eu", 'cd "$(dirname "$0")/.."', ""]
    for path in sorted(commands):
        command, why = commands[path]
        lines += [*(f"# {_comment(line)}" for line in why), command, ""]
    return "\n".join(lines) + "\n"


def _patch_files(files: dict[str, list[dict[str, object]]]) -> dict[str, str]:
    return {path: json.dumps(combined(ops), indent=2) + "\n" for path, ops in files.items()}


def combined(ops: list[dict[str, object]]) -> list[dict[str, object]]:
    """One object's operations from several fixes, each built against the object as collected: an ``add`` of a
    whole map an earlier operation already added (two fixes annotating a template that had no annotations)
    becomes an ``add`` of each of its keys, so no fix undoes another."""
    added: set[str] = set()
    out: list[dict[str, object]] = []

    def add(path: str, value: object) -> None:
        if isinstance(value, dict) and path in added:
            for key, inner in value.items():
                add(f"{path}/{pointer(key)[1:]}", inner)
            return
        if isinstance(value, dict):
            added.update(_map_paths(path, value))
        out.append({"op": "add", "path": path, "value": value})

    for op in ops:
        if op.get("op") == "add" and isinstance(op.get("path"), str):
            add(str(op["path"]), op.get("value"))
        else:
            out.append(op)
    return out


def _map_paths(path: str, value: dict[str, object]) -> set[str]:
    """``path`` and the paths of the maps nested in ``value``."""
    paths = {path}
    for key, inner in value.items():
        if isinstance(inner, dict):
            paths |= _map_paths(f"{path}/{pointer(key)[1:]}", inner)
    return paths


def _native_sidecars(analysis: Analysis) -> dict[str, str]:
    """The native-sidecar migration's patches under ``native-sidecars/`` and ``apply-native-sidecars.sh``:
    a choice to make per workload (docs/native-sidecars.md), not a fix, so apart from ``apply.sh``."""
    chosen = analysis.native_migration[analysis.native_migration["patch"] != ""]
    if not len(chosen):
        return {}
    files: dict[str, list[dict[str, object]]] = {}
    commands: dict[str, tuple[str, list[str]]] = {}
    for m in chosen.itertuples(index=False):
        path = f"{MIGRATION_FOLDER}/{fix_file(m.namespace, str(m.workload_kind), str(m.workload))}"
        files.setdefault(path, []).extend(json.loads(m.patch))
        previous = commands.get(path, (str(m.command), []))[1]
        commands[path] = (str(m.command), [*previous, f"{m.namespace}/{m.workload}: {m.container}: {m.change}"])
    script = _script([
        "# Each classic sidecar moved to a native sidecar (an init container with restartPolicy: Always), as the",
        "# report's Native sidecar migration section simulates it. Not fixes: read the section, choose, then run",
        "# the lines you chose from the report folder. Each patch fails, changing nothing, when the object changed.",
    ], commands)  # fmt: skip
    return _patch_files(files) | {"apply-native-sidecars.sh": script}


def _at_source(analysis: Analysis) -> dict[str, str]:
    """``apply-at-source.sh`` and the namespace patches it applies: per cause with a change at its source."""
    meta = analysis.metadata
    script = [
        "#!/bin/sh",
        f"# Fixes at the causes' sources for {_comment(meta.cluster)} (docs/findings.md, Causes): each answers",
        "# every finding of its cause. The alternative to apply.sh's fixes for the same findings: use one or",
        "# the other. Mesh-wide settings are comments, for whoever owns the mesh. Run from the report folder.",
        "set -eu",
        'cd "$(dirname "$0")/.."',
        "",
    ]
    out: dict[str, str] = {}
    for c in analysis.causes[analysis.causes["fix"] != ""].itertuples(index=False):
        script.append(f"# {_comment(c.summary)}")
        script.append(f"# {_comment(c.change)}")
        readers = c.sidecar_kind in NAMESPACE_READERS
        for line in str(c.fix).splitlines():
            if not (readers and line.startswith("kubectl ")):
                script.append(line if line.startswith("#") else f"#   {_comment(line)}")
        if readers:
            cpu_key, mem_key = REQUEST_ANNOTATIONS[c.sidecar_kind]
            patch = annotations_patch({cpu_key: c.cpu_request, mem_key: c.memory_request})
            for namespace in sorted({m.split("/", 1)[0] for m in c.members}):
                out[fix_file(namespace, "Namespace", namespace)] = json.dumps(patch, indent=2) + "\n"
                script.append(namespace_command(namespace))
        script.append("")
    if len(script) == 7:
        script.append("# Nothing: no cause has a change at its source that the replay says helps.")
    out["apply-at-source.sh"] = "\n".join(script) + "\n"
    return out


RENDERER = Renderer("fixes", "fixes", produce, "each recommended fix as a JSON Patch per object, and apply.sh")
