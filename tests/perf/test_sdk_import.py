"""The SDK's API modules load without its photon client (fastapi, httpx); the package still
answers everything it exports, completing itself on first use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_provider_and_models_load_without_fastapi_or_httpx() -> None:
    result = run(
        "import sys, json\n"
        "from nimctl.providers.lepton.provider import LeptonProvider\n"
        "assert 'leptonai' not in sys.modules  # importing the provider imports nothing of the SDK\n"
        "LeptonProvider(workspace_id='ws1', token='t', url='http://127.0.0.1:9/api/v2/workspaces/ws1').client\n"
        "from leptonai.api.v2.types.deployment import LeptonDeploymentUserSpec\n"
        "import leptonai.api.v2.job_validation, leptonai.api.v2.spec_utils\n"
        "print(json.dumps(sorted(m for m in ('fastapi', 'httpx', 'uvicorn') if m in sys.modules)))"
    )
    assert result == []


def test_the_package_completes_itself_on_first_use() -> None:
    result = run(
        "import sys, json\n"
        "from nimctl.providers.sdk import prepare\n"
        "prepare()\n"
        "from leptonai.api.v2.client import APIClient\n"
        "import leptonai\n"
        "from leptonai import Client\n"
        "print(json.dumps({'version': leptonai.__version__, 'client': Client.__name__,"
        " 'same': leptonai.Client is Client, 'httpx': 'httpx' in sys.modules}))"
    )
    assert result["client"] == "Client" and result["same"] and result["version"].startswith("0.")
    assert result["httpx"]  # the photon client was loaded, on demand


def test_prepare_changes_nothing_once_the_sdk_is_imported() -> None:
    result = run(
        "import sys, json\n"
        "import leptonai\n"
        "real = sys.modules['leptonai']\n"
        "from nimctl.providers.sdk import prepare\n"
        "prepare()\n"
        "print(json.dumps(sys.modules['leptonai'] is real))"
    )
    assert result is True
