"""JSON Schemas of what a snapshot holds, checked once at load: its metadata, and every Kubernetes
object field the analysis reads.

Types and bounds follow the Kubernetes OpenAPI (core/v1 Pod, apps/v1 workloads, autoscaling/v2
HorizontalPodAutoscaler, autoscaling.k8s.io/v1 VerticalPodAutoscaler) and the API server's own
validation (name lengths, int32 counts, positive targets, non-negative resource quantities). Fields
the analysis does not read are left alone: objects keep everything the API returned.

``collect`` and ``report`` both go through :func:`validate_object`, so a file that one accepts the
other reads. Errors name the object and the field path (``spec.containers[0].resources...``).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import jsonschema
import pandas as pd

from analyzer.errors import QuantityError, clip
from analyzer.snapshot.schema import DELETED_AT_ANNOTATION
from analyzer.units import parse_quantity

INT32_MAX = 2**31 - 1
MAX_NAME = 253
"""DNS subdomain names: objects, and the kinds they reference."""
MAX_LABEL_VALUE = 63
MAX_ANNOTATION_VALUE = 262_144
"""The API server caps all annotations of an object at 256 KiB together; one value cannot be more."""

FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("quantity", raises=QuantityError)
def _is_quantity(value: object) -> bool:
    """A resource amount: a Kubernetes quantity that is finite, in range and not negative."""
    if parse_quantity(value) < 0:  # type: ignore[arg-type]
        raise QuantityError(f"negative quantity {clip(value)} (Kubernetes refuses negative requests and limits)")
    return True


@FORMATS.checks("k8s-time", raises=ValueError)
def _is_time(value: object) -> bool:
    """An RFC 3339 time with a zone, as the API writes ``creationTimestamp``."""
    if not isinstance(value, str):
        return True  # the type keyword reports it
    try:
        zoned = pd.Timestamp(value).tzinfo is not None
    except (ValueError, TypeError, OverflowError):
        zoned = False
    if not zoned:
        raise ValueError(f"not an RFC 3339 time with a zone: {clip(value, 40)}")
    return True


def _string(max_length: int = MAX_NAME, min_length: int = 0) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": max_length}


def _int(minimum: int = 0, maximum: int = INT32_MAX) -> dict[str, Any]:
    return {"type": "integer", "minimum": minimum, "maximum": maximum}


QUANTITY: dict[str, Any] = {"type": ["string", "number"], "format": "quantity"}
RESOURCE_LIST: dict[str, Any] = {
    "type": "object",
    "propertyNames": _string(MAX_NAME, 1),
    "additionalProperties": QUANTITY,
}
REFERENCE: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "name"],
    "properties": {"kind": _string(63, 1), "name": _string(MAX_NAME, 1), "apiVersion": _string()},
}

METADATA: dict[str, Any] = {
    "type": "object",
    "required": ["name", "namespace"],
    "properties": {
        "name": _string(MAX_NAME, 1),
        "namespace": _string(63),
        "labels": {
            "type": "object",
            "propertyNames": _string(317, 1),
            "additionalProperties": _string(MAX_LABEL_VALUE),
        },
        "annotations": {
            "type": "object",
            "propertyNames": _string(317, 1),
            "additionalProperties": _string(MAX_ANNOTATION_VALUE),
            "properties": {DELETED_AT_ANNOTATION: {"type": "string", "maxLength": 64, "format": "k8s-time"}},
        },
        "ownerReferences": {
            "type": "array",
            "items": {**REFERENCE, "properties": {**REFERENCE["properties"], "controller": {"type": "boolean"}}},
        },
        "creationTimestamp": {"type": "string", "maxLength": 64, "format": "k8s-time"},
        "deletionTimestamp": {"type": "string", "maxLength": 64, "format": "k8s-time"},
    },
}

CONTAINER: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": _string(63, 1),
        "image": _string(4096),
        "restartPolicy": {"enum": ["Always", "OnFailure", "Never"]},
        "resources": {
            "type": "object",
            "properties": {"requests": RESOURCE_LIST, "limits": RESOURCE_LIST},
        },
    },
}

POD_SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["containers"],
    "properties": {
        "containers": {"type": "array", "minItems": 1, "items": CONTAINER},
        "initContainers": {"type": "array", "items": CONTAINER},
        "resources": {"type": "object", "properties": {"requests": RESOURCE_LIST, "limits": RESOURCE_LIST}},
        "overhead": RESOURCE_LIST,
        "terminationGracePeriodSeconds": {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
    },
}

POD_TEMPLATE: dict[str, Any] = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "metadata": {
            "type": "object",
            "properties": {
                "labels": METADATA["properties"]["labels"],
                "annotations": METADATA["properties"]["annotations"],
            },
        },
        "spec": POD_SPEC,
    },
}

WORKLOAD_SPEC: dict[str, Any] = {
    "type": "object",
    "properties": {"replicas": _int(), "template": POD_TEMPLATE},
}

JOB_SPEC: dict[str, Any] = {
    "type": "object",
    "properties": {
        "template": POD_TEMPLATE,
        "activeDeadlineSeconds": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
        "backoffLimit": _int(),
    },
}
"""A ``batch/v1`` Job: its pod template, and the deadline that ends a pod a sidecar holds open."""

CRONJOB_SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["jobTemplate"],
    "properties": {
        "schedule": _string(1000),
        "concurrencyPolicy": {"enum": ["Allow", "Forbid", "Replace"]},
        "jobTemplate": {"type": "object", "properties": {"spec": JOB_SPEC}},
    },
}
"""A ``batch/v1`` CronJob: its Jobs' template (``spec.jobTemplate.spec.template``)."""

