"""VulnIndex: the advisories of one database generation, compiled for matching.

Per (OSV ecosystem, package name) the affected entries with their ranges already parsed
into sort keys (versions.py); `match` resolves the image's ecosystems once, does one dict
lookup per package, and parses an installed version only when its name has advisories.

Which ecosystem and version a package is matched in:
- deb (Debian "Debian:<major>", from the codename where VERSION_ID is missing as on
  testing; Ubuntu "Ubuntu:<version>" and "Ubuntu:<version>:LTS"):
  Debian and Ubuntu advisories name source packages and source versions, so the source
  name and version (dpkg's `Source: name (version)`) are matched when the SBOM has them
  (a binNMU "1.2-3+b1" is source "1.2-3"); the finding still names the binary package
  and its installed version, which is what the user sees and upgrades.
- apk ("Alpine:v<major.minor>"): Alpine's secdb names origin packages: the origin if known.
- pypi ("PyPI", PEP 503 names), npm, golang ("Go"; the toolchain as "stdlib"), maven
  ("Maven", "group:artifact"); rpm on Rocky Linux and AlmaLinux ("Rocky Linux:<major>",
  "AlmaLinux:<major>"). Other package types and distributions are not matched.

The trimmed record (osv.parse) is {id, aliases, summary, severity: [[type, score]],
text_severity, references: [url], affected: [{ecosystem, name, ranges: [{type, events:
[[kind, version]]}], versions, severity, text_severity, all_versions}]}.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, cast

from dockyard.supplychain.model import Finding, ImageContents, Package, Severity
from dockyard.supplychain.vulndb import versions as v
from dockyard.supplychain.vulndb.severity import assess

_INTRODUCED, _FIXED, _LAST_AFFECTED, _LIMIT = range(4)
_KINDS = {"introduced": _INTRODUCED, "fixed": _FIXED, "last_affected": _LAST_AFFECTED}
_PEP503 = re.compile(r"[-_.]+")
_MAJOR_MINOR = re.compile(r"(\d+)(?:\.(\d+))?")
_SHORT = 64
_DEBIAN_RELEASES = {
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
}


def pep503(name: str) -> str:
    return _PEP503.sub("-", name).lower()


def _name_key(ecosystem: str, name: str) -> str:
    return pep503(name) if ecosystem == "PyPI" else name


@dataclass(frozen=True, slots=True)
class _Advisory:
    id: str
    aliases: tuple[str, ...]
    summary: str
    references: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Range:
    ordering: str
    events: tuple[tuple[int, v.Key | None], ...]
    """sorted by version; introduced "0" (None) first"""
    limits: tuple[v.Key, ...]
    fixed: tuple[tuple[v.Key, str], ...]

    def contains(self, version: v.Key) -> bool:
        affected = False
        for kind, at in self.events:
            if kind == _INTRODUCED:
                if at is None or not version < at:
                    affected = True
            elif kind == _FIXED:
                if not version < at:
                    affected = False
            elif at is not None and at < version:  # last_affected
                affected = False
        if affected and self.limits:
            return any(version < limit for limit in self.limits)
        return affected

    def fixes_after(self, version: v.Key) -> tuple[str, ...]:
        return tuple(text for at, text in self.fixed if version < at)


def _compile_range(ordering: str, events: Iterable[Any]) -> _Range | None:
    """A range's events as sort keys, or None when one of them does not parse."""
    parsed: list[tuple[int, v.Key | None]] = []
    limits: list[v.Key] = []
    fixed: list[tuple[v.Key, str]] = []
    for kind_name, text in events:
        if kind_name == "introduced" and text == "0":
            parsed.append((_INTRODUCED, None))
            continue
        at = v.key_or_none(ordering, text)
        if at is None:
            return None
        if kind_name == "limit":
            limits.append(at)
            continue
        kind = _KINDS.get(kind_name)
        if kind is None:
            return None
        parsed.append((kind, at))
        if kind == _FIXED:
            fixed.append((at, text))
    zeros = [e for e in parsed if e[1] is None]
    rest = sorted((e for e in parsed if e[1] is not None), key=lambda e: cast(v.Key, e[1]))
    fixed.sort(key=lambda f: f[0])
    return _Range(ordering, (*zeros, *rest), tuple(limits), tuple(fixed))


@dataclass(frozen=True, slots=True)
class _Entry:
    advisory: _Advisory
    ecosystem: str
    ranges: tuple[_Range, ...]
    versions: tuple[str, ...] | frozenset[str]
    """a tuple while short (a set's table costs several times its strings' pointers)"""
    severity: Severity
    score: float | None
    vector: str | None
    everything: bool = False
    """the record names neither ranges nor versions: every version is affected"""


def _compile_entry(advisory: _Advisory, record: dict[str, Any], a: dict[str, Any]) -> _Entry:
    ecosystem = a["ecosystem"]
    own = v.ordering_of(ecosystem)
    ranges: list[_Range] = []
    for r in a["ranges"]:
        ordering = own if own == "go" or r["type"] == "ECOSYSTEM" else "semver"
        if ordering is None:
            continue
        compiled = _compile_range(ordering, r["events"])
        if compiled is not None:
            ranges.append(compiled)
    versions = {sys.intern(x) for x in a["versions"]}  # the same few strings, many times
    if own == "go":
        versions |= {sys.intern(v.go_semver(x)) for x in a["versions"]}
    found = assess(
        [*a["severity"], *record["severity"]], (a["text_severity"], record["text_severity"])
    )
    return _Entry(
        advisory,
        ecosystem,
        tuple(ranges),
        tuple(sorted(versions)) if len(versions) <= _SHORT else frozenset(versions),
        found.severity,
        found.score,
        found.vector,
        bool(a.get("all_versions", False)),
    )


