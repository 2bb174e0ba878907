"""Starts airlockd on test:///default for the SDK's unit tests.

One daemon per test run: a private state directory with a tiny fake image (its
files match its manifest, as tests/integration/daemon.sh makes it), a unix
socket, a loopback TCP port for tokens, small bounds so that TooLarge is cheap
to reach, and a quota of one sandbox for users of group nogroup (nobody).
"""

import grp
import hashlib
import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _sha(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


class FakeDaemon:
    def __init__(self) -> None:
        self.airlock = os.environ.get("AIRLOCK") or os.path.join(TOP, "airlock")
        self.airlockd = os.environ.get("AIRLOCKD") or os.path.join(
            os.path.dirname(self.airlock), "airlockd")
        self.state = tempfile.mkdtemp(prefix="airlock-test-sdk-")
        os.chmod(self.state, 0o755)
        self.socket = os.path.join(self.state, "airlockd.sock")
        self.port = _free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.proc = None
        self.log = os.path.join(self.state, "airlockd.log")

    def env(self):
        e = dict(os.environ)
        e.update(LIBVIRT_DEFAULT_URI="test:///default", AIRLOCK_STATE_DIR=self.state,
                 AIRLOCK_ACCEL="tcg")
        return e

    def start(self) -> None:
        img = os.path.join(self.state, "images", "test-img")
        os.makedirs(img)
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2",
                        os.path.join(img, "disk.qcow2"), "64M"], check=True)
        for f, text in (("vmlinuz", "kernel\n"), ("initrd.img", "initrd\n")):
            with open(os.path.join(img, f), "w") as fh:
                fh.write(text)
        manifest = {"name": "test-img", "created": "2026-11-26T00:00:00Z", "recipe_sha256": "x",
                    "kernel_cmdline": "console=ttyS0", "packages": [],
                    "files": {f: {"sha256": _sha(os.path.join(img, f))}
                              for f in ("disk.qcow2", "vmlinuz", "initrd.img")}}
        with open(os.path.join(img, "manifest.json"), "w") as fh:
            json.dump(manifest, fh)
        # nobody (group nogroup) is a quota'd user; the caller's own group is admin.
        nogroup = grp.getgrgid(pwd.getpwnam("nobody").pw_gid).gr_name
        with open(os.path.join(self.state, "airlockd.conf"), "w") as fh:
            fh.write("[quota]\nsandboxes=1\nmemory=1024\ncpus=2\n[access]\nuser-group=%s\n"
                     "admin-group=%s\n" % (nogroup, grp.getgrgid(os.getgid()).gr_name))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [self.airlockd, "--socket", self.socket, "--listen", "127.0.0.1:%d" % self.port,
                 "--web", os.path.join(TOP, "web"), "--max-body", "64", "--max-file", "1"],
                env=self.env(), stdout=log, stderr=log)
        for _ in range(100):
            if os.path.exists(self.socket):
                try:
                    s = socket.socket(socket.AF_UNIX)
                    s.connect(self.socket)
                    s.close()
                    return
                except OSError:
                    pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("airlockd did not start (log: %s)" % self.log)

    def token(self, user: str, ttl: str = "1h") -> str:
        out = subprocess.run([self.airlock, "token", "create", "--user", user, "--ttl", ttl],
                             env=self.env(), check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([self.airlock, *args], env=self.env(), capture_output=True,
                              text=True)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # What the tests made is gone with the daemon's state (test:///default lives in it).
        shutil.rmtree(self.state, ignore_errors=True)


_daemon = None


def daemon() -> FakeDaemon:
    """The run's daemon, started on first use (tap.py stops it at the end)."""
    global _daemon
    if _daemon is None:
        d = FakeDaemon()
        d.start()
        _daemon = d
    return _daemon


def stop() -> None:
    global _daemon
    if _daemon is not None:
        _daemon.stop()
        _daemon = None
