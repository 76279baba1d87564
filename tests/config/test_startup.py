"""Start-up cost: importing nimctl.config (the package, ``LoadedConfig``, the bundled groups) is free
of YAML/OmegaConf/jsonschema, and loading a config never imports jsonschema (the schema is
evaluated by nimctl's own evaluator)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.support.configs import REPO, SEED

HEAVY = ("yaml", "omegaconf", "jsonschema", "antlr4", "rich", "httpx", "leptonai", "pydantic")


def _imported_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_importing_nimctl_config_imports_nothing_heavy():
    assert (
        _imported_after(
            "import nimctl.config\nfrom nimctl.config.loaded import LoadedConfig\n"
            "from nimctl.config.bundled import available_groups\navailable_groups()"
        )
        == []
    )


def test_loading_a_config_needs_only_yaml_and_omegaconf():
    # Without any ${...} (the seed) the layers are merged in plain Python: not even OmegaConf.
    loaded = _imported_after(f"from nimctl.config.loader import load_configs\nload_configs([{str(SEED)!r}])")
    assert set(loaded) == {"yaml"}
    with_interpolation = _imported_after(
        f"from nimctl.config.loader import load_configs\nload_configs([{str(SEED)!r}], "
        "['execution.output_dir=${deployment.served_model_name}'])"
    )
    assert set(with_interpolation) == {"yaml", "omegaconf"}
