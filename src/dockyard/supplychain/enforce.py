"""The pull gate: the one pull policy (registry/policies.py) of the capability,
checking signatures and vulnerabilities on every manifest GET/HEAD.

A pull costs cache probes, not queries: the project's effective policy is cached in the
`~supplychain` scope (any policy change invalidates it), and the artifact's verdict in
the repository's own scope, under the policy's version. The repository scope is what a
manifest push or delete invalidates, so pushing or deleting a signature drops the
repository's verdicts at once; storing a scan report that changed invalidates the
scopes of the repositories holding the digest. Allowlist expiry is applied at check
time, so a cached verdict never outlives an entry.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from dockyard.auth.permissions import project_of
from dockyard.cache.base import Cache
from dockyard.errors import Denied
from dockyard.metadata.engine import utcnow
from dockyard.metadata.records import ManifestRecord
from dockyard.registry.policies import PullRequest
from dockyard.supplychain.model import Finding, Severity
from dockyard.supplychain.policy import AllowEntry, SupplyChainPolicy, blocking
from dockyard.supplychain.store import SupplyChainStore
from dockyard.supplychain.verdicts import (
    Verifier,
    exempt_kind,
    is_image,
    parse,
    vulnerability_verdict,
)

log = logging.getLogger(__name__)

NAME = "supplychain"
POLICY_SCOPE = "~supplychain"
"""never a repository name (those have no '~')"""
SCANNER_PREFIX = "scanner:"
"""the subject of the pull tokens handed to scanner adapters (adapter_scan.py): no user
or robot can be named so (robots are robot$…), and the gate lets it read what it scans"""


@dataclass(frozen=True, slots=True)
class Effective:
    """A project's effective policy: its own, or the system default it inherits."""

    project: str
    source: str
    """"project <name>" or "system default" """
    policy: SupplyChainPolicy
    system_allowlist: tuple[AllowEntry, ...]
    version: str

    @property
    def active(self) -> bool:
        return self.policy.signatures.mode != "off" or self.policy.vulnerabilities.mode != "off"


def _record(doc: Any) -> ManifestRecord:
    content = json.dumps(doc, separators=(",", ":")).encode()
    return ManifestRecord("", "application/json", len(content), content)


@functools.lru_cache(maxsize=4096)
def _verdict_of(content: bytes) -> dict[str, Any]:
    """A cached verdict's JSON, parsed once per entry (a cache hit hands back the same
    bytes object, whose hash Python keeps): callers only read it."""
    found: dict[str, Any] = json.loads(content)
    return found


class PolicyCache:
    """Effective policies from the shared cache, else the database (two reads)."""

    def __init__(self, store: SupplyChainStore, cache: Cache, projects: Any) -> None:
        self._store = store
        self._cache = cache
        self._projects = projects
        self._parsed: OrderedDict[bytes, Effective] = OrderedDict()

    async def effective(self, project: str) -> Effective:
        held = await self._cache.get(POLICY_SCOPE, project)
        if held is not None:
            return self._parse(held.content)
        token = await self._cache.token(POLICY_SCOPE)
        record = await self._projects.cached_project(project)
        own = None if record is None else await self._store.policy(record.id)
        system = await self._store.policy(None)
        chosen = own or system
        policy = chosen.policy if chosen is not None else SupplyChainPolicy()
        doc = {
            "project": project,
            "source": f"project {project}" if own is not None else "system default",
            "policy": policy.model_dump(mode="json"),
            "system_allowlist": []
            if system is None
            else [e.model_dump(mode="json") for e in system.policy.vulnerabilities.allowlist],
        }
        entry = _record(doc)
        await self._cache.put(POLICY_SCOPE, project, entry, token, entry.size + 256)
        return self._parse(entry.content)

    def _parse(self, content: bytes) -> Effective:
        found = self._parsed.get(content)
        if found is not None:
            self._parsed.move_to_end(content)
            return found
        doc = json.loads(content)
        effective = Effective(
            project=doc["project"],
            source=doc["source"],
            policy=SupplyChainPolicy.model_validate(doc["policy"]),
            system_allowlist=tuple(AllowEntry.model_validate(e) for e in doc["system_allowlist"]),
            version=hashlib.sha256(content).hexdigest()[:16],
        )
        self._parsed[content] = effective
        while len(self._parsed) > 512:
            self._parsed.popitem(last=False)
        return effective

    async def invalidate(self) -> None:
        await self._cache.invalidate(POLICY_SCOPE)


