"""deploy/kubernetes: every kustomization renders, every rendered object is
valid for Kubernetes, and the objects agree with each other and with
Dockyard's own config schema.

Rendering uses a real kustomize (tests/support/kustomize.py); validation uses
the Kubernetes OpenAPI-derived JSON schemas that kubernetes-validate ships
(offline, strict: unknown fields are errors), and for the ServiceMonitor
custom resource a strict schema written from its CRD
(tests/support/servicemonitor_schema.py).
"""

from __future__ import annotations

import base64
import copy
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest

from dockyard.config import FilesystemStorage, S3Storage, Settings, load_settings
from tests.support.kustomize import (
    DEPLOY,
    Renderer,
    kubectl_kustomize,
    pinned_kustomize,
    pinned_version,
)
from tests.support.servicemonitor_schema import SERVICEMONITOR_SCHEMA

Obj = dict[str, Any]

TARGETS = {
    "base": DEPLOY / "base",
    "production": DEPLOY / "overlays" / "production",
    "minimal": DEPLOY / "overlays" / "minimal",
}
OVERLAYS = ("production", "minimal")
# The oldest Kubernetes the manifests support (the preStop `sleep` action is
# on by default from 1.30) and the newest kubernetes-validate has schemas for.
K8S_VERSIONS = ("1.30", kubernetes_validate.latest_version().rsplit(".", 1)[0])
IMAGE = "ghcr.io/dockyard/dockyard:0.1.0"
NAMESPACE = "dockyard"
# docs/kubernetes.md applies the objects in three steps by this label:
# config first, then the migration, then the registry.
COMPONENT_OF_KIND = {
    "Namespace": "config",
    "ServiceAccount": "config",
    "ConfigMap": "config",
    "Secret": "config",
    "Job": "migrate",
}
PRESTOP_MARGIN_SECONDS = 1

EXPECTED_OBJECTS = {
    "base": {
        ("Namespace", "dockyard"),
        ("ServiceAccount", "dockyard"),
        ("ConfigMap", "dockyard-config"),
        ("Secret", "dockyard-secrets"),
        ("Deployment", "dockyard"),
        ("Deployment", "dockyard-worker"),
        ("Service", "dockyard"),
        ("PodDisruptionBudget", "dockyard"),
        ("Job", "dockyard-migrate"),
        ("Ingress", "dockyard"),
        ("NetworkPolicy", "dockyard"),
        ("ServiceMonitor", "dockyard"),
    },
}
EXPECTED_OBJECTS["production"] = EXPECTED_OBJECTS["base"] | {
    ("HorizontalPodAutoscaler", "dockyard")
}
EXPECTED_OBJECTS["minimal"] = (
    EXPECTED_OBJECTS["base"]
    - {
        ("PodDisruptionBudget", "dockyard"),
        ("Job", "dockyard-migrate"),
        ("Secret", "dockyard-secrets"),
        ("ServiceMonitor", "dockyard"),
        ("Deployment", "dockyard-worker"),
    }
) | {("PersistentVolumeClaim", "dockyard-data")}


# -- rendering ----------------------------------------------------------------


@dataclass
class Rendered:
    target: str
    objects: list[Obj]

    def all(self, kind: str) -> list[Obj]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> Obj | None:
        found = [o for o in self.all(kind) if o["metadata"]["name"] == name]
        assert len(found) <= 1, f"{self.target}: {len(found)} {kind}s named {name}"
        return found[0] if found else None

    def one(self, kind: str, name: str | None = None) -> Obj:
        found = [o for o in self.all(kind) if name is None or o["metadata"]["name"] == name]
        assert len(found) == 1, f"{self.target}: expected one {kind} {name or ''}, got {found}"
        return found[0]


def _need(renderer: Renderer | None, what: str) -> Renderer:
    if renderer is not None:
        return renderer
    message = f"{what} is not installed: run scripts/install-test-deps.sh"
    if os.environ.get("CI"):
        pytest.fail(message)  # CI installs it: a missing renderer is a broken setup
    pytest.skip(message)


@pytest.fixture(scope="session")
def kustomize() -> Renderer:
    return _need(pinned_kustomize(), f"kustomize {pinned_version()}")


@pytest.fixture(scope="session")
def renders(kustomize: Renderer) -> dict[str, Rendered]:
    return {name: Rendered(name, kustomize.build(path)) for name, path in TARGETS.items()}


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest, renders: dict[str, Rendered]) -> Rendered:
    return renders[request.param]