METRIC_TARGET: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["Utilization", "Value", "AverageValue"]},
        "averageUtilization": _int(1),
        "averageValue": QUANTITY,
        "value": QUANTITY,
    },
}
_RESOURCE_METRIC: dict[str, Any] = {
    "type": "object",
    "required": ["name", "target"],
    "properties": {"name": _string(MAX_NAME, 1), "target": METRIC_TARGET},
}
METRIC: dict[str, Any] = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["Resource", "ContainerResource", "Pods", "Object", "External"]},
        "resource": _RESOURCE_METRIC,
        "containerResource": {
            **_RESOURCE_METRIC,
            "required": ["name", "container", "target"],
            "properties": {**_RESOURCE_METRIC["properties"], "container": _string(63, 1)},
        },
    },
}
SCALING_RULES: dict[str, Any] = {
    "type": "object",
    "properties": {
        "stabilizationWindowSeconds": _int(0, 3600),
        "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
        "tolerance": QUANTITY,
        "policies": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["type", "value", "periodSeconds"],
                "properties": {
                    "type": {"enum": ["Pods", "Percent"]},
                    "value": _int(1),
                    "periodSeconds": _int(1, 1800),
                },
            },
        },
    },
}
HPA_SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["scaleTargetRef", "maxReplicas"],
    "properties": {
        "scaleTargetRef": REFERENCE,
        "minReplicas": _int(0),
        "maxReplicas": _int(1),
        "metrics": {"type": "array", "items": METRIC},
        "behavior": {"type": "object", "properties": {"scaleUp": SCALING_RULES, "scaleDown": SCALING_RULES}},
    },
}


def _conditions(**time_fields: dict[str, Any]) -> dict[str, Any]:
    """A ``status.conditions`` list: type and status required, a reason, and the given time fields."""
    return {
        "type": "array",
        "maxItems": 64,
        "items": {
            "type": "object",
            "required": ["type", "status"],
            "properties": {
                "type": _string(316, 1),
                "status": {"enum": ["True", "False", "Unknown"]},
                "reason": _string(1024),
                **time_fields,
            },
        },
    }


HPA_STATUS: dict[str, Any] = {"type": "object", "properties": {"conditions": _conditions()}}
"""The HPA's ``status.conditions`` (the report compares the replay's with them); the bounds are the API's
(a condition type is a qualified name, a reason at most 1,024 characters)."""

POD_STATUS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "phase": {"enum": ["Pending", "Running", "Succeeded", "Failed", "Unknown"]},
        "startTime": {"type": "string", "maxLength": 64, "format": "k8s-time"},
        "conditions": _conditions(
            lastTransitionTime={"type": ["string", "null"], "maxLength": 64, "format": "k8s-time"}
        ),
    },
}
"""The pod status fields the HPA's pod grouping reads (start time, the Ready condition's last transition)."""

STATUSES: dict[str, dict[str, Any]] = {"HorizontalPodAutoscaler": HPA_STATUS, "Pod": POD_STATUS}

