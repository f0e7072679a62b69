"""A real OpenLDAP server (slapd) on loopback, seeded with a small directory.

    with run_slapd(tmp_path) as ldap:
        settings = ldap.settings(admin_group="registry-admins")
        identity = await LdapAuthenticator(settings).authenticate("alice", ldap.passwords["alice"])

slapd (Debian package `slapd`, see scripts/install-test-deps.sh) runs in the
foreground (`-d 0`) as a child process with its own slapd.conf and MDB
database under `tmp`; it listens on two free 127.0.0.1 ports, plain
`ldap://` (which also offers StartTLS) and `ldaps://`, with a server
certificate signed by a throwaway CA (`ca_file`). The directory is loaded
offline with slapadd before the server starts, the server is polled with a
real LDAP connection until it answers, and it is stopped by its PID at the end.

Directory (base dc=example,dc=org):

    ou=people    alice (groups team-a-devs, registry-admins), bob (team-b),
                 carol (no groups), eve whose uid is `eve*)(uid=*` (eve-group),
                 dave twice (ou=people and ou=contractors,ou=people: ambiguous)
    ou=groups    team-a-devs, registry-admins: groupOfNames (member=DN)
                 team-b, eve-group: posixGroup (memberUid=uid)
    ou=services  cn=search: the read-only search account (`bind_dn`)

Anonymous clients may read everything but passwords; userPassword is only
usable to authenticate.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import shutil
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ldap3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ldap3.core.exceptions import LDAPException

from dockyard.config.auth import LdapSettings
from tests.support.server import free_port

BASE_DN = "dc=example,dc=org"
ADMIN_DN = f"cn=admin,{BASE_DN}"
ADMIN_PASSWORD = "admin-secret"
BIND_DN = f"cn=search,ou=services,{BASE_DN}"
BIND_PASSWORD = "search-secret"
PEOPLE_DN = f"ou=people,{BASE_DN}"
GROUPS_DN = f"ou=groups,{BASE_DN}"
EVE_UID = "eve*)(uid=*"
PASSWORDS = {
    "alice": "alice-secret",
    "bob": "bob-secret",
    "carol": "carol-secret",
    EVE_UID: "eve-secret",
    "dave": "dave-secret",
}
SCHEMAS = ("core", "cosine", "inetorgperson", "nis")


@dataclass
class Slapd:
    url: str
    ldaps_url: str
    port: int
    ldaps_port: int
    ca_file: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    base_dn: str = BASE_DN
    admin_dn: str = ADMIN_DN
    admin_password: str = ADMIN_PASSWORD
    bind_dn: str = BIND_DN
    bind_password: str = BIND_PASSWORD
    user_base_dn: str = PEOPLE_DN
    group_base_dn: str = GROUPS_DN
    passwords: dict[str, str] = field(default_factory=lambda: dict(PASSWORDS))

    def user_dn(self, uid: str) -> str:
        return f"uid={uid},{PEOPLE_DN}"

    def settings(self, **overrides: Any) -> LdapSettings:
        """LdapSettings for this server: plain ldap://, the search account, groups on."""
        values: dict[str, Any] = {
            "enabled": True,
            "url": self.url,
            "bind_dn": self.bind_dn,
            "bind_password": self.bind_password,
            "user_base_dn": self.user_base_dn,
            "group_base_dn": self.group_base_dn,
            "ca_file": self.ca_file,
            "timeout_seconds": 5.0,
        }
        values.update(overrides)
        return LdapSettings.model_validate(values)

    def dockyard_env(self, **overrides: Any) -> dict[str, str]:
        """`settings(**overrides)` as the environment of a Dockyard server."""
        env = {}
        for key, value in self.settings(**overrides).model_dump().items():
            if value is None:
                continue
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            env[f"DOCKYARD__AUTH__LDAP__{key.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        return env

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def _ssha(password: str) -> str:
    salt = os.urandom(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _seed_ldif() -> str:
    def person(dn: str, uid: str, cn: str, sn: str, mail: str | None = None) -> str:
        lines = [
            f"dn: {dn}",
            "objectClass: inetOrgPerson",
            f"uid: {uid}",
            f"cn: {cn}",
            f"sn: {sn}",
            f"userPassword: {_ssha(PASSWORDS[uid])}",
        ]
        if mail:
            lines.append(f"mail: {mail}")
        return "\n".join(lines)

    def group_of_names(cn: str, *members: str) -> str:
        lines = [f"dn: cn={cn},{GROUPS_DN}", "objectClass: groupOfNames", f"cn: {cn}"]
        return "\n".join(lines + [f"member: {m}" for m in members])

    def posix_group(cn: str, gid: int, *member_uids: str) -> str:
        lines = [f"dn: cn={cn},{GROUPS_DN}", "objectClass: posixGroup", f"cn: {cn}"]
        lines.append(f"gidNumber: {gid}")
        return "\n".join(lines + [f"memberUid: {m}" for m in member_uids])

    def ou(dn: str, name: str) -> str:
        return f"dn: {dn}\nobjectClass: organizationalUnit\nou: {name}"

    alice, bob = f"uid=alice,{PEOPLE_DN}", f"uid=bob,{PEOPLE_DN}"
    entries = [
        f"dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example",
        ou(PEOPLE_DN, "people"),
        ou(GROUPS_DN, "groups"),
        ou(f"ou=services,{BASE_DN}", "services"),
        ou(f"ou=contractors,{PEOPLE_DN}", "contractors"),
        f"dn: {BIND_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n"
        f"cn: search\nuserPassword: {_ssha(BIND_PASSWORD)}",
        person(alice, "alice", "Alice Liddell", "Liddell", "alice@example.org"),
        person(bob, "bob", "Bob Builder", "Builder", "bob@example.org"),
        person(f"uid=carol,{PEOPLE_DN}", "carol", "Carol Danvers", "Danvers"),
        person(f"cn=Eve Injector,{PEOPLE_DN}", EVE_UID, "Eve Injector", "Injector"),
        person(f"uid=dave,{PEOPLE_DN}", "dave", "Dave One", "One"),
        person(f"uid=dave,ou=contractors,{PEOPLE_DN}", "dave", "Dave Two", "Two"),
        group_of_names("team-a-devs", alice),
        group_of_names("registry-admins", alice),
        posix_group("team-b", 5001, "bob"),
        posix_group("eve-group", 5002, EVE_UID),
    ]
    return "\n\n".join(entries) + "\n"


def _certificate(
    subject: str, issuer: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), False
        )
    )


