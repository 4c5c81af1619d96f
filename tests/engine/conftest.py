"""Engine fixtures: a throwaway PostgreSQL cluster, and `blockprov-engine serve` processes on 127.0.0.1.

The cluster is Debian's postgresql: initdb in a temp dir as the postgres user,
started by pg_ctl on a Unix socket only (no TCP port), stopped at the end.
"""
import glob
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import urllib3

TOKEN = "test-token-0123456789abcdef"
_dbs = itertools.count()


def pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory):
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql)")
    if os.geteuid() != 0:
        pytest.skip("needs root to run initdb as the postgres user")
    base = Path(tempfile_dir(tmp_path_factory))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    shutil.chown(base, "postgres")
    shutil.chown(sock, "postgres")
    run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(run_as + [initdb, "-D", str(data), "-A", "trust", "-U", "engine", "--no-sync", "-E", "UTF8"],
                   check=True, capture_output=True)
    opts = f"-k {sock} -c listen_addresses='' -c fsync=off -c max_connections=200"
    subprocess.run(run_as + [pg_ctl, "-D", str(data), "-o", opts, "-l", str(base / "log"), "-w", "start"],
                   check=True, capture_output=True)
    try:
        yield f"host={sock} user=engine"
    finally:
        subprocess.run(run_as + [pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def tempfile_dir(factory) -> str:
    """A directory the postgres user can reach (pytest's tmp dirs are 0700 under root's)."""
    import tempfile

    d = tempfile.mkdtemp(prefix="bp-pg-", dir="/tmp")
    os.chmod(d, 0o755)
    return d


@pytest.fixture
def pg_db(pg_cluster):
    import psycopg

    name = f"t{os.getpid()}_{next(_dbs)}"
    with psycopg.connect(pg_cluster + " dbname=postgres", autocommit=True) as c:
        c.execute(f"CREATE DATABASE {name}")
    yield f"{pg_cluster} dbname={name}"
    with psycopg.connect(pg_cluster + " dbname=postgres", autocommit=True) as c:
        c.execute(f"DROP DATABASE {name} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Held:
    """A request on its own thread (a held long-poll); ``answer()`` joins it: (response, when it came)."""

    def __init__(self, request):
        self.out: dict = {}
        self.thread = threading.Thread(target=self._run, args=(request,), daemon=True)
        self.thread.start()

    def _run(self, request):
        self.out["r"] = request()
        self.out["at"] = time.monotonic()

    def answer(self, timeout: float = 25):
        self.thread.join(timeout)
        assert "r" in self.out, "the held request never returned"
        return self.out["r"], self.out["at"]


class Server:
    """One `blockprov-engine serve` process and an HTTP client for it."""

    def __init__(self, db: str, *extra: str, token: str = TOKEN, identity: str = "signed", port: int | None = None):
        """``identity``: the engine's --instance-identity. Tests share one source address (127.0.0.1), so by
        default the engine runs in ``signed`` mode and ``req`` signs every ``Blockprov-Instance-Id`` header
        as a metadata proxy would; ``None`` passes no identity option (the engine's default)."""
        import tempfile

        self.secret = b"test-instance-secret-0123456789" if identity == "signed" else None
        if identity is not None:
            extra = ("--instance-identity", identity, *extra)
        if self.secret:
            fd, sfile = tempfile.mkstemp(prefix="engine-secret-")
            os.write(fd, self.secret + b"\n")
            os.close(fd)
            extra = (*extra, "--instance-secret-file", sfile)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "BLOCKPROV_ENGINE_TOKEN": token}
        self.proc = subprocess.Popen([sys.executable, "-m", "blockprov_engine", "serve", "--db", db,
                                      "--listen", f"127.0.0.1:{self.port}", *extra],
                                     env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.http = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=2, read=30))
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.http.request("GET", self.url + "/healthz").status == 200:
                    break
            except urllib3.exceptions.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"engine did not start: {self.proc.stdout.read()}")
            time.sleep(0.05)

    def req(self, method: str, path: str, body=None, token: str | None = TOKEN, headers=None, raw: bytes = None):
        h = dict(headers or {})
        if self.secret and "Blockprov-Instance-Id" in h and "Blockprov-Instance-Id-Signature" not in h:
            h["Blockprov-Instance-Id-Signature"] = self.signature(h["Blockprov-Instance-Id"])
        if token:
            h["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
        if data is not None:
            h.setdefault("Content-Type", "application/json")
        return self.http.request(method, self.url + path, body=data, headers=h)

    def signature(self, iid: str) -> str:
        import hashlib
        import hmac

        return hmac.new(self.secret, iid.encode(), hashlib.sha256).hexdigest()

    def close(self):
        """SIGTERM, as systemd stops it: a clean shutdown exits 0 within the shutdown timeout."""
        self.proc.terminate()
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("blockprov-engine serve ignored SIGTERM") from None
        assert rc == 0, f"blockprov-engine serve exited {rc} on SIGTERM: {self.proc.stdout.read()[-2000:]}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "engine.db")
    return request.getfixturevalue("pg_db")


@pytest.fixture
def server(db_url):
    s = Server(db_url)
    yield s
    s.close()
