"""kube-scheduler's files and command line in the dev control plane, and when DevCluster runs it, without
starting anything."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import NameOID

from kubejit.devcluster import configfiles
from kubejit.devcluster.cluster import CONTROLLERS, DevCluster
from kubejit.devcluster.pki import CertificateAuthority
from kubejit.devcluster.scheduler import USER, KubeScheduler


def flags(argv: list[str]) -> dict[str, str]:
    return dict(arg.removeprefix("--").split("=", 1) for arg in argv[1:])


def test_the_scheduler_runs_as_itself_without_leader_election_on_loopback(tmp_path: Path) -> None:
    ca = CertificateAuthority()
    scheduler = KubeScheduler(Path("/bin/kube-scheduler"), tmp_path, ca, "https://127.0.0.1:6443")
    given = flags(scheduler.argv())
    assert given["bind-address"] == "127.0.0.1"
    assert given["secure-port"] == str(scheduler.port)
    config = yaml.safe_load(Path(given["config"]).read_text())
    assert config["kind"] == "KubeSchedulerConfiguration"
    assert config["leaderElection"] == {"leaderElect": False}
    kubeconfig_path = Path(config["clientConnection"]["kubeconfig"])
    assert kubeconfig_path.stat().st_mode & 0o077 == 0
    kubeconfig = yaml.safe_load(kubeconfig_path.read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    (user,) = kubeconfig["users"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(user["user"]["client-certificate-data"]))
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == USER == "system:kube-scheduler"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME) == []  # not system:masters
    serving = x509.load_pem_x509_certificate(Path(given["tls-cert-file"]).read_bytes())
    serving.verify_directly_issued_by(x509.load_pem_x509_certificate(ca.cert_pem))


def test_scheduler_configuration_names_its_kubeconfig() -> None:
    document = configfiles.scheduler_configuration(Path("/state/kube-scheduler/kubeconfig"))
    assert document["apiVersion"] == "kubescheduler.config.k8s.io/v1"
    assert document["clientConnection"] == {"kubeconfig": "/state/kube-scheduler/kubeconfig"}


def test_the_scheduler_runs_wherever_the_controllers_run_unless_told_otherwise() -> None:
    assert DevCluster().with_scheduler
    assert not DevCluster(with_controllers=False).with_scheduler
    assert not DevCluster(with_scheduler=False).with_scheduler
    assert DevCluster(with_controllers=False, with_scheduler=True).with_scheduler


def test_the_controllers_a_deployment_and_a_job_need_are_on() -> None:
    for needed in ("deployment-controller", "replicaset-controller", "job-controller", "serviceaccount-controller"):
        assert needed in CONTROLLERS
    assert len(set(CONTROLLERS)) == len(CONTROLLERS)
