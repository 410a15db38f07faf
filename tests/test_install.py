"""The install CI tests is the install users get: constraints.txt pins every requirement within its range."""
import os
import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

REPO = Path(__file__).resolve().parent.parent


def requirements(path: Path) -> list[Requirement]:
    """The requirement lines of `path`, following `-r` includes; comments and options dropped."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r"):
            found += requirements(path.parent / line[2:].strip())
        elif line:
            found.append(Requirement(line))
    return found


def pins() -> dict[str, str]:
    lines = (line for line in (REPO / "constraints.txt").read_text().splitlines() if line and not line.startswith("#"))
    return {canonicalize_name(name): version for name, version in (re.fullmatch(r"(\S+)==(\S+)", l).groups()
                                                                    for l in lines)}


def test_every_requirement_is_pinned_within_its_range():
    pinned = pins()
    for requirement in requirements(REPO / "requirements-test.txt"):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} has no pin in constraints.txt"
        assert requirement.specifier.contains(pinned[name], prereleases=True), \
            f"constraints.txt pins {requirement.name}=={pinned[name]}, outside requirements' {requirement.specifier}"


@pytest.mark.skipif(not os.environ.get("TRL_GRPO_CONSTRAINTS"), reason="not installed by make with constraints.txt")
def test_the_tested_environment_has_the_pinned_versions():
    """Under `make test` with the pins (and so in CI) the venv holds exactly the pinned versions we require directly."""
    pinned = pins()
    for requirement in requirements(REPO / "requirements-test.txt"):
        installed = metadata.version(requirement.name).split("+")[0]  # torch's `+cpu` build label
        pin = pinned[canonicalize_name(requirement.name)]
        assert installed == pin, f"{requirement.name} {installed} is installed but constraints.txt pins {pin}: " \
                                 f"rebuild the venv (rm -rf .venv; make test), or record the new set with make constraints"