VPA_SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["targetRef"],
    "properties": {
        "targetRef": REFERENCE,
        "updatePolicy": {
            "type": "object",
            "properties": {
                "updateMode": {"enum": ["Off", "Initial", "Recreate", "Auto", "InPlaceOrRecreate"]},
                "minReplicas": _int(0),
            },
        },
        "resourcePolicy": {
            "type": "object",
            "properties": {
                "containerPolicies": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "containerName": _string(63, 1),
                            "mode": {"enum": ["Auto", "Off"]},
                            "minAllowed": RESOURCE_LIST,
                            "maxAllowed": RESOURCE_LIST,
                            "controlledResources": {"type": "array", "items": {"enum": ["cpu", "memory"]}},
                            "controlledValues": {"enum": ["RequestsAndLimits", "RequestsOnly"]},
                        },
                    },
                }
            },
        },
    },
}

SCALED_OBJECT_SPEC: dict[str, Any] = {
    "type": "object",
    "required": ["scaleTargetRef", "triggers"],
    "properties": {
        "scaleTargetRef": {**REFERENCE, "required": ["name"]},
        "minReplicaCount": _int(0),
        "maxReplicaCount": _int(1),
        "advanced": {
            "type": "object",
            "properties": {
                "horizontalPodAutoscalerConfig": {"type": "object", "properties": {"name": _string(MAX_NAME, 1)}}
            },
        },
        "triggers": {
            "type": "array",
            "maxItems": 1000,
            "items": {
                "type": "object",
                "required": ["type"],
                "properties": {
                    "type": _string(63, 1),
                    "metricType": {"enum": ["Utilization", "AverageValue", "Value"]},
                    "metadata": {
                        "type": "object",
                        "propertyNames": _string(253, 1),
                        "additionalProperties": _string(MAX_ANNOTATION_VALUE),
                    },
                },
            },
        },
    },
}
"""A KEDA ``keda.sh/v1alpha1`` ScaledObject: what fixes of the HPA it generates read (its cpu/memory
triggers, KEDA's ``metadata`` being a map of strings)."""

SPECS: dict[str, dict[str, Any]] = {
    "Pod": POD_SPEC,
    "ReplicaSet": WORKLOAD_SPEC,
    "Deployment": WORKLOAD_SPEC,
    "StatefulSet": WORKLOAD_SPEC,
    "DaemonSet": WORKLOAD_SPEC,
    "HorizontalPodAutoscaler": HPA_SPEC,
    "VerticalPodAutoscaler": VPA_SPEC,
    "ScaledObject": SCALED_OBJECT_SPEC,
    "Job": JOB_SPEC,
    "CronJob": CRONJOB_SPEC,
}
"""The spec schema of each kind the analysis reads (``schema.OBJECT_KINDS``)."""

_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    # JSON decoding in the API server refuses 3.0 for an int32 field; so does this.
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool)
    ),
)

VALIDATORS: dict[str, jsonschema.protocols.Validator] = {
    kind: _Validator(
        {
            "type": "object",
            "required": ["kind", "metadata", "spec"],
            "properties": {
                "kind": {"const": kind},
                "metadata": METADATA,
                "spec": spec,
                **({"status": STATUSES[kind]} if kind in STATUSES else {}),
            },
        },
        format_checker=FORMATS,
    )
    for kind, spec in SPECS.items()
}


METADATA_DOCUMENT: dict[str, Any] = {
    "type": "object",
    "required": ["schema_version", "source", "cluster", "start", "end", "step_s"],
    "properties": {
        "schema_version": {"type": "integer"},
        "source": _string(200),
        "cluster": _string(MAX_NAME, 1),
        "start": {"type": "string", "maxLength": 64, "format": "k8s-time"},
        "end": {"type": "string", "maxLength": 64, "format": "k8s-time"},
        "step_s": {"type": "number", "minimum": 1, "maximum": 3600},
        "tool_version": _string(100),
        "extra": {
            "type": "object",
            "properties": {
                "collection_notes": {"type": "array", "maxItems": 10_000, "items": _string(2000)},
                "kubernetes_version": {"type": "string", "pattern": r"^1\.[0-9]{1,3}$"},
            },
        },
    },
}
"""``metadata.json`` (docs/snapshot.md): a cluster name is at most 253 characters, a step 1 s to 1 h."""

METADATA_VALIDATOR = _Validator(METADATA_DOCUMENT, format_checker=FORMATS)


