"""Signature policy at pull, against a real server in both topologies: signatures made
in cosign's exact formats (tag form and Sigstore bundle) with the `cryptography`
library (tests/support/signing.py), pushed over the distribution API, verified by the
registry; refusals are OCI DENIED errors naming the policy and the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.supplychain.conftest import ok
from tests.supplychain.helpers import (
    Image,
    denied_message,
    pull,
    push_artifact,
    push_image,
    push_index,
)
from tests.support import signing
from tests.support.server import RunningServer
from tests.support.tools import Skopeo, require_binary


def enforce(api: httpx.Client, project: str, *keys: tuple[str, Any], mode: str = "enforce") -> None:
    body = {
        "signatures": {
            "mode": mode,
            "keys": [{"name": name, "pem": signing.public_pem(key)} for name, key in keys],
        }
    }
    ok(api.put(f"/projects/{project}/supplychain", json=body))


def sign_tag_form(
    registry: httpx.Client, image: Image, key: Any, *, on: Image | None = None
) -> str:
    """Push a cosign tag-form signature of `image` (under `on`'s cosign tag, if given: a
    signature copied to another image)."""
    manifest, blobs = signing.cosign_tag_signature(
        image.digest, f"reg.test/{image.repository}", key
    )
    target = on or image
    tag = target.digest.replace(":", "-") + ".sig"
    return push_artifact(registry, target.repository, tag, manifest, blobs)


def test_unsigned_refused_then_signed_allowed(
    api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    key = signing.generate_key("p256")
    enforce(api, project, ("release", key))
    image = push_image(registry, f"{project}/app", "1.0")
    for reference in ("1.0", image.digest):
        message = denied_message(pull(registry, image.repository, reference))
        assert f"signature policy of project {project}" in message
        assert "no signature" in message
    head = registry.head(f"/v2/{image.repository}/manifests/1.0")
    assert head.status_code == 403
    sign_tag_form(registry, image, key)  # the push invalidates the cached verdict
    r = pull(registry, image.repository, "1.0")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == image.digest
    status = ok(api.get(f"/projects/{project}/repositories/app/-/artifacts/1.0/supplychain"))
    assert status["signatures"]["signed"] is True
    assert status["signatures"]["signers"] == ["release"]
    assert [s["kind"] for s in status["signatures"]["signatures"]] == ["cosign"]


def test_untrusted_key_copied_and_tampered_signatures_refused(
    api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    trusted, stranger = signing.generate_key("p256"), signing.generate_key("p256")
    enforce(api, project, ("release", trusted))
    a = push_image(registry, f"{project}/app", "a")
    b = push_image(registry, f"{project}/app", "b")
    sign_tag_form(registry, a, stranger)
    assert "signed by an untrusted key" in denied_message(pull(registry, a.repository, "a"))
    # a valid signature of b, copied to a's cosign tag: it names b's digest
    sign_tag_form(registry, b, trusted, on=a)
    assert "signature for another digest" in denied_message(pull(registry, a.repository, "a"))
    assert pull(registry, b.repository, "b").status_code == 403  # b itself is not signed
    # a tampered payload: the signature no longer verifies over it
    manifest, blobs = signing.cosign_tag_signature(b.digest, f"reg.test/{b.repository}", trusted)
    doc = json.loads(manifest)
    layer = doc["layers"][0]
    payload = json.loads(blobs[layer["digest"]])
    payload["optional"] = {"tampered": "yes"}
    forged = json.dumps(payload).encode()
    blobs = {**blobs, signing.sha256_digest(forged): forged}
    del blobs[layer["digest"]]
    layer["digest"], layer["size"] = signing.sha256_digest(forged), len(forged)
    forged_manifest = json.dumps(doc).encode()
    push_artifact(
        registry, b.repository, b.digest.replace(":", "-") + ".sig", forged_manifest, blobs
    )
    message = denied_message(pull(registry, b.repository, "b"))
    assert "invalid signature" in message or "signed by an untrusted key" in message, message


def test_bundle_form_and_index_children(
    api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    key = signing.generate_key("p384")
    enforce(api, project, ("ci", key))
    amd, arm = (push_image(registry, f"{project}/multi", f"p{i}") for i in range(2))
    index = push_index(registry, f"{project}/multi", "2.0", [amd, arm])
    assert "no signature" in denied_message(pull(registry, index.repository, "2.0"))
    manifest, blobs = signing.cosign_bundle_signature(
        index.digest, index.media_type, index.size, key
    )
    signature = push_artifact(registry, index.repository, None, manifest, blobs)
    assert pull(registry, index.repository, "2.0").status_code == 200
    # a client resolving its platform pulls the child by digest: signed through the index
    r = pull(registry, amd.repository, amd.digest)
    assert r.status_code == 200, r.text
    # the signature itself stays pullable, for clients verifying on their side
    assert pull(registry, index.repository, signature).status_code == 200
    referrers = registry.get(f"/v2/{index.repository}/referrers/{index.digest}").json()
    assert [m["digest"] for m in referrers["manifests"]] == [signature]


def test_audit_mode_warns_and_policy_changes_apply_at_once(
    api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    key = signing.generate_key("ed25519")
    enforce(api, project, ("k", key), mode="audit")
    image = push_image(registry, f"{project}/app", "1")
    r = pull(registry, image.repository, "1")
    assert r.status_code == 200
    warning = r.headers["Warning"]
    assert warning.startswith('299 - "audit: the signature policy of project')
    assert "no signature" in warning
    enforce(api, project, ("k", key))
    assert pull(registry, image.repository, "1").status_code == 403
    ok(api.delete(f"/projects/{project}/supplychain"), 204)  # back to the system default: off
    r = pull(registry, image.repository, "1")
    assert r.status_code == 200 and "Warning" not in r.headers


def test_policy_validation(api: httpx.Client, project: str) -> None:
    bad = {
        "signatures": {
            "mode": "enforce",
            "keys": [{"name": "x", "pem": "-----BEGIN PUBLIC KEY-----\nnope\n"}],
        }
    }
    r = api.put(f"/projects/{project}/supplychain", json=bad)
    assert r.status_code in (400, 422), r.text
    r = api.put(f"/projects/{project}/supplychain", json={"signatures": {"mode": "sometimes"}})
    assert r.status_code in (400, 422), r.text
    keyless = {
        "signatures": {
            "mode": "enforce",
            "keyless": [{"issuer": "https://token.actions.githubusercontent.com", "subject": "x"}],
        }
    }
    r = api.put(f"/projects/{project}/supplychain", json=keyless)
    assert r.status_code == 422, r.text
    assert "keyless verification" in r.json()["errors"][0]["message"]
    found = ok(api.get(f"/projects/{project}/supplychain"))
    assert found["applies"] == "system default" and found["own"] is False


def test_skopeo_pull_refused_then_allowed(
    sc_server: RunningServer,
    api: httpx.Client,
    registry: httpx.Client,
    project: str,
    tmp_path: Path,
) -> None:
    require_binary("skopeo")
    key = signing.generate_key("rsa2048")
    enforce(api, project, ("rsa", key))
    image = push_image(registry, f"{project}/tool", "v1")
    skopeo = Skopeo(sc_server.hostport, workdir=tmp_path, credentials=sc_server.admin)
    refused = skopeo.copy(skopeo.ref(image.repository, "v1"), f"dir:{tmp_path / 'a'}", check=False)
    assert refused.returncode != 0
    assert "no signature" in refused.stderr, refused.stderr
    sign_tag_form(registry, image, key)
    skopeo.copy(skopeo.ref(image.repository, "v1"), f"dir:{tmp_path / 'b'}")
    assert (tmp_path / "b" / "manifest.json").exists()


def test_notation_trust_store_identities_and_expiry(
    api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    import datetime as dt

    pki = signing.make_ca_and_leaf()
    body = {
        "signatures": {
            "mode": "enforce",
            "notation_certificates": [{"name": "corp-ca", "pem": signing.cert_pem(pki.root)}],
            "notation_identities": ["x509.subject: C=US, ST=WA, L=Seattle, O=acme-rockets.io"],
        }
    }
    ok(api.put(f"/projects/{project}/supplychain", json=body))
    good = push_image(registry, f"{project}/n", "jws")
    manifest, blobs = signing.notation_signature(
        good.digest, good.media_type, good.size, pki.leaf_key, pki.chain, "jws"
    )
    push_artifact(registry, good.repository, None, manifest, blobs)
    assert pull(registry, good.repository, "jws").status_code == 200
    cose = push_image(registry, f"{project}/n", "cose")
    manifest, blobs = signing.notation_signature(
        cose.digest, cose.media_type, cose.size, pki.leaf_key, pki.chain, "cose"
    )
    push_artifact(registry, cose.repository, None, manifest, blobs)
    assert pull(registry, cose.repository, "cose").status_code == 200
    old = push_image(registry, f"{project}/n", "expired")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    stale = signing.make_ca_and_leaf(root_key=pki.root_key, leaf_not_valid_after=past)
    manifest, blobs = signing.notation_signature(
        old.digest, old.media_type, old.size, stale.leaf_key, [stale.leaf, pki.root], "jws"
    )
    push_artifact(registry, old.repository, None, manifest, blobs)
    assert "expired certificate" in denied_message(pull(registry, old.repository, "expired"))


def test_attestation_is_not_a_signature_and_deleting_the_signature_refuses_again(
    api: httpx.Client, registry: httpx.Client, project: str
) -> None:
    key = signing.generate_key("p256")
    enforce(api, project, ("k", key))
    image = push_image(registry, f"{project}/att", "1")
    manifest, blobs = signing.cosign_attestation(image.digest, f"reg.test/{image.repository}", key)
    att_tag = image.digest.replace(":", "-") + ".att"
    push_artifact(registry, image.repository, att_tag, manifest, blobs)
    assert "no signature" in denied_message(pull(registry, image.repository, "1"))
    assert pull(registry, image.repository, att_tag).status_code == 200  # stays pullable
    signature = sign_tag_form(registry, image, key)
    assert pull(registry, image.repository, "1").status_code == 200
    r = registry.delete(f"/v2/{image.repository}/manifests/{signature}")
    assert r.status_code == 202, r.text
    assert "no signature" in denied_message(pull(registry, image.repository, "1"))


def test_copied_with_its_signature_stays_signed(
    sc_server: RunningServer,
    api: httpx.Client,
    registry: httpx.Client,
    project: str,
    tmp_path: Path,
) -> None:
    """skopeo copies the image and its cosign tag to another repository: same digest,
    same signature, still verified there."""
    require_binary("skopeo")
    key = signing.generate_key("p256")
    enforce(api, project, ("k", key))
    image = push_image(registry, f"{project}/src", "1")
    sign_tag_form(registry, image, key)
    skopeo = Skopeo(sc_server.hostport, workdir=tmp_path, credentials=sc_server.admin)
    sig_tag = image.digest.replace(":", "-") + ".sig"
    for tag in ("1", sig_tag):
        skopeo.copy(
            skopeo.ref(image.repository, tag),
            skopeo.ref(f"{project}/dst", tag),
            "--preserve-digests",
        )
    r = pull(registry, f"{project}/dst", "1")
    assert r.status_code == 200, r.text
    assert r.headers["Docker-Content-Digest"] == image.digest
    assert pull(registry, f"{project}/dst", sig_tag).status_code == 200