def _write_certificates(tmp: Path) -> tuple[Path, Path, Path]:
    """A self-signed CA and a server certificate for 127.0.0.1 (only: not `localhost`,
    so that ldaps://localhost:PORT exercises hostname verification) it signed."""
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = "Dockyard test LDAP CA"
    ca_cert = (
        _certificate(ca_name, ca_name, ca_key, ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    loopback = x509.IPAddress(ipaddress.ip_address("127.0.0.1"))
    cert = (
        _certificate("127.0.0.1", ca_name, key, ca_key)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([loopback]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_file, cert_file, key_file = tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    cert_file.write_bytes(cert.public_bytes(pem))
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file


def _slapd_conf(tmp: Path, ca_file: Path, cert_file: Path, key_file: Path) -> str:
    includes = "\n".join(f"include /etc/ldap/schema/{s}.schema" for s in SCHEMAS)
    return f"""{includes}
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile {tmp}/slapd.pid
argsfile {tmp}/slapd.args
TLSCACertificateFile {ca_file}
TLSCertificateFile {cert_file}
TLSCertificateKeyFile {key_file}

database mdb
maxsize 16777216
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {_ssha(ADMIN_PASSWORD)}
directory {tmp}/db
index objectClass,uid,cn,member,memberUid eq
access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by * read
"""


def _binary(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if not found:
        raise RuntimeError(f"{name} not found: run scripts/install-test-deps.sh")
    return found


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    server = ldap3.Server(url, connect_timeout=1, get_info=ldap3.NONE)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"slapd exited with {process.returncode}:\n{log.read_text(errors='replace')}"
            )
        try:
            conn = ldap3.Connection(server, BIND_DN, BIND_PASSWORD, receive_timeout=2)
            if conn.bind() and conn.search(BASE_DN, "(objectClass=*)", ldap3.BASE):
                conn.unbind()
                return
            conn.unbind()
        except LDAPException:
            pass
        time.sleep(0.05)  # polling interval
    raise TimeoutError(f"slapd at {url} not ready after {timeout}s")


@contextmanager
def run_slapd(tmp: Path, *, timeout: float = 30.0) -> Iterator[Slapd]:
    """Configure, seed and start a private slapd under `tmp`; stop it (by PID) on exit."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "db").mkdir()
    ca_file, cert_file, key_file = _write_certificates(tmp)
    conf = tmp / "slapd.conf"
    conf.write_text(_slapd_conf(tmp, ca_file, cert_file, key_file))
    seed = tmp / "seed.ldif"
    seed.write_text(_seed_ldif())
    loaded = subprocess.run(
        [_binary("slapadd"), "-f", str(conf), "-l", str(seed)], capture_output=True, text=True
    )
    if loaded.returncode:
        raise RuntimeError(f"slapadd failed ({loaded.returncode}):\n{loaded.stderr}")
    port, ldaps_port = free_port(), free_port()
    url, ldaps_url = f"ldap://127.0.0.1:{port}", f"ldaps://127.0.0.1:{ldaps_port}"
    log_path = tmp / "slapd.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [_binary("slapd"), "-f", str(conf), "-h", f"{url}/ {ldaps_url}/", "-d", "0"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(url, proc, log_path, timeout)
        _check_tls(ldaps_url, ca_file)
        yield Slapd(url, ldaps_url, port, ldaps_port, ca_file, proc, log_path)
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _check_tls(ldaps_url: str, ca_file: Path) -> None:
    """Fail early (with a clear message) if the ldaps:// listener does not serve TLS."""
    tls = ldap3.Tls(validate=ssl.CERT_REQUIRED, ca_certs_file=str(ca_file))
    server = ldap3.Server(ldaps_url, tls=tls, connect_timeout=5, get_info=ldap3.NONE)
    conn = ldap3.Connection(server, BIND_DN, BIND_PASSWORD, receive_timeout=5)
    if not conn.bind():
        raise RuntimeError(f"slapd ldaps:// bind failed: {conn.result}")
    conn.unbind()
