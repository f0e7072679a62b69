"""What a delivery posts: the body in the policy's format, and the headers that sign it.

Formats:

- `harbor`: Harbor's webhook JSON ("Default" format), `{"type": "PUSH_ARTIFACT",
  "occur_at": <unix seconds>, "operator": ..., "event_data": {"resources": [{"digest",
  "tag", "resource_url"}], "repository": {"name", "namespace", "repo_full_name",
  "repo_type"}}}`. Pulls of one repository waiting for delivery are coalesced into one
  post with one resource each. Kinds Harbor has no type for get Dockyard's own
  (DELETE_TAG, DELETE_REPOSITORY).
- `cloudevents`: one CloudEvents 1.0 event in the structured JSON mode
  (`application/cloudevents+json`): specversion, id, source, type
  (`io.dockyard.artifact.pushed` …), time, datacontenttype, subject, data.

Signature: `X-Dockyard-Signature: sha256=<hex>`, the HMAC-SHA256 with the policy's
secret of `<X-Dockyard-Timestamp>.<body>` (the timestamp in unix seconds, a dot, the
exact body bytes), so a receiver can refuse a replayed post by its age.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from dockyard import events as ev

Format = Literal["harbor", "cloudevents"]
FORMATS: tuple[Format, ...] = ("harbor", "cloudevents")

SIGNATURE_HEADER = "X-Dockyard-Signature"
TIMESTAMP_HEADER = "X-Dockyard-Timestamp"
DELIVERY_HEADER = "X-Dockyard-Delivery"
EVENT_HEADER = "X-Dockyard-Event"
CLOUDEVENTS_TYPE_PREFIX = "io.dockyard."
CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"

HARBOR_TYPES = {
    ev.PUSHED: "PUSH_ARTIFACT",
    ev.PULLED: "PULL_ARTIFACT",
    ev.DELETED: "DELETE_ARTIFACT",
    ev.TAG_DELETED: "DELETE_TAG",
    ev.REPOSITORY_DELETED: "DELETE_REPOSITORY",
    ev.QUOTA_EXCEEDED: "QUOTA_EXCEED",
    ev.SCAN_COMPLETED: "SCANNING_COMPLETED",
}
assert set(HARBOR_TYPES) == ev.ALL_KINDS, "every event kind needs its Harbor type"


def event_json(event: ev.Event, *, project_public: bool) -> dict[str, Any]:
    """What a delivery keeps of its event (the outbox may be pruned before it is sent)."""
    return {
        "id": event.id,
        "seq": event.seq,
        "kind": event.kind,
        "at": event.at.isoformat(),
        "repository": event.repository,
        "project": event.project,
        "project_public": project_public,
        "digest": event.digest,
        "tag": event.tag,
        "media_type": event.media_type,
        "actor": event.actor,
        "detail": dict(event.detail),
    }


def _at(event: Mapping[str, Any]) -> dt.datetime:
    at = dt.datetime.fromisoformat(str(event["at"]))
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _resource_url(host: str, event: Mapping[str, Any]) -> str:
    repo = event.get("repository") or ""
    base = f"{host}/{repo}" if host else repo
    if event.get("tag"):
        return f"{base}:{event['tag']}"
    if event.get("digest"):
        return f"{base}@{event['digest']}"
    return base


def _resource(host: str, event: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "digest": event.get("digest") or "",
        "tag": event.get("tag") or "",
        "resource_url": _resource_url(host, event),
    }
    detail = event.get("detail") or {}
    if event["kind"] == ev.PULLED:
        out["pull_count"] = int(detail.get("count", 1))
    if event["kind"] == ev.SCAN_COMPLETED and "scan_overview" in detail:
        out["scan_overview"] = detail["scan_overview"]
    return out


def _repository(event: Mapping[str, Any]) -> dict[str, Any]:
    full = str(event.get("repository") or "")
    namespace, _, name = full.partition("/")
    return {
        "name": name or full,
        "namespace": namespace if name else str(event.get("project") or ""),
        "repo_full_name": full,
        "repo_type": "public" if event.get("project_public") else "private",
    }


def harbor_body(host: str, events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Harbor's payload for `events` (one, or pulls of one repository coalesced)."""
    first = events[0]
    data: dict[str, Any] = {
        "resources": [_resource(host, e) for e in events],
        "repository": _repository(first),
    }
    detail = dict(first.get("detail") or {})
    if first["kind"] == ev.QUOTA_EXCEEDED:
        data["custom_attributes"] = {"Details": json.dumps(detail, sort_keys=True)}
    return {
        "type": HARBOR_TYPES[first["kind"]],
        "occur_at": int(max(_at(e) for e in events).timestamp()),
        "operator": first.get("actor") or "",
        "event_data": data,
    }


def cloudevent_body(host: str, event: Mapping[str, Any], event_id: str) -> dict[str, Any]:
    project = event.get("project") or ""
    data = {
        "repository": event.get("repository"),
        "digest": event.get("digest"),
        "tag": event.get("tag"),
        "media_type": event.get("media_type"),
        "operator": event.get("actor"),
        "resource_url": _resource_url(host, event),
        "detail": event.get("detail") or {},
    }
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": f"//{host}/projects/{project}" if host else f"/projects/{project}",
        "type": CLOUDEVENTS_TYPE_PREFIX + str(event["kind"]),
        "time": _at(event).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data,
    }
    if event.get("repository"):
        body["subject"] = event["repository"]
    if event.get("actor"):
        body["operator"] = event["actor"]  # an extension attribute, as Harbor sends it
    return body


def render(
    fmt: str, host: str, events: Sequence[Mapping[str, Any]], event_id: str
) -> tuple[bytes, str]:
    """(body, content type) for `events` in `fmt`; cloudevents takes only one."""
    if fmt == "cloudevents":
        assert len(events) == 1, "CloudEvents posts carry one event each"
        body = cloudevent_body(host, events[0], event_id)
        content_type = CLOUDEVENTS_CONTENT_TYPE
    else:
        body = harbor_body(host, events)
        content_type = "application/json"
    return json.dumps(body, separators=(",", ":")).encode(), content_type


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Dockyard-Signature value: `sha256=` and the HMAC's hex digest."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does (docs/operations.md shows it standalone)."""
    try:
        expected = signature(secret, int(timestamp), body)
    except ValueError:
        return False
    return hmac.compare_digest(expected, header)
