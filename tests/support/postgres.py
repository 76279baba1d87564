"""A throwaway PostgreSQL server on 127.0.0.1 for the tests and bench/ (no mock of the database).

``PostgresServer.start()`` initialises a cluster in a temporary directory (``initdb``), once per
process: later servers copy that initialised template (about 1 s instead of 3 s), then start
``postgres`` on a free loopback port with password authentication over TCP. PostgreSQL refuses to
run as root, so as root the directory is given to an unprivileged system user (``postgres``,
which the Debian package creates, else ``nobody``) and the server runs as that user.

``find_binaries()`` is None where the server is not installed: the tests are then skipped, except
under CI (``CI=true``), where a missing server fails (``.ci/run`` installs it).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

USER, PASSWORD, DATABASE = "nimctl", "pw-7c1f9e", "nimctl"
_TEMPLATE: Path | None = None


def find_binaries() -> Path | None:
    """The directory holding initdb and postgres (Debian puts them under /usr/lib/postgresql/N/bin)."""
    found = shutil.which("initdb")
    candidates = [str(Path(found).resolve().parent)] if found else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for directory in candidates:
        if Path(directory, "initdb").exists() and Path(directory, "postgres").exists():
            return Path(directory)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runner() -> tuple[int, int] | None:
    """(uid, gid) to run the server as, when this process is root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


def _chown_tree(root: Path, owner: tuple[int, int] | None) -> None:
    if owner is None:
        return
    for directory, _dirs, files in os.walk(root):
        os.chown(directory, *owner)
        for name in files:
            os.chown(os.path.join(directory, name), *owner)


class PostgresServer:
    def __init__(self) -> None:
        binaries = find_binaries()
        if binaries is None:
            raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
        self.bin = binaries
        self.owner = _runner()
        self.root = Path(tempfile.mkdtemp(prefix="nimctl-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    # -- running as the server's user -----------------------------------------------------------
    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess:
        kwargs: dict = {}
        if self.owner is not None:
            kwargs = {"user": self.owner[0], "group": self.owner[1], "extra_groups": []}
        return subprocess.run(
            list(argv), capture_output=True, text=True, check=check, stdin=subprocess.DEVNULL, cwd=self.root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "HOME": str(self.root)},
            timeout=120, **kwargs,
        )  # fmt: skip

    def _init_template(self) -> Path:
        global _TEMPLATE
        if _TEMPLATE is not None and _TEMPLATE.exists():
            return _TEMPLATE
        template = Path(tempfile.mkdtemp(prefix="nimctl-pg-template-"))
        _chown_tree(template, self.owner)
        pwfile = template / "pw"
        pwfile.write_text(PASSWORD + "\n")
        _chown_tree(template, self.owner)
        self._run(
            str(self.bin / "initdb"), "-D", str(template / "data"), "-U", USER, "--pwfile", str(pwfile),
            "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        _TEMPLATE = template
        return template

    def start(self) -> PostgresServer:
        template = self._init_template()
        shutil.copytree(template / "data", self.data, symlinks=True)
        os.chmod(self.data, 0o700)
        _chown_tree(self.root, self.owner)
        argv = [
            str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.root),
            "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=60", "-c", "shared_buffers=32MB",
        ]  # fmt: skip
        kwargs: dict = {}
        if self.owner is not None:
            kwargs = {"user": self.owner[0], "group": self.owner[1], "extra_groups": []}
        log = open(self.root / "server.log", "wb")  # noqa: SIM115 (closed by stop)
        self._log = log
        self.proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.root,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}, **kwargs,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postgres exited: {(self.root / 'server.log').read_text()[-2000:]}")
            ready = self._run(str(self.bin / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), check=False)
            if ready.returncode == 0:
                self._run(str(self.bin / "psql"), "-h", str(self.root), "-p", str(self.port), "-U", USER,
                          "-d", "postgres", "-qc", f"CREATE DATABASE {DATABASE}")  # fmt: skip
                return self
            time.sleep(0.1)
        raise RuntimeError("postgres did not accept connections within 60 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # "fast" shutdown (SIGTERM, "smart", waits for clients)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- what tests use ------------------------------------------------------------------------
    def url(self, *, schema: str | None = None, state: str | None = None, password: bool = True) -> str:
        """A state URL; each call without ``schema`` names a fresh schema (an empty state)."""
        schema = schema or f"t{uuid.uuid4().hex[:12]}"
        auth = f"{USER}:{PASSWORD}" if password else USER
        query = f"?schema={schema}" + (f"&state={state}" if state else "")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{DATABASE}{query}"

    def sql(self, statement: str) -> list[tuple]:
        import psycopg

        conninfo = f"host=127.0.0.1 port={self.port} user={USER} password={PASSWORD} dbname={DATABASE}"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            cursor = conn.execute(statement)
            return cursor.fetchall() if cursor.description else []


def remove_template() -> None:
    global _TEMPLATE
    if _TEMPLATE is not None:
        shutil.rmtree(_TEMPLATE, ignore_errors=True)
        _TEMPLATE = None
