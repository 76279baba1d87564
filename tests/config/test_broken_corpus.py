"""The broken-config corpus: every file under broken/ must fail with its specific message.

Each file starts with one or more ``# expect: <text>`` lines; each text (file:line:column,
severity, key path and message, without the file's path) must appear in the error output.
"""

from __future__ import annotations

import pytest

from nimctl.common.errors import ConfigError
from nimctl.config.loader import load_configs
from tests.support.configs import BROKEN

CORPUS = sorted(BROKEN.glob("*.yaml"))


def expectations(path) -> list[str]:
    prefix = "# expect: "
    return [line[len(prefix) :] for line in path.read_text(encoding="utf-8").splitlines() if line.startswith(prefix)]


def test_the_corpus_is_large_enough_and_every_file_says_what_it_expects():
    assert len(CORPUS) >= 20
    for path in CORPUS:
        assert expectations(path), f"{path.name} has no '# expect:' line"


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_broken_config_fails_with_its_specific_message(path, monkeypatch):
    monkeypatch.delenv("NIMCTL_TEST_VARIABLE_THAT_IS_NOT_SET", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_configs([str(path)])
    text = str(caught.value)
    assert "Traceback" not in text
    for expected in expectations(path):
        assert f"{path}{expected}" in text, f"expected {expected!r} in:\n{text}"
    # every error carries the file it is about and a key path or a line
    for problem in caught.value.problems:
        assert problem.file == str(path)
        assert problem.key_path or problem.line is not None or "empty" in problem.message


def test_all_broken_files_at_once_report_every_file():
    with pytest.raises(ConfigError) as caught:
        load_configs([str(BROKEN)])
    files = {p.file for p in caught.value.problems if p.severity == "error"}
    assert files == {str(p) for p in CORPUS}
