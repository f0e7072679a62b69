"""A strict JSON schema for the part of the ServiceMonitor custom resource
(monitoring.coreos.com/v1) that deploy/kubernetes uses.

kubernetes-validate ships schemas for built-in kinds only, so custom
resources need their own. This one is written for these tests, not copied:
its field names, types, enums and patterns follow the `openAPIV3Schema` of
prometheus-operator's ServiceMonitor CRD
(example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml in
github.com/prometheus-operator/prometheus-operator, operator version 0.84.1).

It is stricter than the CRD in one way on purpose: every object forbids
properties it does not list, so a misspelt field fails instead of being
pruned by the API server. A field the CRD has but this subset lacks fails
too: add it here (from the CRD) when the manifests start using it.
"""

from __future__ import annotations

from typing import Any

# Prometheus durations as the CRD spells them: 30s, 1m30s, 500ms ...
DURATION = (
    r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
)

_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}

_LABEL_SELECTOR: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
        "matchExpressions": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "operator"],
                "properties": {
                    "key": {"type": "string"},
                    "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                    "values": _STRINGS,
                },
            },
        },
    },
}

# the CRD accepts each action in lower case and in CamelCase
_RELABEL_ACTIONS = [
    spelling
    for camel in (
        "Replace",
        "Keep",
        "Drop",
        "HashMod",
        "LabelMap",
        "LabelDrop",
        "LabelKeep",
        "Lowercase",
        "Uppercase",
        "KeepEqual",
        "DropEqual",
    )
    for spelling in (camel.lower(), camel)
]

_RELABEL: dict[str, Any] = {
    "type": "array",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "action": {"enum": _RELABEL_ACTIONS},
            "modulus": {"type": "integer"},
            "regex": {"type": "string"},
            "replacement": {"type": "string"},
            "separator": {"type": "string"},
            "sourceLabels": {
                "type": "array",
                "items": {"type": "string", "pattern": r"^[a-zA-Z_][a-zA-Z0-9_]*$"},
            },
            "targetLabel": {"type": "string"},
        },
    },
}

_ENDPOINT: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "port": {"type": "string"},
        "targetPort": {"type": ["integer", "string"]},
        "path": {"type": "string"},
        "scheme": {"enum": ["http", "https"]},
        "interval": {"type": "string", "pattern": DURATION},
        "scrapeTimeout": {"type": "string", "pattern": DURATION},
        "honorLabels": {"type": "boolean"},
        "honorTimestamps": {"type": "boolean"},
        "followRedirects": {"type": "boolean"},
        "enableHttp2": {"type": "boolean"},
        "filterRunning": {"type": "boolean"},
        "relabelings": _RELABEL,
        "metricRelabelings": _RELABEL,
    },
}

SERVICEMONITOR_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "additionalProperties": False,
            "required": ["endpoints", "selector"],
            "properties": {
                "endpoints": {"type": "array", "minItems": 1, "items": _ENDPOINT},
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"any": {"type": "boolean"}, "matchNames": _STRINGS},
                },
                "jobLabel": {"type": "string"},
                "targetLabels": _STRINGS,
                "podTargetLabels": _STRINGS,
                "sampleLimit": {"type": "integer"},
                "targetLimit": {"type": "integer"},
            },
        },
    },
}
