"""The lock files (requirements/*.txt, written by `make lock`) still answer pyproject.toml.

A dependency added, removed or narrowed in pyproject.toml without `make lock` would install
something else than the project declares (or fail to install) in `make install`, CI and the
images: this test fails first, naming the requirement. The installers themselves (pip and the
build backend, requirements/bootstrap.txt) are locked too and installed before anything else.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)", re.M)


def pins(name: str) -> dict[str, str]:
    text = (ROOT / "requirements" / name).read_text()
    return {canonicalize_name(n): v for n, v in PIN.findall(text)}


def declared(*extras: str) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + [r for e in extras for r in project["optional-dependencies"][e]]
    return [Requirement(line) for line in lines]


@pytest.mark.parametrize(("lock", "extras"), [("dev.txt", ("dev", "otlp")), ("runtime.txt", ("otlp",))])
def test_every_declared_requirement_is_pinned_within_its_range(lock: str, extras: tuple[str, ...]):
    locked = pins(lock)
    for req in declared(*extras):
        name = canonicalize_name(req.name)
        assert name in locked, f"{req} is in pyproject.toml but not in requirements/{lock}: run `make lock`"
        assert req.specifier.contains(locked[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={locked[name]}, outside pyproject.toml's {req}: run `make lock`"
        )


def test_the_images_run_the_versions_the_tests_ran():
    runtime, dev = pins("runtime.txt"), pins("dev.txt")
    assert runtime and set(runtime) < set(dev)
    assert {n: v for n, v in runtime.items() if dev[n] != v} == {}


@pytest.mark.parametrize("lock", ["bootstrap.txt", "dev.txt", "runtime.txt"])
def test_every_pin_carries_its_hashes(lock: str):
    # pip's --require-hashes refuses a file with one unhashed pin; say which one here.
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", (ROOT / "requirements" / lock).read_text())
    unhashed = [b.split()[0] for b in blocks if PIN.match(b) and "--hash=sha256:" not in b]
    assert unhashed == []


def test_the_installers_are_locked_with_the_build_backend_the_project_declares():
    boot = pins("bootstrap.txt")
    assert set(boot) == {"pip", "setuptools"}
    build_requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    for line in build_requires:  # `pip install --no-build-isolation -e .` builds with the locked backend
        req = Requirement(line)
        assert req.specifier.contains(boot[canonicalize_name(req.name)]), f"bootstrap.txt does not satisfy {req}"
    for other in ("dev.txt", "runtime.txt"):  # installed after it: the same installers, or none
        assert {n: v for n, v in pins(other).items() if n in boot and boot[n] != v} == {}


def pip_installs(path: str) -> list[str]:
    """The `pip install` commands of a Dockerfile, or of the Makefile's install recipe, in order."""
    text = (ROOT / path).read_text().replace("\\\n", " ")
    if path == "Makefile":
        recipe = re.search(r"^\$\(STAMP\):.*?\n\n", text, re.S | re.M)
        assert recipe, "the Makefile has no $(STAMP) recipe"
        text = recipe.group(0).replace("$(LOCK_BOOT)", "requirements/bootstrap.txt")
    return [cmd for cmd in re.split(r"\n|&&", text) if "pip install" in cmd]


@pytest.mark.parametrize(
    "path", ["Makefile", "deploy/images/talentloop.Dockerfile", "deploy/images/postgres.Dockerfile"]
)
def test_every_install_takes_the_installers_from_the_lock_before_anything_else(path: str):
    first, *rest = pip_installs(path)
    assert "--require-hashes" in first and "bootstrap.txt" in first, f"{path} installs before the locked pip: {first}"
    assert rest and all("--require-hashes" in cmd or "--no-deps" in cmd for cmd in rest)
