"""The image build and Docker install scripts parse, and refuse what they cannot do."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize("script", ["images/build.sh", "scripts/install-docker.sh"])
def test_scripts_parse(script: str) -> None:
    subprocess.run(["bash", "-n", str(ROOT / script)], check=True)


@pytest.mark.parametrize(("args", "message"), [
    (["--offline"], "--offline needs --wheelhouse DIR"),
    (["--push"], "unknown option --push"),
])
def test_build_refuses_before_touching_docker(args: list[str], message: str) -> None:
    done = subprocess.run([str(ROOT / "images" / "build.sh"), *args], capture_output=True,
                          text=True, env={"PATH": "/usr/bin:/bin", "DOCKER": "/bin/false"})
    assert done.returncode == 2
    assert message in done.stderr


def test_the_image_never_defaults_to_root_and_keeps_build_settings_out_of_containers() -> None:
    dockerfile = (ROOT / "images" / "singleuser" / "Dockerfile").read_text().splitlines()
    assert "USER 65534:65534" in dockerfile
    assert [line for line in dockerfile if line.startswith("ENV ")] == ["ENV LANG=C.UTF-8"]
