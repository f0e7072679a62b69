"""Each ecosystem's own version ordering, as sort keys: `key(ordering, version)` parses a
version once into a value that compares natively (`<`, `==`) with other keys of the same
ordering, so the matcher parses an installed version once and compares it with ranges
parsed at index time.

Orderings: dpkg (Debian, Ubuntu), apk (Alpine), pep440 (PyPI: `packaging`), semver (npm and
OSV's SEMVER ranges: parsed by `semver`), go (semver with Go's `v` prefix and toolchain
spellings), maven (univers' MavenVersion: Maven's ComparableVersion), rpm (univers'
RpmVersion: rpmvercmp with epochs).

Written here rather than taken from univers:
- dpkg: univers' DebianVersion orders correctly (the tests cross-check it) but compares in
  Python at ~9 µs a pair; the key below is a tuple that compares in C, which is what lets
  a rescan of thousands of SBOMs stay cheap. It follows dpkg's verrevcmp: epoch, then
  upstream, then revision, each as alternating non-digit runs (`~` before the end, the
  end before letters, letters before other characters) and numbers.
- apk: univers' AlpineLinuxVersion rejects the `_cvs`/`_svn`/`_git`/`_hg` suffixes and
  `~hash` commits that aports use (e.g. `0_git20240101-r0`). The key follows apk-tools'
  version.c token rules.
- semver: build metadata must not count in precedence (semver.org 10), and univers'
  SemverVersion counts it.
- maven: univers' MavenVersion, with the two rewrites `_maven` explains (checked against
  Maven's own ComparableVersionTest lists).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Protocol

import semver
from packaging.version import Version as PepVersion
from univers.versions import MavenVersion, RpmVersion


class InvalidVersion(ValueError):
    """A version the ordering cannot parse."""


class UnknownOrdering(ValueError):
    """An ecosystem whose ordering this module does not know."""


class Key(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


ORDERINGS = ("dpkg", "apk", "pep440", "semver", "go", "maven", "rpm")

_ECOSYSTEM_ORDERING = {
    "Debian": "dpkg",
    "Ubuntu": "dpkg",
    "Alpine": "apk",
    "PyPI": "pep440",
    "npm": "semver",
    "Go": "go",
    "Maven": "maven",
    "Rocky Linux": "rpm",
    "AlmaLinux": "rpm",
    "Red Hat": "rpm",
}


@lru_cache(maxsize=1024)
def ordering_of(ecosystem: str) -> str | None:
    """The ordering of an OSV ecosystem ("Debian:12" → dpkg), or an ordering's own name."""
    if ecosystem in ORDERINGS:
        return ecosystem
    if ecosystem == "SEMVER":
        return "semver"
    return _ECOSYSTEM_ORDERING.get(ecosystem.split(":", 1)[0])


def compare(ecosystem: str, a: str, b: str) -> int:
    """-1, 0 or 1 as `a` sorts before, with or after `b` in the ecosystem's ordering.
    Raises InvalidVersion or UnknownOrdering."""
    ordering = ordering_of(ecosystem)
    if ordering is None:
        raise UnknownOrdering(f"no version ordering for ecosystem {ecosystem!r}")
    ka, kb = key(ordering, a), key(ordering, b)
    return -1 if ka < kb else (1 if kb < ka else 0)


def key(ordering: str, version: str) -> Key:
    """The sort key of `version` in `ordering` (cached). Raises InvalidVersion."""
    found = _cached(ordering, version)
    if found is None:
        raise InvalidVersion(f"{version!r} is not a valid {ordering} version")
    return found


def key_or_none(ordering: str, version: str) -> Key | None:
    """`key`, or None for a version the ordering cannot parse."""
    return _cached(ordering, version)


@lru_cache(maxsize=1 << 16)
def _cached(ordering: str, version: str) -> Key | None:
    parse = _PARSERS.get(ordering)
    if parse is None:
        raise UnknownOrdering(f"unknown version ordering {ordering!r}")
    if not version or len(version) > 256:
        return None
    try:
        return parse(version)
    except Exception:  # whatever a parser raises on hostile input: not a version
        return None


# -- dpkg -------------------------------------------------------------------------------

_DPKG_EPOCH = re.compile(r"[0-9]+")
_DPKG_CHARS = re.compile(r"[A-Za-z0-9.+~:-]+")
_RUNS = re.compile(r"([^0-9]*)([0-9]*)")
_END = ((0,), 0)


def _dpkg_weight(c: str) -> int:
    if c == "~":
        return -1
    if c.isalpha():
        return ord(c)
    return ord(c) + 256


def _dpkg_part(text: str) -> tuple[tuple[tuple[int, ...], int], ...]:
    """Alternating (non-digit run, number) pairs, then the end marker. The first pair is
    always there (its run may be empty), and every later run is non-empty, so the end
    marker compares with the other side's next pair exactly as dpkg compares the end of
    a string with what the other one still has."""
    pairs: list[tuple[tuple[int, ...], int]] = []
    for m in _RUNS.finditer(text):
        letters, digits = m.group(1), m.group(2)
        if not letters and not digits and pairs:
            continue
        run = (*(_dpkg_weight(c) for c in letters), 0)
        pairs.append((run, int(digits) if digits else 0))
    pairs.append(_END)
    return tuple(pairs)