@pytest.fixture
def production(renders: dict[str, Rendered]) -> Rendered:
    return renders["production"]


@pytest.fixture
def minimal(renders: dict[str, Rendered]) -> Rendered:
    return renders["minimal"]


# -- helpers --------------------------------------------------------------------


def pod_spec(workload: Obj) -> Obj:
    spec: Obj = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Obj) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"]["labels"]
    return labels


def container(workload: Obj, name: str | None = None) -> Obj:
    containers: list[Obj] = pod_spec(workload)["containers"]
    if name is None:
        assert len(containers) == 1, containers
        return containers[0]
    return next(c for c in containers if c["name"] == name)


def selects(selector: Obj, labels: dict[str, str]) -> bool:
    """Does a LabelSelector (matchLabels / matchExpressions) select these labels?"""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def secret_data(secret: Obj) -> dict[str, str]:
    data = {k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()}
    data.update(secret.get("stringData", {}))
    return data


def container_env(rendered: Rendered, c: Obj) -> dict[str, str]:
    """The environment a container starts with, references resolved."""
    env: dict[str, str] = {}
    for source in c.get("envFrom", []):
        prefix = source.get("prefix", "")
        if "secretRef" in source:
            values = secret_data(rendered.one("Secret", source["secretRef"]["name"]))
        else:
            values = rendered.one("ConfigMap", source["configMapRef"]["name"]).get("data", {})
        env.update({prefix + k: v for k, v in values.items()})
    for var in c.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
            continue
        ref = var["valueFrom"]
        if "secretKeyRef" in ref:
            sel = ref["secretKeyRef"]
            values = secret_data(rendered.one("Secret", sel["name"]))
        elif "configMapKeyRef" in ref:
            sel = ref["configMapKeyRef"]
            values = rendered.one("ConfigMap", sel["name"]).get("data", {})
        else:
            raise AssertionError(f"{var['name']}: unexpected env source {ref}")
        assert sel["key"] in values, f"{var['name']}: {sel['name']} has no key {sel['key']}"
        env[var["name"]] = values[sel["key"]]
    return env


