"""The lock files (requirements/*.txt, written by `make lock`) still answer pyproject.toml.

A dependency added, removed or narrowed in pyproject.toml without `make lock` would install
something else than the project declares (or fail to install) in `make install`, CI and the
images: this test fails first, naming the requirement.
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


@pytest.mark.parametrize("lock", ["dev.txt", "runtime.txt"])
def test_every_pin_carries_its_hashes(lock: str):
    # pip's --require-hashes refuses a file with one unhashed pin; say which one here.
    blocks = re.split(r"\n(?=[A-Za-z0-9_.\-]+==)", (ROOT / "requirements" / lock).read_text())
    unhashed = [b.split()[0] for b in blocks if PIN.match(b) and "--hash=sha256:" not in b]
    assert unhashed == []