def first_problem(validator: jsonschema.protocols.Validator, document: Any, at: tuple[str, ...] = ()) -> str | None:
    """The first problem of ``document`` as ``field: what is wrong`` (one line, values clipped), or None;
    ``at``: where ``document`` sits in a larger one, for the field's name."""
    error = jsonschema.exceptions.best_match(validator.iter_errors(document))
    if error is None:
        return None
    where = field_path([*at, *error.absolute_path]) or "document"
    return f"{where}: {error.cause if error.cause is not None else _describe(error)}"


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_./-]{1,80}")


def field_path(path: Any) -> str:
    """``deque(['spec', 'containers', 0, 'name'])`` as ``spec.containers[0].name``; odd keys quoted and cut."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part)[:40])}]"
    return out


SHARED_PARTS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Pod": (("spec",), ("metadata", "labels"), ("metadata", "annotations")),
    "ReplicaSet": (("spec", "template"),),
}
"""Parts that many objects of a kind share verbatim (every pod of a workload has its template's spec,
labels and annotations): each distinct value is validated once (:class:`_PartsValidator`)."""

MEMO_ENTRIES = 4096
"""Distinct shared parts remembered per kind; the memo starts over when full (hostile input cannot grow it)."""


class _PartsValidator:
    """A kind's schema checked in two steps: the object with its shared parts left open, then each shared
    part against its own subschema, remembered by its JSON text. Same verdict as the whole schema; at
    cluster scale most pods' specs are a few hundred distinct values, so validation costs a third."""

    def __init__(self, document: dict[str, Any], parts: tuple[tuple[str, ...], ...]) -> None:
        outer = copy.deepcopy(document)
        self.parts: list[tuple[tuple[str, ...], jsonschema.protocols.Validator]] = []
        for path in parts:
            holder = outer
            for key in path[:-1]:
                holder = holder["properties"][key]
            self.parts.append((path, _Validator(holder["properties"][path[-1]], format_checker=FORMATS)))
            holder["properties"][path[-1]] = True
        self.outer = _Validator(outer, format_checker=FORMATS)
        self.memo: dict[tuple[tuple[str, ...], str], str | None] = {}

    def first_problem(self, item: Any) -> str | None:
        problem = first_problem(self.outer, item)
        if problem is not None:
            return problem
        for path, validator in self.parts:
            value: Any = item
            for key in path:
                value = value.get(key, _ABSENT) if isinstance(value, dict) else _ABSENT
            if value is _ABSENT:
                continue  # the outer schema allowed it to be left out
            key = (path, json.dumps(value))
            if key not in self.memo:
                if len(self.memo) >= MEMO_ENTRIES:
                    self.memo.clear()
                self.memo[key] = first_problem(validator, value, path)
            if self.memo[key] is not None:
                return self.memo[key]
        return None


_ABSENT = object()
_PARTS_VALIDATORS = {kind: _PartsValidator(VALIDATORS[kind].schema, parts) for kind, parts in SHARED_PARTS.items()}


def first_error(kind: str, item: dict[str, Any]) -> str | None:
    """The first problem of a ``kind`` object (see :func:`first_problem`)."""
    if kind in _PARTS_VALIDATORS:
        return _PARTS_VALIDATORS[kind].first_problem(item)
    return first_problem(VALIDATORS[kind], item)


def _describe(error: jsonschema.ValidationError) -> str:
    """jsonschema's message without the whole offending value (which can be megabytes)."""
    value, keyword = error.instance, error.validator
    if keyword == "type":
        return f"must be {_types(error.validator_value)}, got {type(value).__name__} {clip(value, 40)}"
    if keyword == "required":
        missing = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        return f"{missing[0] if missing else 'a field'} is missing"
    if keyword in ("enum", "const"):
        allowed = error.validator_value if keyword == "enum" else [error.validator_value]
        return f"{clip(value, 40)} is not one of {', '.join(map(str, allowed))}"
    if keyword in ("minimum", "maximum"):
        return f"{clip(value, 40)} is out of range ({keyword} {error.validator_value:,})"
    if keyword in ("minLength", "maxLength"):
        return f"{clip(value, 40)} has {len(value):,} characters ({keyword} {error.validator_value:,})"
    if keyword == "minItems":
        return "must not be empty"
    return f"{clip(value, 40)}: {keyword} {clip(error.validator_value, 40)}"


def _types(expected: str | list[str]) -> str:
    names = {"string": "a string", "integer": "an integer", "number": "a number", "object": "an object",
             "array": "a list", "boolean": "true or false"}  # fmt: skip
    kinds = [expected] if isinstance(expected, str) else expected
    return " or ".join(names.get(k, k) for k in kinds)