def config_file(rendered: Rendered, workload: Obj) -> tuple[str, str]:
    """(path, content) of the file `--config` names, read through the pod's mounts."""
    c = container(workload)
    args: list[str] = c["args"]
    assert "--config" in args, args
    path = args[args.index("--config") + 1]
    volumes = {v["name"]: v for v in pod_spec(workload)["volumes"]}
    for mount in c["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            volume = volumes[mount["name"]]
            assert "configMap" in volume, volume
            key = path[len(prefix) :]
            data = rendered.one("ConfigMap", volume["configMap"]["name"])["data"]
            assert key in data, f"{path}: no key {key} in the ConfigMap"
            return path, str(data[key])
    raise AssertionError(f"{path} is on no volume")


def settings_in(
    rendered: Rendered, workload: Obj, tmp_path: Path, env: pytest.MonkeyPatch
) -> Settings:
    """Load Dockyard's settings exactly as this container would: its config
    file and its environment."""
    _, content = config_file(rendered, workload)
    path = tmp_path / f"{workload['metadata']['name']}-config.yaml"
    path.write_text(content)
    for var in list(os.environ):  # nothing from the machine running the tests
        if var.startswith(("DOCKYARD", "AWS_")):
            env.delenv(var)
    for key, value in container_env(rendered, container(workload)).items():
        env.setenv(key, value)
    return load_settings(path)


_QUANTITY = re.compile(r"^([0-9.]+)(m|k|M|G|T|Ki|Mi|Gi|Ti)?$")
_FACTORS = {
    None: 1.0,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2.0**10,
    "Mi": 2.0**20,
    "Gi": 2.0**30,
    "Ti": 2.0**40,
}


def quantity(value: str | int) -> float:
    match = _QUANTITY.match(str(value))
    assert match, f"not a quantity: {value!r}"
    return float(match.group(1)) * _FACTORS[match.group(2)]


# -- rendering and schemas --------------------------------------------------------


def test_pinned_kustomize_is_the_pinned_version(kustomize: Renderer) -> None:
    assert kustomize.version() == pinned_version()


@pytest.mark.parametrize("target", TARGETS)
def test_renders_the_expected_objects(renders: dict[str, Rendered], target: str) -> None:
    rendered = renders[target]
    found = [
        (o["kind"], re.sub(r"-[a-z0-9]{10}$", "", o["metadata"]["name"]))
        if o["kind"] == "ConfigMap"
        else (o["kind"], o["metadata"]["name"])
        for o in rendered.objects
    ]
    assert len(found) == len(set(found)), found
    assert set(found) == EXPECTED_OBJECTS[target]


@pytest.mark.parametrize("target", TARGETS)
def test_kubectl_kustomize_renders_the_same(renders: dict[str, Rendered], target: str) -> None:
    """What `kubectl apply -k` would send is what the tests check."""
    kubectl = kubectl_kustomize()
    if kubectl is None:
        pytest.skip("kubectl is not installed")
    theirs = kubectl.build(TARGETS[target])

    def key(o: Obj) -> tuple[str, str]:
        return (o["kind"], o["metadata"]["name"])

    assert sorted(theirs, key=key) == sorted(renders[target].objects, key=key)


def _schema_errors(obj: Obj, version: str) -> str | None:
    name = f"{obj['kind']}/{obj['metadata']['name']}"
    if obj["apiVersion"] == "monitoring.coreos.com/v1":
        validator = jsonschema.Draft202012Validator(SERVICEMONITOR_SCHEMA)
        errors = sorted(validator.iter_errors(obj), key=lambda e: list(e.path))
        if not errors:
            return None
        return "\n".join(f"{name}: {'.'.join(map(str, e.path))}: {e.message}" for e in errors)
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        return f"{name}: {'.'.join(map(str, exc.path))}: {exc.message}"
    except kubernetes_validate.SchemaNotFoundError as exc:
        return f"{name}: {exc.message}"  # an unknown kind or apiVersion is a typo too
    return None


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("target", TARGETS)
def test_every_object_matches_its_schema(
    renders: dict[str, Rendered], target: str, version: str
) -> None:
    errors = [e for o in renders[target].objects if (e := _schema_errors(o, version))]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    ("kind", "mutate", "expected"),
    [
        (
            "Deployment",
            lambda o: container(o).update(readinesProbe=container(o).pop("readinessProbe")),
            "readinesProbe",
        ),
        (
            "Deployment",
            lambda o: container(o)["ports"][0].update(containerPort="5000"),
            "is not of type 'integer'",
        ),
        ("Service", lambda o: o["spec"].update(selectr=o["spec"].pop("selector")), "selectr"),
        (
            "ServiceMonitor",
            lambda o: o["spec"]["endpoints"][0].update(intreval="30s"),
            "intreval",
        ),
        (
            "ServiceMonitor",
            lambda o: o["spec"]["endpoints"][0].update(interval="30 seconds"),
            "does not match",
        ),
        ("Deployment", lambda o: o.update(apiVersion="apps/v1beta9"), "Couldn't find schema"),
    ],
)
def test_the_validation_catches_typos(
    renders: dict[str, Rendered], kind: str, mutate: Any, expected: str
) -> None:
    """The checks above can fail: a validator that accepts anything would pass them."""
    obj = copy.deepcopy(renders["base"].one(kind, "dockyard"))
    mutate(obj)
    error = _schema_errors(obj, K8S_VERSIONS[0])
    assert error is not None and expected in error, error


# -- cross-references ---------------------------------------------------------------


def test_everything_in_one_namespace_with_labels(overlay: Rendered) -> None:
    assert overlay.one("Namespace")["metadata"]["name"] == NAMESPACE
    for o in overlay.objects:
        meta = o["metadata"]
        if o["kind"] != "Namespace":
            assert meta.get("namespace") == NAMESPACE, meta
        labels = meta.get("labels", {})
        assert labels.get("app.kubernetes.io/name") == "dockyard", meta
        assert labels.get("app.kubernetes.io/part-of") == "dockyard", meta
        expected = COMPONENT_OF_KIND.get(o["kind"], "registry")
        if meta["name"] == "dockyard-worker":
            expected = "worker"
        assert labels.get("app.kubernetes.io/component") == expected, (o["kind"], meta)


def test_one_image_everywhere(overlay: Rendered) -> None:
    workloads = overlay.all("Deployment") + overlay.all("Job")
    images = {c["image"] for w in workloads for c in pod_spec(w)["containers"]}
    assert images == {IMAGE}


