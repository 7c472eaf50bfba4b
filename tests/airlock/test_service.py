"""The airlock end to end: submit, check, review (N of M, never the author), release, verify."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from airlock.helpers import PSEUDONYM, published_version
from workspaces.test_quota import need_loop

from factories import audit_trail, issue_permit, seed_users
from tre.airlock import release as releases
from tre.airlock import service
from tre.db.datasets import Dataset
from tre.domain.egress import EgressStatus, Verdict
from tre.domain.roles import Role
from tre.errors import InvalidInput, InvalidStateTransition, PolicyDenied
from tre.services import catalogue, users
from tre.services.node import Node
from tre.workspaces.quota import ProjectQuotas


@pytest.fixture
def cfg(tmp_path: Path, node: Node) -> service.AirlockConfig:
    """A node with users, checkers carl and cleo, a real dataset version and a permit."""
    seed_users(node)
    users.add_user(node, "host:test", "carl", [Role.OUTPUT_CHECKER])
    users.add_user(node, "host:test", "cleo", [Role.OUTPUT_CHECKER])
    users.add_user(node, "host:test", "bert", [Role.OUTPUT_CHECKER, Role.RESEARCHER])
    version = published_version(tmp_path / "datasets" / "lung-ct" / "v1")
    catalogue.register_version(node, "dan", Dataset("lung-ct", "Lung CT", "", "Hospital A",
                                                    False, node.clock()), "v1", str(version))
    issue_permit(node, members=("bob", "bert"))
    config = service.AirlockConfig(home=tmp_path / "home", workspace_root=tmp_path / "ws")
    outputs = config.workspace_root / "lung-ai" / "outputs" / "alice"
    outputs.mkdir(parents=True)
    (outputs / "counts.csv").write_text("site,n\nA,25\nB,31\n")
    (outputs / "small.csv").write_text("site,n\nA,25\nB,3\n")
    (outputs / "people.txt").write_text(f"outlier: {PSEUDONYM}\n")
    return config


def _egress_events(node: Node) -> list[tuple[str, str, str]]:
    return [(actor, action, outcome) for actor, action, _, outcome in audit_trail(node)
            if action.startswith("airlock.")]


def test_clean_table_released_after_one_checker(node: Node, cfg: service.AirlockConfig) -> None:
    request = service.submit(node, cfg, "alice", "lung-ai", "site counts for the paper",
                             ["counts.csv"])
    assert (request.status, [(f.name, f.kind.value, f.findings) for f in request.files]) == (
        EgressStatus.SUBMITTED, [("counts.csv", "table", ())])
    done = service.review(node, "carl", request.id, "counts.csv", Verdict.APPROVE,
                          "aggregate counts above threshold")
    assert done.status is EgressStatus.APPROVED
    folder = service.release(node, cfg, "carl", request.id)
    assert (folder / "files" / "counts.csv").read_text() == "site,n\nA,25\nB,31\n"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert (manifest["request"], manifest["datasets"], manifest["withheld"],
            [(f["name"], [r["reviewer"] for r in f["reviewers"]]) for f in manifest["files"]]) \
        == (request.id, ["lung-ct@v1"], [], [("counts.csv", ["carl"])])
    assert releases.verify(folder, cfg.keys_dir).problems == ()
    assert service.get_request(node, request.id).status is EgressStatus.RELEASED
    assert _egress_events(node) == [
        ("alice", "airlock.create", "allowed"), ("alice", "airlock.submit", "allowed"),
        ("carl", "airlock.review", "allowed"), ("carl", "airlock.approved", "allowed"),
        ("carl", "airlock.release", "allowed")]
    assert service.check_download(node, "bob", request.id).allow
    assert not service.check_download(node, "carl", request.id).allow


def test_tampered_release_fails_verification(node: Node, cfg: service.AirlockConfig) -> None:
    request = service.submit(node, cfg, "alice", "lung-ai", "counts", ["counts.csv"])
    service.review(node, "carl", request.id, "counts.csv", Verdict.APPROVE, "ok")
    folder = service.release(node, cfg, "carl", request.id)
    target = folder / "files" / "counts.csv"
    target.chmod(0o644)
    target.write_text("site,n\nA,2\n")
    (folder / "files" / "extra.csv").write_text("x\n")
    assert releases.verify(folder, cfg.keys_dir).problems == (
        "extra.csv is in the release but not in its manifest",
        "counts.csv does not match its SHA-256 or size in the manifest")


def test_blocked_files_are_withheld_partial_release(node: Node,
                                                    cfg: service.AirlockConfig) -> None:
    request = service.submit(node, cfg, "alice", "lung-ai", "tables",
                             ["counts.csv", "small.csv", "people.txt"])
    assert {f.name: sorted(x.code for x in f.findings) for f in request.files} == {
        "counts.csv": [], "small.csv": ["small-count"], "people.txt": ["pseudonym"]}
    with pytest.raises(PolicyDenied, match=r"small\.csv has a blocking finding and can only be "
                                           "rejected"):
        service.review(node, "carl", request.id, "small.csv", Verdict.APPROVE, "fine")
    # Blocked files are rejected by their findings: the one clean table decides the request.
    done = service.review(node, "carl", request.id, "counts.csv", Verdict.APPROVE, "ok")
    assert done.status is EgressStatus.PARTIALLY_APPROVED
    folder = service.release(node, cfg, "cleo", request.id)
    assert sorted(p.name for p in (folder / "files").iterdir()) == ["counts.csv"]
    assert json.loads((folder / "manifest.json").read_text())["withheld"] == [
        "people.txt", "small.csv"]


def test_author_member_and_non_checker_may_not_review(node: Node,
                                                      cfg: service.AirlockConfig) -> None:
    request = service.submit(node, cfg, "alice", "lung-ai", "counts", ["counts.csv"])
    for who, why in [("alice", "alice needs the output_checker role"),
                     ("bert", "bert is a member of project lung-ai"),
                     ("olga", "olga needs the output_checker role")]:
        with pytest.raises(PolicyDenied, match=why):
            service.review(node, who, request.id, "counts.csv", Verdict.APPROVE, "ok")
    assert [e for e in _egress_events(node) if e[1] == "airlock.review"] == [
        ("alice", "airlock.review", "denied"), ("bert", "airlock.review", "denied"),
        ("olga", "airlock.review", "denied")]


def test_updating_a_file_resets_its_reviews(node: Node, cfg: service.AirlockConfig) -> None:
    request = service.submit(node, cfg, "alice", "lung-ai", "counts", ["counts.csv"])
    service.review(node, "carl", request.id, "counts.csv", Verdict.APPROVE, "ok")
    outputs = cfg.workspace_root / "lung-ai" / "outputs" / "alice"
    (outputs / "counts.csv").write_text("site,n\nA,26\nB,31\n")
    updated = service.update_file(node, cfg, "alice", request.id, "counts.csv")
    assert (updated.status, updated.files[0].current_reviews()) == (EgressStatus.IN_REVIEW, ())
    assert len(updated.files[0].reviews) == 1
    with pytest.raises(PolicyDenied, match="is in_review: only an approved or partially"):
        service.release(node, cfg, "carl", request.id)


def test_only_an_output_checker_outside_the_project_releases(
        node: Node, cfg: service.AirlockConfig) -> None:
    request = service.submit(node, cfg, "alice", "lung-ai", "counts", ["counts.csv"])
    service.review(node, "carl", request.id, "counts.csv", Verdict.APPROVE, "ok")
    for actor, reason in (("alice", "alice needs the output_checker role to release outputs"),
                          ("bob", "bob needs the output_checker role to release outputs")):
        with pytest.raises(PolicyDenied, match=reason):
            service.release(node, cfg, actor, request.id)
    assert not (releases.releases_root(cfg.home) / request.id).exists()
    assert service.get_request(node, request.id).status is EgressStatus.APPROVED
    service.release(node, cfg, "carl", request.id)
    assert _egress_events(node)[-3:] == [("alice", "airlock.release", "denied"),
                                         ("bob", "airlock.release", "denied"),
                                         ("carl", "airlock.release", "allowed")]


def test_non_member_and_symlink_submissions_are_refused(node: Node,
                                                        cfg: service.AirlockConfig) -> None:
    with pytest.raises(PolicyDenied, match="carol is not a lead or researcher of permit"):
        service.submit(node, cfg, "carol", "lung-ai", "x", ["counts.csv"])
    outputs = cfg.workspace_root / "lung-ai" / "outputs" / "alice"
    (outputs / "data").symlink_to("/data")
    with pytest.raises(InvalidInput, match="symbolic link"):
        service.submit(node, cfg, "alice", "lung-ai", "x", ["data/scan.dcm"])
    assert _egress_events(node) == [("carol", "airlock.submit", "denied"),
                                    ("alice", "airlock.submit", "refused")]


def test_author_withdraws(node: Node, cfg: service.AirlockConfig) -> None:
    request = service.submit(node, cfg, "alice", "lung-ai", "counts", ["counts.csv"])
    with pytest.raises(InvalidInput, match="only the author"):
        service.withdraw(node, "bob", request.id)
    assert service.withdraw(node, "alice", request.id).status is EgressStatus.WITHDRAWN
    with pytest.raises(InvalidStateTransition):
        service.withdraw(node, "alice", request.id)


def test_submitting_mounts_the_projects_quota_image_first(
        node: Node, cfg: service.AirlockConfig, tmp_path: Path) -> None:
    """After a restart the project's image may not be mounted yet: a submission from the host
    mounts it rather than find an empty folder; one that cannot be mounted is refused
    without naming host paths."""
    need_loop()
    project = cfg.workspace_root / "lung-ai"
    project.rename(tmp_path / "before-the-quota")
    quotas = ProjectQuotas(cfg.workspace_root, 16 * 1024 * 1024)
    try:
        quotas.ensure_mounted("lung-ai")
        shutil.copytree(tmp_path / "before-the-quota" / "outputs", project / "outputs")
        quotas.unmount("lung-ai")
        request = service.submit(node, cfg, "alice", "lung-ai", "counts", ["counts.csv"])
        assert [f.name for f in request.files] == ["counts.csv"]
        quotas.unmount("lung-ai")
        quotas.image("lung-ai").write_bytes(b"not ext4")  # a damaged image
        with pytest.raises(InvalidInput) as refused:
            service.submit(node, cfg, "alice", "lung-ai", "counts", ["counts.csv"])
        assert str(refused.value) == (
            "project lung-ai's outputs cannot be reached now (its disk image cannot be "
            "mounted): ask the operator to run `tre workspaces mount lung-ai`")
        assert _egress_events(node)[-1] == ("alice", "airlock.submit", "refused")
    finally:
        quotas.unmount_all()