@dataclass(frozen=True, slots=True)
class _Target:
    """How one package is looked up: in which ecosystems, by which name and version."""

    ecosystems: tuple[str, ...]
    name: str
    version: str


def _major_minor(version_id: str) -> tuple[str, str] | None:
    m = _MAJOR_MINOR.match(version_id)
    return None if m is None else (m.group(1), m.group(2) or "0")


def _os_ecosystems(contents: ImageContents) -> dict[str, tuple[str, ...]]:
    """Package type → the OSV ecosystems its packages are looked up in, for this image."""
    found: dict[str, tuple[str, ...]] = {
        "pypi": ("PyPI",),
        "npm": ("npm",),
        "golang": ("Go",),
        "maven": ("Maven",),
    }
    d = contents.distro
    if d is None:
        return found
    version_id = d.version_id
    if not version_id and d.id.lower() == "debian":  # testing and sid name no VERSION_ID
        version_id = _DEBIAN_RELEASES.get(d.codename.lower(), "")
    mm = _major_minor(version_id)
    if mm is None:
        return found
    major, minor = mm
    distro = d.id.lower()
    if distro == "debian":
        found["deb"] = (f"Debian:{major}",)
    elif distro == "ubuntu":
        found["deb"] = (f"Ubuntu:{major}.{minor}", f"Ubuntu:{major}.{minor}:LTS")
    elif distro == "alpine":
        found["apk"] = (f"Alpine:v{major}.{minor}",)
    elif distro == "rocky":
        found["rpm"] = (f"Rocky Linux:{major}",)
    elif distro == "almalinux":
        found["rpm"] = (f"AlmaLinux:{major}",)
    return found


def _target(pkg: Package, ecosystems: tuple[str, ...]) -> _Target:
    if pkg.type in ("deb", "apk"):
        return _Target(ecosystems, pkg.source_name or pkg.name, pkg.source_version or pkg.version)
    if pkg.type == "pypi":
        return _Target(ecosystems, pep503(pkg.name), pkg.version)
    return _Target(ecosystems, pkg.name, pkg.version)


class VulnIndex:
    """The compiled advisories of one generation. `add` while building; then `match`."""

    def __init__(self, generation: int = 0) -> None:
        self.generation = generation
        self.advisories = 0
        self._table: dict[str, dict[str, list[_Entry]]] = {}

    def add(self, record: dict[str, Any]) -> None:
        """Compile one trimmed record (osv.parse)."""
        advisory = _Advisory(
            record["id"],
            tuple(record["aliases"]),
            record["summary"],
            tuple(record["references"]),
        )
        entries = [(a["name"], _compile_entry(advisory, record, a)) for a in record["affected"]]
        for name, entry in entries:  # all compiled first: a bad record adds nothing
            names = self._table.setdefault(entry.ecosystem, {})
            names.setdefault(_name_key(entry.ecosystem, name), []).append(entry)
        self.advisories += 1

    def match(self, contents: ImageContents) -> list[Finding]:
        """The findings for every package of `contents`, most severe first."""
        by_type = _os_ecosystems(contents)
        tables = {
            t: [(e, self._table[e]) for e in ecos if e in self._table]
            for t, ecos in by_type.items()
        }
        found: dict[tuple[str, str, str, str], Finding] = {}
        for pkg in contents.packages:
            lookups = tables.get(pkg.type)
            if not lookups:
                continue
            target = _target(pkg, by_type[pkg.type])
            for _ecosystem, names in lookups:
                entries = names.get(target.name)
                if entries:
                    self._check(pkg, target, entries, found)
        return sorted(
            found.values(),
            key=lambda f: (-f.severity, f.id, f.package, f.installed_version, f.purl),
        )

    @staticmethod
    def _check(
        pkg: Package,
        target: _Target,
        entries: list[_Entry],
        found: dict[tuple[str, str, str, str], Finding],
    ) -> None:
        keys: dict[str, v.Key | None] = {}
        for entry in entries:
            hit = entry.everything
            fixes: tuple[str, ...] = ()
            for r in entry.ranges:
                if r.ordering not in keys:
                    keys[r.ordering] = v.key_or_none(r.ordering, target.version)
                at = keys[r.ordering]
                if at is not None and r.contains(at):
                    hit = True
                    fixes += r.fixes_after(at)
            if not hit and entry.versions:
                hit = target.version in entry.versions or (
                    pkg.type == "golang" and v.go_semver(target.version) in entry.versions
                )
                if hit:  # listed: the fixes are those of its ranges after this version
                    for r in entry.ranges:
                        at = keys.get(r.ordering)
                        fixes += r.fixes_after(at) if at is not None else ()
            if hit:
                _record(found, pkg, entry, fixes)


def _record(
    found: dict[tuple[str, str, str, str], Finding],
    pkg: Package,
    entry: _Entry,
    fixes: tuple[str, ...],
) -> None:
    a = entry.advisory
    slot = (a.id, pkg.name, pkg.version, pkg.purl)
    before = found.get(slot)
    if before is not None:
        fixes = tuple(dict.fromkeys((*before.fixed_versions, *fixes)))
        if before.severity >= entry.severity:
            found[slot] = _replace_fixes(before, fixes)
            return
    found[slot] = Finding(
        id=a.id,
        package=pkg.name,
        installed_version=pkg.version,
        ecosystem=entry.ecosystem,
        purl=pkg.purl,
        severity=entry.severity,
        fixed_versions=tuple(dict.fromkeys(fixes)),
        aliases=a.aliases,
        cvss_score=entry.score,
        cvss_vector=entry.vector,
        summary=a.summary,
        references=a.references,
    )


def _replace_fixes(finding: Finding, fixes: tuple[str, ...]) -> Finding:
    return replace(finding, fixed_versions=fixes)
