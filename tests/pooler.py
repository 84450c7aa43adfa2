"""PgBouncer in transaction mode in front of the test PostgreSQL (Debian's ``pgbouncer``),
on a free loopback port, configured in a temporary folder."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.pg_cluster import free_port, unavailable

CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
max_client_conn = 200
default_pool_size = 20
server_reset_query =
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""


@contextmanager
def pgbouncer(host: str, port: int, user: str) -> Iterator[int]:
    """A running PgBouncer forwarding every database to ``host:port``; its port."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        unavailable("pgbouncer is not installed (.ci/run installs Debian's package)")
    folder = Path(tempfile.mkdtemp(prefix="clinic-pgbouncer-"))
    listen = free_port()
    (folder / "users.txt").write_text(f'"{user}" ""\n')
    (folder / "pgbouncer.ini").write_text(
        CONFIG.format(host=host, port=port, listen=listen, folder=folder)
    )
    account: dict[str, object] = {}
    if os.geteuid() == 0:  # PgBouncer refuses to run as root
        owner = pwd.getpwnam("postgres")
        for path in (folder, *folder.iterdir()):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        account = {"user": owner.pw_uid, "group": owner.pw_gid, "extra_groups": []}
    process = subprocess.Popen(
        [binary, str(folder / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        **account,  # type: ignore[call-overload]
    )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", listen), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None:
                    break
                time.sleep(0.05)
        else:
            raise AssertionError("pgbouncer did not start")
        log = folder / "pgbouncer.log"
        assert process.poll() is None, log.read_text() if log.exists() else "no log"
        yield listen
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