def test_service_selects_the_registry_pods(overlay: Rendered) -> None:
    deployment = overlay.one("Deployment", "dockyard")
    service = overlay.one("Service", "dockyard")
    labels = pod_labels(deployment)
    assert selects(deployment["spec"]["selector"], labels)
    assert selects({"matchLabels": service["spec"]["selector"]}, labels)
    for job in overlay.all("Job"):  # migration pods take no traffic
        assert not selects({"matchLabels": service["spec"]["selector"]}, pod_labels(job))
    worker = overlay.get("Deployment", "dockyard-worker")
    if worker is not None:  # nor do worker pods
        assert not selects({"matchLabels": service["spec"]["selector"]}, pod_labels(worker))
        assert not selects(deployment["spec"]["selector"], pod_labels(worker))
    (port,) = service["spec"]["ports"]
    assert (port["name"], port["port"]) == ("http", 5000)
    named = {p["name"]: p["containerPort"] for p in container(deployment)["ports"]}
    assert port["targetPort"] in named, (port, named)


def test_probes_use_the_named_port(overlay: Rendered) -> None:
    c = container(overlay.one("Deployment", "dockyard"))
    ports = {p["name"] for p in c["ports"]}
    expected = {
        "startupProbe": "/healthz",
        "livenessProbe": "/healthz",
        "readinessProbe": "/readyz",
    }
    for probe, path in expected.items():
        assert probe in c, probe
        get = c[probe]["httpGet"]
        assert get["path"] == path and get["port"] in ports, (probe, get)


def test_pods_are_locked_down(overlay: Rendered) -> None:
    sa = overlay.one("ServiceAccount", "dockyard")
    assert sa["automountServiceAccountToken"] is False
    for workload in overlay.all("Deployment") + overlay.all("Job"):
        spec = pod_spec(workload)
        assert spec["serviceAccountName"] == sa["metadata"]["name"]
        assert spec["automountServiceAccountToken"] is False
        # service links would inject DOCKYARD_PORT, DOCKYARD_SERVICE_HOST ... (from the
        # Service named dockyard) into the registry's own DOCKYARD_* namespace
        assert spec["enableServiceLinks"] is False
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["runAsUser"] != 0
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        volumes = {v["name"]: v for v in spec["volumes"]}
        for c in spec["containers"]:
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert "add" not in sc["capabilities"]
            mounts = {m["mountPath"]: volumes[m["name"]] for m in c["volumeMounts"]}
            assert "emptyDir" in mounts["/tmp"]
            requests, limits = c["resources"]["requests"], c["resources"]["limits"]
            for resource in ("cpu", "memory"):
                assert quantity(requests[resource]) <= quantity(limits[resource]), c["name"]
            # ~100 MiB resident when idle: the request leaves room for load
            assert quantity(requests["memory"]) >= 128 * 2**20, c["name"]


