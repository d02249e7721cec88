"""Build the runtime image offline, from Debian packages, and check it at start-up.

Two layers, each tagged by a hash of its inputs so a rebuild happens only when they change:

1. ``sandbox-base:bookworm-<hash>``: ``debootstrap --variant=minbase --include=<docker/packages.txt>``
   into a temp dir, then ``docker import`` (no registry, no pull).
2. ``<image>:<version>``: ``docker/Dockerfile`` adds the warm-up (``docker/warm``), the Node modules
   programs may ``require`` (``docker/npm``: ``npm ci --ignore-scripts`` on the host from its lockfile,
   so each package's integrity hash is checked) and the agent (``runners/``) on top. The version
   hashes the base tag, the Dockerfile, those files and the agent's; it is stored in the label
   ``sandbox.version`` and the engine refuses to start on a missing or stale image.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import docker
import docker.errors

from .errors import ImageError

__all__ = ["BASE_REPO", "build_images", "ensure_image", "prune_images", "runtime_tag"]

BASE_REPO = "sandbox-base"
SUITE = "bookworm"
AGENT_FILES = (
    "protocol.py",
    "agent.py",
    "zygote.py",
    "launch.c",
    "session.py",
    "boundary/__init__.py",
    "boundary/codec.py",
    "boundary/program.py",
    "boundary/suites.py",
    "boundary/trusted.py",
)
VERSION_LABEL = "sandbox.version"

_ROOT = Path(__file__).resolve().parent.parent


def _docker_dir() -> Path:
    for candidate in (_ROOT / "docker", Path(__file__).resolve().parent / "_docker"):
        if (candidate / "Dockerfile").exists():
            return candidate
    raise ImageError("cannot find the docker/ build files of this installation")


def _runners_dir() -> Path:
    import runners

    return Path(runners.__file__).resolve().parent


def _package_lines() -> list[str]:
    text = (_docker_dir() / "packages.txt").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _packages() -> list[str]:
    """What debootstrap installs (``--include``)."""
    return [line for line in _package_lines() if not line.startswith("+")]


def _apt_packages() -> list[str]:
    """What apt-get installs into the new root after debootstrap (lines starting with ``+``)."""
    return [line[1:].strip() for line in _package_lines() if line.startswith("+")]


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


def base_tag() -> str:
    """Tag of the debootstrapped base image for the current package list."""
    return f"{BASE_REPO}:{SUITE}-" + _digest(SUITE.encode(), "\n".join(_package_lines()).encode())


def runtime_tag(repo: str) -> str:
    """Tag (``repo:version``) the runtime image must have for this version of the runners."""
    parts = [base_tag().encode(), (_docker_dir() / "Dockerfile").read_bytes()]
    for path in [*_warm_files(), *_npm_files()]:
        parts += [str(path.relative_to(_docker_dir())).encode(), path.read_bytes()]
    parts += [name.encode() for name in AGENT_FILES]
    parts += [(_runners_dir() / name).read_bytes() for name in AGENT_FILES]
    return f"{repo}:" + _digest(*parts)


def _warm_files() -> list[Path]:
    """The build-time warm-up files (``docker/warm``: Go build cache, Rust crates), in a stable order."""
    return sorted(p for p in (_docker_dir() / "warm").rglob("*") if p.is_file())


NPM_FILES = ("package.json", "package-lock.json")


def _npm_files() -> list[Path]:
    """The Node modules' manifest and lockfile (``docker/npm``): pinned versions and integrity hashes."""
    return [_docker_dir() / "npm" / name for name in NPM_FILES]


