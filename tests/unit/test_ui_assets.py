"""The web UI's files as served: the vendored library is the npm release it claims to
be (VENDORED.json, written by scripts/vendor-ui.sh), every module an import names
exists, and no file carries inline script or a handler attribute the CSP would block."""

from __future__ import annotations

import hashlib
import json
import re

from dockyard.ui.serve import ASSETS, CSP, STATIC

VENDOR = STATIC / "vendor"


def test_vendored_files_match_their_record() -> None:
    record = json.loads((VENDOR / "VENDORED.json").read_text())
    for name, entry in record.items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", entry["version"]), name
        for file, digest in entry["files"].items():
            assert hashlib.sha256((VENDOR / file).read_bytes()).hexdigest() == digest, file
        assert (VENDOR / f"{name}.LICENSE").is_file()


def test_every_import_resolves() -> None:
    pattern = re.compile(r"""(?:from\s+|import\s*\(\s*)['"](\.{1,2}/[^'"]+)['"]""")
    scripts = sorted((STATIC / "js").rglob("*.js"))
    assert scripts
    for script in scripts:
        for target in pattern.findall(script.read_text()):
            resolved = (script.parent / target).resolve()
            assert resolved.is_file(), f"{script.relative_to(STATIC)} imports {target}"
            assert "/ui/" + resolved.relative_to(STATIC.resolve()).as_posix() in ASSETS


def test_no_inline_script_or_handlers() -> None:
    index = (STATIC / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", index) == []
    for page in [STATIC / "index.html", *sorted((STATIC / "js").rglob("*.js"))]:
        text = page.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), f"{page.name}: an inline handler"
        assert "innerHTML" not in text and "eval(" not in text, page.name
    assert "script-src 'self'" in CSP and "unsafe" not in CSP


def test_the_page_is_served_at_the_root() -> None:
    assert ASSETS["/"] is ASSETS["/ui/index.html"]
    assert all(path == "/" or path.startswith("/ui/") for path in ASSETS)
    assert "/ui/vendor/VENDORED.json" in ASSETS  # harmless, and lets an auditor check
    assert not any(p.endswith(".LICENSE") for p in ASSETS)