def test_config_loads_as_each_container_sees_it(
    overlay: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dockyard's own settings model (unknown keys are errors) accepts the
    mounted config file plus the injected environment, for every workload."""
    deployment = overlay.one("Deployment", "dockyard")
    settings = settings_in(overlay, deployment, tmp_path, monkeypatch)
    c = container(deployment)
    assert settings.server.port == next(
        p["containerPort"] for p in c["ports"] if p["name"] == "http"
    )
    # the data dir must be writable: a volume, since the root filesystem is not
    writable = {m["mountPath"] for m in c["volumeMounts"] if not m.get("readOnly")}
    assert str(settings.data_dir) in writable, (settings.data_dir, writable)
    assert settings.runtime_threads <= quantity(c["resources"]["limits"]["cpu"])
    ingress = overlay.one("Ingress", "dockyard")
    hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
    assert settings.server.public_url is not None
    assert urlsplit(settings.server.public_url).hostname in hosts
    for job in overlay.all("Job"):
        job_settings = settings_in(overlay, job, tmp_path, monkeypatch)
        assert job_settings.database_url == settings.database_url


def test_graceful_shutdown_fits_the_grace_period(
    overlay: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = overlay.one("Deployment", "dockyard")
    settings = settings_in(overlay, deployment, tmp_path, monkeypatch)
    pre_stop = container(deployment)["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop >= 5  # endpoint removal has to reach kube-proxy and the ingress
    grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
    assert grace > pre_stop + settings.server.graceful_timeout + PRESTOP_MARGIN_SECONDS


def test_env_and_volumes_reference_what_exists(overlay: Rendered) -> None:
    for workload in overlay.all("Deployment") + overlay.all("Job"):
        spec = pod_spec(workload)
        for c in spec["containers"]:
            container_env(overlay, c)  # raises on a missing Secret, ConfigMap or key
            mounts = {m["name"] for m in c["volumeMounts"]}
            assert mounts <= {v["name"] for v in spec["volumes"]}, c["name"]
        for volume in spec["volumes"]:
            if "configMap" in volume:
                overlay.one("ConfigMap", volume["configMap"]["name"])
            if "secret" in volume:
                overlay.one("Secret", volume["secret"]["secretName"])
            if "persistentVolumeClaim" in volume:
                overlay.one("PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])


def test_network_policy(overlay: Rendered) -> None:
    policy = overlay.one("NetworkPolicy", "dockyard")["spec"]
    deployment = overlay.one("Deployment", "dockyard")
    for workload in [deployment, *overlay.all("Job")]:
        assert selects(policy["podSelector"], pod_labels(workload)), workload["metadata"]["name"]
    assert set(policy["policyTypes"]) == {"Ingress", "Egress"}
    http = next(p["containerPort"] for p in container(deployment)["ports"] if p["name"] == "http")
    sources = set()
    for rule in policy["ingress"]:
        assert [p["port"] for p in rule["ports"]] == [http]
        for peer in rule["from"]:
            assert "ipBlock" not in peer, peer
            sources.add(peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"])
    assert sources == {"ingress-nginx", "monitoring"}
    ports = {(p["protocol"], p["port"]) for rule in policy["egress"] for p in rule["ports"]}
    assert {("UDP", 53), ("TCP", 53)} <= ports
    allowed = {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 6379), ("TCP", 443), ("TCP", 9000)}
    assert ports <= allowed
    for rule in policy["egress"]:
        assert rule.get("to"), f"an egress rule without destinations allows all: {rule}"


def test_ingress_routes_to_the_service(overlay: Rendered) -> None:
    ingress = overlay.one("Ingress", "dockyard")
    service = overlay.one("Service", "dockyard")
    port_names = {p["name"] for p in service["spec"]["ports"]}
    notes = ingress["metadata"]["annotations"]
    assert notes["nginx.ingress.kubernetes.io/proxy-body-size"] == "0"
    assert notes["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(notes[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 600
    tls_hosts = {h for entry in ingress["spec"]["tls"] for h in entry["hosts"]}
    assert all(entry["secretName"] for entry in ingress["spec"]["tls"])
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in tls_hosts
        paths = rule["http"]["paths"]
        assert {p["path"] for p in paths} == {"/v2"}  # /metrics and the probes stay inside
        for path in paths:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in port_names


# -- production -----------------------------------------------------------------------


def test_production_rolls_without_losing_capacity(production: Rendered) -> None:
    deployment = production.one("Deployment", "dockyard")
    strategy = deployment["spec"]["strategy"]
    assert strategy["type"] == "RollingUpdate"
    assert strategy["rollingUpdate"]["maxUnavailable"] == 0
    constraints = pod_spec(deployment)["topologySpreadConstraints"]
    keys = {t["topologyKey"]: t for t in constraints}
    assert keys["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    for constraint in constraints:
        assert selects(constraint["labelSelector"], pod_labels(deployment))


def test_production_scales_with_an_hpa(production: Rendered, renders: dict[str, Rendered]) -> None:
    deployment = production.one("Deployment", "dockyard")
    hpa = production.one("HorizontalPodAutoscaler", "dockyard")["spec"]
    target = hpa["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        "apps/v1",
        "Deployment",
        deployment["metadata"]["name"],
    )
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)
    (metric,) = hpa["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert "cpu" in container(deployment)["resources"]["requests"]  # utilization needs it
    assert "replicas" not in deployment["spec"]  # the HPA owns it
    assert renders["base"].one("Deployment", "dockyard")["spec"]["replicas"] == 3


def test_production_disruption_budget(production: Rendered) -> None:
    deployment = production.one("Deployment", "dockyard")
    pdb = production.one("PodDisruptionBudget", "dockyard")["spec"]
    assert pdb["minAvailable"] == 2
    assert selects(pdb["selector"], pod_labels(deployment))
    for job in production.all("Job"):
        assert not selects(pdb["selector"], pod_labels(job))
    hpa = production.one("HorizontalPodAutoscaler", "dockyard")["spec"]
    assert hpa["minReplicas"] > pdb["minAvailable"]  # else no node could ever be drained


def test_production_backends(
    production: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = production.one("Deployment", "dockyard")
    settings = settings_in(production, deployment, tmp_path, monkeypatch)
    assert settings.database_url.startswith("postgresql://")
    assert settings.database.auto_migrate is False  # the Job migrates
    assert isinstance(settings.storage, S3Storage)
    assert settings.redis.url is not None
    env = container_env(production, container(deployment))
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(env)
    hpa = production.one("HorizontalPodAutoscaler", "dockyard")["spec"]
    # every replica at its most stays within PostgreSQL's default max_connections
    per_replica = settings.server.workers * settings.database.pool_size * 2
    assert hpa["maxReplicas"] * per_replica <= 100


def test_migration_job_runs_what_the_deployment_runs(production: Rendered) -> None:
    deployment = production.one("Deployment", "dockyard")
    job = production.one("Job", "dockyard-migrate")
    serve, migrate = container(deployment), container(job)
    assert migrate["image"] == serve["image"]
    assert migrate["command"] == serve["command"]
    assert migrate["args"][0] == "migrate" and serve["args"][0] == "serve"
    assert config_file(production, job) == config_file(production, deployment)
    serve_env = container_env(production, serve)
    for key, value in container_env(production, migrate).items():
        assert serve_env.get(key) == value, key
    assert "DOCKYARD_DATABASE_URL" in container_env(production, migrate)
    assert pod_spec(job)["securityContext"] == {
        k: v
        for k, v in pod_spec(deployment)["securityContext"].items()
        if k != "fsGroupChangePolicy"
    }
    assert pod_spec(job)["restartPolicy"] in {"Never", "OnFailure"}
    assert job["spec"]["backoffLimit"] >= 1
    assert job["spec"]["ttlSecondsAfterFinished"] > 0
    # Argo CD: the Job runs after the config and before the Deployment
    waves = {
        o["kind"]: int(o["metadata"].get("annotations", {}).get("argocd.argoproj.io/sync-wave", 0))
        for o in production.objects
    }
    assert waves["Secret"] < waves["Job"] < waves["Deployment"]
    assert waves["ConfigMap"] < waves["Job"]


def test_servicemonitor_scrapes_the_service(production: Rendered) -> None:
    service = production.one("Service", "dockyard")
    monitor = production.one("ServiceMonitor", "dockyard")["spec"]
    assert selects(monitor["selector"], service["metadata"]["labels"])
    port_names = {p["name"] for p in service["spec"]["ports"]}
    for endpoint in monitor["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"


# -- minimal ------------------------------------------------------------------------------


def test_minimal_is_one_pod_on_a_volume(
    minimal: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = minimal.one("Deployment", "dockyard")
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert not minimal.all("PodDisruptionBudget")
    assert not minimal.all("HorizontalPodAutoscaler")

    settings = settings_in(minimal, deployment, tmp_path, monkeypatch)
    assert settings.database_url == f"sqlite:///{settings.data_dir / 'dockyard.db'}"
    assert settings.database.auto_migrate is True  # no Job: `serve` migrates SQLite
    assert isinstance(settings.storage, FilesystemStorage)
    assert settings.storage_root.is_relative_to(settings.data_dir)
    assert settings.redis.url is None

    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    mount = next(
        m for m in container(deployment)["volumeMounts"] if m["mountPath"] == str(settings.data_dir)
    )
    claim = volumes[mount["name"]]["persistentVolumeClaim"]["claimName"]
    pvc = minimal.one("PersistentVolumeClaim", claim)
    assert pvc["spec"]["accessModes"] == ["ReadWriteOnce"]
    assert "emptyDir" not in volumes[mount["name"]]
    # the fsGroup makes the volume writable for the non-root user
    assert (
        pod_spec(deployment)["securityContext"]["fsGroup"]
        == pod_spec(deployment)["securityContext"]["runAsGroup"]
    )
    env = container_env(minimal, container(deployment))
    assert not {k for k in env if k.startswith(("DOCKYARD_", "AWS_"))}, env


def test_background_jobs_run_in_one_place(
    overlay: Rendered, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With a worker Deployment the serving pods leave jobs to it; without one (the
    minimal overlay) the serving pod runs them itself."""
    deployment = overlay.one("Deployment", "dockyard")
    worker = overlay.get("Deployment", "dockyard-worker")
    serving = settings_in(overlay, deployment, tmp_path, monkeypatch)
    if worker is None:
        assert serving.jobs.run_in_serve is True
        return
    assert serving.jobs.run_in_serve is False
    c = container(worker)
    assert c["command"] + c["args"][:1] == ["dockyard", "worker"]
    background = settings_in(overlay, worker, tmp_path, monkeypatch)
    assert background.database_url == serving.database_url
    assert worker["spec"]["replicas"] >= 1