def _npm_install(into: Path, say: Callable[[str], None]) -> None:
    """``npm ci`` the lockfile's packages into ``into/node_modules`` (registry at build time only).

    ``--ignore-scripts``: no package code runs on the host; npm checks each tarball against the
    lockfile's ``integrity`` hash and fails on a mismatch or on a manifest the lockfile does not match.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise ImageError("npm is not installed (apt-get install -y npm): the image ships npm packages")
    into.mkdir(parents=True, exist_ok=True)
    for path in _npm_files():
        shutil.copy(path, into / path.name)
    say(f"npm ci ({', '.join(NPM_FILES)})")
    argv = [npm, "ci", "--ignore-scripts", "--omit=dev", "--no-audit", "--no-fund", "--no-update-notifier"]
    proc = subprocess.run(argv, cwd=into, capture_output=True, text=True, env={**os.environ, "CI": "1"})
    if proc.returncode != 0:
        raise ImageError(f"npm ci failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    (into / "node_modules" / ".package-lock.json").unlink(missing_ok=True)  # npm's own bookkeeping


def _exists(client: docker.DockerClient, tag: str) -> bool:
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


#: ``LanguageSpec.version_label`` -> the command whose output names the toolchain's version (the first
#: dotted number in it), run in the debootstrapped root at build time.
TOOLCHAIN_VERSIONS: dict[str, tuple[str, ...]] = {
    "sandbox.python.version": ("python3", "--version"),
    "sandbox.gxx.version": ("g++", "-dumpfullversion"),
    "sandbox.gcc.version": ("gcc", "-dumpfullversion"),
    # javac finds libjli by $ORIGIN, which needs /proc (the chroot has none): the JDK's release file
    "sandbox.java.version": ("sh", "-c", "grep -h '^JAVA_VERSION=' /usr/lib/jvm/*/release | head -n1"),
    "sandbox.node.version": ("node", "--version"),
    "sandbox.tsc.version": ("tsc", "--version"),
    "sandbox.go.version": ("go", "version"),
    "sandbox.rustc.version": ("rustc", "--version"),
    "sandbox.mono.version": ("mono", "--version"),
    "sandbox.php.version": ("php", "--version"),
    "sandbox.ruby.version": ("ruby", "--version"),
    "sandbox.bash.version": ("bash", "--version"),
    "sandbox.perl.version": ("perl", "--version"),
    "sandbox.lua.version": ("lua5.4", "-v"),
}
_VERSION = re.compile(r"\d+\.\d+(?:\.\d+)*")


def _chroot() -> str:
    """chroot's path (found before the child's environment, which names the new root's PATH, applies)."""
    return shutil.which("chroot") or "/usr/sbin/chroot"