def _dpkg(version: str) -> Key:
    version = version.strip()
    epoch = 0
    if ":" in version:
        head, version = version.split(":", 1)
        if not _DPKG_EPOCH.fullmatch(head):
            raise ValueError("bad epoch")
        epoch = int(head)
    upstream, dash, revision = version.rpartition("-")
    if not dash:
        upstream, revision = revision, ""
    if not upstream or not _DPKG_CHARS.fullmatch(version):
        raise ValueError("bad dpkg version")
    return (epoch, _dpkg_part(upstream), _dpkg_part(revision))


# -- apk --------------------------------------------------------------------------------

# token kinds, in apk-tools' order (a longer version wins unless what follows is lower)
_INITIAL, _DIGIT, _LETTER, _SUFFIX, _SUFFIX_NO, _HASH, _REVISION, _APK_END = range(8)
_SUFFIXES = {
    "alpha": 0,
    "beta": 1,
    "pre": 2,
    "rc": 3,
    # 4: no suffix (a release)
    "cvs": 5,
    "svn": 6,
    "git": 7,
    "hg": 8,
    "p": 9,
}
_PRE_RELEASE_RANK = -100
_APK_TOKEN = re.compile(r"\.([0-9]+)|([a-z])|_([a-z]+)|~([0-9a-f]+)|-r([0-9]+)|([0-9]+)")


def _apk(version: str) -> Key:
    """Tokens as (rank, value): equal kinds compare by value; where two versions first
    differ in kind, the higher kind sorts lower, except that a pre-release suffix sorts
    below everything (apk-tools' apk_version_compare)."""
    m = re.match(r"[0-9]+", version)
    if m is None:
        raise ValueError("apk versions start with a digit")
    tokens: list[tuple[int, Any]] = [(-_INITIAL, int(m.group()))]
    kind, pos = _INITIAL, m.end()
    while pos < len(version):
        t = _APK_TOKEN.match(version, pos)
        if t is None:
            raise ValueError("bad apk version")
        dot, letter, suffix, commit, revision, digits = t.groups()
        if dot is not None and kind <= _DIGIT:
            kind = _DIGIT
            value: Any = (0, dot) if dot.startswith("0") else (1, int(dot))
        elif letter is not None and kind <= _DIGIT:
            kind, value = _LETTER, ord(letter)
        elif suffix is not None and kind <= _SUFFIX_NO and suffix in _SUFFIXES:
            kind, value = _SUFFIX, _SUFFIXES[suffix]
        elif digits is not None and kind == _SUFFIX:
            kind, value = _SUFFIX_NO, int(digits)
        elif commit is not None and kind < _HASH:
            kind, value = _HASH, commit
        elif revision is not None and kind < _REVISION:
            kind, value = _REVISION, int(revision)
        else:
            raise ValueError("bad apk version")
        rank = _PRE_RELEASE_RANK if kind == _SUFFIX and value < 4 else -kind
        tokens.append((rank, value))
        pos = t.end()
    tokens.append((-_APK_END, 0))
    return tuple(tokens)


# -- semver, go -------------------------------------------------------------------------


def _semver(version: str) -> Key:
    text = version.strip().lstrip("=v")
    parsed = semver.Version.parse(text)
    pre: tuple[Any, ...] = (1,)
    if parsed.prerelease:
        ids = tuple(
            (0, int(p)) if p.isdigit() else (1, p) for p in str(parsed.prerelease).split(".")
        )
        pre = (0, *ids)
    return (parsed.major, parsed.minor, parsed.patch, pre)


_GO_TOOLCHAIN = re.compile(r"(?:go)?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:(alpha|beta|rc)(\d+))?")


def go_semver(version: str) -> str:
    """Go's spellings as semver: v1.2.3 → 1.2.3; the toolchain's go1.21rc2 or 1.21rc2 →
    1.21.0-rc.2, go1.21 or 1.21 → 1.21.0."""
    version = version.strip()
    t = _GO_TOOLCHAIN.fullmatch(version)
    if t is not None:
        major, minor, patch, word, n = t.groups()
        text = f"{major}.{minor or 0}.{patch or 0}"
        return f"{text}-{word}.{n}" if word else text
    return version[1:] if version.startswith("v") else version


def _go(version: str) -> Key:
    return _semver(go_semver(version))


# -- libraries --------------------------------------------------------------------------


def _pep440(version: str) -> Key:
    return PepVersion(version)


_MAVEN_RELEASE = re.compile(r"(?i)(?<![a-z])release(?![a-z])")
_MAVEN_DOT_QUALIFIER = re.compile(r"(?<=[0-9])\.(?=[A-Za-z])")


def _maven(version: str) -> Key:
    """univers' MavenVersion after two rewrites that bring it to Maven 3.9's
    ComparableVersion: "release" is an alias of "" like "ga" and "final", and a qualifier
    after a dot reads as one after a dash (MNG-7644: "2.0.a" < "2-1")."""
    if not version.strip():
        raise ValueError("empty")
    text = _MAVEN_DOT_QUALIFIER.sub("-", _MAVEN_RELEASE.sub("ga", version.strip()))
    return MavenVersion(text)


def _rpm(version: str) -> Key:
    return RpmVersion(version)


_PARSERS = {
    "dpkg": _dpkg,
    "apk": _apk,
    "pep440": _pep440,
    "semver": _semver,
    "go": _go,
    "maven": _maven,
    "rpm": _rpm,
}