class Gate:
    """The pull policy the capability plugs into the registry."""

    name = NAME

    def __init__(
        self,
        services: Any,
        store: SupplyChainStore,
        policies: PolicyCache,
        verifier: Verifier,
        scanner: str,
        trusted_root: str | None,
    ) -> None:
        self._services = services
        self._store = store
        self._cache: Cache = services.cache
        self._policies = policies
        self._verifier = verifier
        self._scanner = scanner
        self._trusted_root = trusted_root

    async def check(self, pull: PullRequest) -> str | None:
        if pull.robot and (pull.principal or "").startswith(SCANNER_PREFIX):
            return None
        effective = await self._policies.effective(project_of(pull.repository))
        if not effective.active:
            return None
        verdict = await self.verdict(pull.repository, pull.digest, effective)
        if verdict.get("exempt"):
            return None
        problems: list[tuple[str, str]] = []  # (mode, message)
        signatures = effective.policy.signatures
        if signatures.mode != "off" and not verdict["signed"]:
            problems.append(
                (
                    signatures.mode,
                    f"the signature policy of {effective.source} refuses "
                    f"{pull.repository}@{pull.digest}: {verdict['signature_reason']}",
                )
            )
        vulns = effective.policy.vulnerabilities
        exempt_robot = pull.robot and pull.principal in vulns.exempt_robots
        if vulns.mode != "off" and verdict["image"] and not exempt_robot:
            message = self._vulnerability_problem(pull, effective, verdict)
            if message is not None:
                problems.append((vulns.mode, message))
        refusing = [m for mode, m in problems if mode == "enforce"]
        if refusing:
            raise Denied(
                "; ".join(refusing),
                detail={"policy": effective.source, "repository": pull.repository},
            )
        return "; ".join(f"audit: {m}" for _, m in problems) or None

    def _vulnerability_problem(
        self, pull: PullRequest, effective: Effective, verdict: dict[str, Any]
    ) -> str | None:
        vulns = effective.policy.vulnerabilities
        where = f"{pull.repository}@{pull.digest}"
        if not verdict["scanned"]:
            if not vulns.block_unscanned:
                return None
            return (
                f"the vulnerability policy of {effective.source} refuses {where}: not yet scanned"
            )
        findings = [
            Finding(
                id=f[1],
                package=f[3],
                installed_version="",
                ecosystem="",
                purl="",
                severity=Severity(f[0]),
                aliases=tuple(f[2]),
            )
            for f in verdict["findings"]
        ]
        refused = blocking(
            findings,
            vulns.threshold(),
            [list(vulns.allowlist), list(effective.system_allowlist)],
            utcnow(),
        )
        if not refused:
            return None
        counts: dict[str, int] = {}
        for f in refused:
            counts[f.severity.name] = counts.get(f.severity.name, 0) + 1
        text = ", ".join(
            f"{counts[s.name]} {s.name}" for s in sorted(Severity, reverse=True) if s.name in counts
        )
        ids = ", ".join(sorted({f.id for f in refused})[:5])
        return (
            f"the vulnerability policy of {effective.source} refuses {where}: {text} "
            f"at or above {vulns.severity} ({ids}{', …' if len(refused) > 5 else ''})"
        )

    async def verdict(self, repository: str, digest: str, effective: Effective) -> dict[str, Any]:
        """The cached verdict of an artifact under the effective policy."""
        key = f"~sc:{effective.version}:{digest}"
        held = await self._cache.get(repository, key)
        if held is not None:
            return _verdict_of(held.content)
        token = await self._cache.token(repository)
        doc = await self._compute(repository, digest, effective)
        entry = _record(doc)
        await self._cache.put(repository, key, entry, token, entry.size + 256)
        return doc

    async def _compute(self, repository: str, digest: str, effective: Effective) -> dict[str, Any]:
        record = await self._services.manifests.get(repository, digest)
        kind = exempt_kind(record)
        if kind is not None:
            return {"exempt": kind.value}
        doc: dict[str, Any] = {"exempt": None, "signed": True, "signature_reason": ""}
        if effective.policy.signatures.mode != "off":
            trust = effective.policy.signatures.trust(self._trusted_root)
            signature = await self._verifier.verdict(repository, record, trust)
            doc["signed"] = signature.signed
            doc["signature_reason"] = signature.reason
            if not signature.signed:
                log.info(
                    "signature policy (%s, %s): %s@%s %s",
                    effective.source,
                    effective.policy.signatures.mode,
                    repository,
                    digest,
                    signature.reason,
                )
        doc["image"] = is_image(record, parse(record.content))
        doc["scanned"] = False
        doc["findings"] = []
        if effective.policy.vulnerabilities.mode != "off" and doc["image"]:
            threshold = effective.policy.vulnerabilities.threshold()
            vulns = await vulnerability_verdict(self._services, self._store, self._scanner, record)
            doc["scanned"] = vulns.scanned
            doc["findings"] = [
                [int(f.severity), f.id, list(f.aliases), f.package]
                for f in vulns.findings
                if f.severity >= threshold
            ]
        return doc
