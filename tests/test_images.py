"""The image build's inputs: what the runtime tag (its version) hashes, and the npm step on its own."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from sandbox_service import images
from sandbox_service.errors import ImageError


@pytest.fixture
def docker_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of docker/ the build reads instead of the checkout's."""
    copy = tmp_path / "docker"
    shutil.copytree(images._docker_dir(), copy)
    monkeypatch.setattr(images, "_docker_dir", lambda: copy)
    return copy


def test_the_runtime_tag_hashes_the_npm_lockfile(docker_dir: Path) -> None:
    before, base = images.runtime_tag("sandbox-runtime"), images.base_tag()
    lock = docker_dir / "npm" / "package-lock.json"
    lock.write_text(lock.read_text().replace('"0.8.3"', '"0.8.2"'))
    after = images.runtime_tag("sandbox-runtime")
    assert after.startswith("sandbox-runtime:") and after != before
    assert images.base_tag() == base  # a layer on top: a new module never re-runs debootstrap


def test_npm_ci_installs_the_pinned_module_and_checks_its_integrity(docker_dir: Path, tmp_path: Path) -> None:
    if shutil.which("npm") is None:
        pytest.fail("npm is missing: scripts/install installs it")
    images._npm_install(tmp_path / "ok", lambda _: None)
    manifest = (tmp_path / "ok" / "node_modules" / "js-md5" / "package.json").read_text()
    assert '"version": "0.8.3"' in manifest
    assert not (tmp_path / "ok" / "node_modules" / ".package-lock.json").exists()
    lock = docker_dir / "npm" / "package-lock.json"
    integrity = '"integrity": "sha512-'
    lock.write_text(lock.read_text().replace(integrity, integrity + "AAAA", 1))
    with pytest.raises(ImageError, match="EINTEGRITY"):
        images._npm_install(tmp_path / "tampered", lambda _: None)