def _apt_install(root: Path, mirror: str, packages: list[str], say: Callable[[str], None]) -> None:
    say(f"apt-get install {', '.join(packages)}")
    (root / "etc/apt/sources.list").write_text(f"deb {mirror} {SUITE} main\n")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "DEBIAN_FRONTEND": "noninteractive", "LC_ALL": "C"}
    for argv in (
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "--no-install-recommends", *packages],
        ["apt-get", "clean"],
    ):
        proc = subprocess.run([_chroot(), str(root), *argv], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise ImageError(f"{' '.join(argv)} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


def _toolchain_versions(root: Path, say: Callable[[str], None]) -> dict[str, str]:
    """The label -> version of every toolchain in the debootstrapped ``root``.

    Each command runs from its real path (the chroot has no /proc, so a launcher reached through
    /usr/bin's alternatives symlinks would not find its libraries by ``$ORIGIN``). A toolchain whose
    version cannot be read is left unlabelled, and said so: ``ListLanguages`` then shows no version.
    """
    labels = {}
    real = 'exec "$(readlink -f "$(command -v "$0")")" "$@"'
    for label, argv in TOOLCHAIN_VERSIONS.items():
        proc = subprocess.run(
            [_chroot(), str(root), "/bin/sh", "-c", real, *argv],
            capture_output=True,
            text=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        found = _VERSION.search(proc.stdout + proc.stderr)
        if proc.returncode != 0 or found is None:
            output = (proc.stdout + proc.stderr)[-300:]
            say(f"WARNING: {' '.join(argv)} in the new image failed, {label} is not set: {output}")
            continue
        labels[label] = found.group(0)
    return labels


def _build_base(client: docker.DockerClient, mirror: str, say: Callable[[str], None]) -> None:
    tag = base_tag()
    if _exists(client, tag):
        say(f"base image {tag} is up to date")
        return
    if shutil.which("debootstrap") is None:
        raise ImageError("debootstrap is not installed (apt-get install -y debootstrap)")
    with tempfile.TemporaryDirectory(prefix="sandbox-rootfs-") as tmp:
        root = Path(tmp) / "root"
        say(f"debootstrap {SUITE} with {', '.join(_packages())} (a few minutes: the toolchains are large)")
        t0 = time.monotonic()
        proc = subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=" + ",".join(_packages()),
                SUITE,
                str(root),
                mirror,
            ],
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise ImageError(f"debootstrap failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        say(f"debootstrap done in {time.monotonic() - t0:.0f}s")
        if _apt_packages():
            _apt_install(root, mirror, _apt_packages(), say)
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for item in (root / junk).glob("*"):
                if item.is_file():
                    item.unlink()
        for mount_point in ("box", "work", "run/agent", "opt/runners"):
            (root / mount_point).mkdir(parents=True, exist_ok=True)
        labels = _toolchain_versions(root, say)
        say(f"docker import -> {tag} ({', '.join(f'{k} {v}' for k, v in labels.items())})")
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run(
            [
                "docker",
                "import",
                *(arg for key, value in labels.items() for arg in ("--change", f"LABEL {key}={value}")),
                "-",
                tag,
            ],
            stdin=tar.stdout,
            capture_output=True,
            text=True,
        )
        assert tar.stdout is not None
        tar.stdout.close()
        tar.wait()
        if imp.returncode != 0 or tar.returncode != 0:
            raise ImageError(f"docker import failed: {imp.stderr.strip()}")


def build_images(repo: str, mirror: str, say: Callable[[str], None] = print, prune: bool = False) -> str:
    """Build whatever is missing; returns the runtime tag. Safe to run concurrently and repeatedly.

    ``prune``: then remove the tags older versions left behind (see ``prune_images``).
    """
    client = docker.from_env()
    # The lock is the build files' own directory (flock works on a directory's fd), so no lock file
    # is left anywhere, in the temp dir least of all.
    lock = os.open(_docker_dir(), os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _build_base(client, mirror, say)
        tag = _build_runtime(client, repo, say)
        if prune:
            prune_images(client, repo, say)
        return tag
    finally:
        os.close(lock)  # releases the lock


def _build_runtime(client: docker.DockerClient, repo: str, say: Callable[[str], None]) -> str:
    tag = runtime_tag(repo)
    if _exists(client, tag):
        say(f"runtime image {tag} is up to date")
        return tag
    with tempfile.TemporaryDirectory(prefix="sandbox-build-") as ctx:
        shutil.copy(_docker_dir() / "Dockerfile", ctx)
        shutil.copytree(_docker_dir() / "warm", Path(ctx) / "warm")
        _npm_install(Path(ctx) / "npm", say)
        for name in AGENT_FILES:
            (Path(ctx) / "runners" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(_runners_dir() / name, Path(ctx) / "runners" / name)
        version = tag.rsplit(":", 1)[1]
        say(f"building {tag}")
        client.images.build(
            path=ctx,
            tag=tag,
            buildargs={"BASE": base_tag()},
            labels={VERSION_LABEL: version},
            rm=True,
            forcerm=True,  # no intermediate container is left, even when a step fails
        )
    say(f"runtime image {tag} built")
    return tag


def prune_images(client: docker.DockerClient, repo: str, say: Callable[[str], None] = print) -> list[str]:
    """Remove the runtime and base tags of other versions than this checkout's; returns those removed.

    Only tags this tool made (a runtime tag carries ``sandbox.version``) are touched. A tag a
    container still uses is kept and named: Docker refuses to remove it, and so do we.
    """
    keep = {runtime_tag(repo), base_tag()}
    stale: list[str] = []
    for image in client.images.list(name=repo) + client.images.list(name=BASE_REPO):
        for tag in image.tags:
            name = tag.rsplit(":", 1)[0]
            ours = name == BASE_REPO or VERSION_LABEL in (image.labels or {})
            if ours and name in (repo, BASE_REPO) and tag not in keep:
                stale.append(tag)
    removed = []
    for tag in sorted(set(stale), key=lambda t: t.startswith(BASE_REPO)):  # base tags last
        try:
            client.images.remove(tag)
        except docker.errors.ImageNotFound:
            continue
        except docker.errors.APIError as exc:
            say(f"kept {tag}: {exc.explanation or exc}")
            continue
        removed.append(tag)
    say(f"pruned {len(removed)} old image tag(s)" + (f": {', '.join(removed)}" if removed else ""))
    return removed


def ensure_image(client: docker.DockerClient, repo: str) -> tuple[str, dict[str, str]]:
    """The runtime tag and its labels, or ``ImageError`` saying how to rebuild."""
    tag = runtime_tag(repo)
    try:
        image = client.images.get(tag)
    except docker.errors.ImageNotFound:
        raise ImageError(
            f"runtime image {tag} is missing or stale for this version of the runners; "
            "build it with `sandbox-service build-images`"
        ) from None
    labels: dict[str, str] = image.labels or {}
    if labels.get(VERSION_LABEL) != tag.rsplit(":", 1)[1]:
        raise ImageError(f"image {tag} carries version {labels.get(VERSION_LABEL)!r}; rebuild it")
    return tag, labels
