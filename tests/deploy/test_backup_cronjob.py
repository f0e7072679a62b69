"""The backup CronJob component renders into the production overlay as one valid
CronJob (Kubernetes' own schemas, strict) that runs `dockyard backup create` with the
registry's configuration and secrets, as the non-root user, and adds nothing else."""

from __future__ import annotations

import os
from pathlib import Path

import kubernetes_validate
import yaml

from tests.deploy.test_dashboards import kustomize  # noqa: F401 - the fixture
from tests.support.kustomize import Renderer

REPO = Path(__file__).resolve().parents[2]


def test_backup_cronjob_component(kustomize: Renderer, tmp_path: Path) -> None:  # noqa: F811
    deploy = Path(os.path.relpath(REPO / "deploy" / "kubernetes", tmp_path))
    (tmp_path / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "dockyard",
                "resources": [str(deploy / "overlays" / "production")],
                "components": [str(deploy / "components" / "backup-cronjob")],
            }
        )
    )
    objects = kustomize.build(tmp_path)
    jobs = [o for o in objects if o["kind"] == "CronJob"]
    assert len(jobs) == 1
    job = jobs[0]
    kubernetes_validate.validate(job, "1.30", strict=True)
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["command"] == ["dockyard"]
    assert container["args"][:2] == ["backup", "create"]
    assert "--config" in container["args"] and "--keep" in container["args"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    secrets = {e["valueFrom"]["secretKeyRef"]["name"] for e in container["env"] if "valueFrom" in e}
    assert secrets == {"dockyard-secrets"}
    configs = {v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v}
    assert configs <= {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    alone = kustomize.build(REPO / "deploy" / "kubernetes" / "overlays" / "production")
    assert len(objects) == len(alone) + 1
