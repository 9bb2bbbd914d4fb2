"""``beacon proxy`` from a shell, in front of a served embedded service: the README's steps."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from beacon.cli import main
from beacon.server import EmbeddedService

SECRET = "cli-proxy-admin-secret"
KB = bytes(range(32)).hex()


def test_beacon_proxy_relays_a_sync_and_injects_faults_from_a_shell(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with EmbeddedService() as svc, svc.serve() as upstream:
        env = {**os.environ, "BEACON_ADMIN_SECRET": SECRET}
        argv = [sys.executable, "-m", "beacon", "proxy", "--token-server", upstream]
        process = subprocess.Popen(
            [*argv, "--port", "0", "--second-node", upstream + "/node/2"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert process.stderr is not None
        try:
            banner = "".join(process.stderr.readline().decode() for _ in range(5))
            match = re.search(r"fault proxy at (http://127\.0\.0\.1:\d+)", banner)
            assert match, banner
            proxy = match.group(1)
            deadline = time.monotonic() + 20
            while True:
                try:
                    created = httpx.post(proxy + "/accounts")
                    break
                except httpx.TransportError:
                    assert process.poll() is None, "beacon proxy exited"
                    assert time.monotonic() < deadline, "beacon proxy did not come up"
                    time.sleep(0.05)
            account = created.json()
            assert account["token_server_url"] == proxy + "/1.0/sync/1.5"
            sync = [
                "sync",
                "--token-server",
                account["token_server_url"],
                "--access-token",
                account["access_token"],
                "--kb",
                KB,
                "--keys-changed-at",
                str(account["keys_changed_at"]),
                "--state",
                str(tmp_path / "device"),
                "--json",
            ]
            assert main(sync) == 0
            assert json.loads(capsys.readouterr().out)["outcome"] == "ok"
            admin = {"Authorization": f"Bearer {SECRET}"}
            fault = httpx.post(
                proxy + "/__admin__/faults/fail_next",
                json={"count": 5, "retry_after": 120},
                headers=admin,
            )
            assert fault.json() == {"result": None}
            assert main(sync) == 4  # the client backs off (exit 4), as from the real server
            capsys.readouterr()
            log = httpx.get(proxy + "/__admin__/requests", headers=admin).json()
            assert any(e["path"].startswith("/n/1/") and e["status"] == 200 for e in log)
            assert log[-1]["status"] == 503
            assert log[-1]["injected"] is True
        finally:
            process.terminate()
            _, rest = process.communicate(timeout=20)
    assert SECRET not in banner + rest.decode()
