"""The SDK against a real airlockd on test:///default: every route group, the error
codes as typed exceptions, both transports, and no secret in anything returned.

On test:///default there is no guest: exec and files end in airlockd's agent
error, reset finds no clean state and a snapshot is refused by the test driver;
those paths are what is checked here (tests/integration/sdk.sh does real guests).
"""

import json
import os
import unittest

import airlock
from airlock import errors
from fakedaemon import daemon
from leakcheck import texts

CANARY = "canary-sdk-7c1f0e5a"


def client():
    return airlock.Client(socket_path=daemon().socket)


def no_canary(test, *things):
    for t in things:
        for text in texts(t):
            test.assertNotIn(CANARY, text)


class TestHost(unittest.TestCase):
    def test_whoami(self):
        """whoami over the unix socket: the caller by SO_PEERCRED, an admin here"""
        w = client().whoami()
        self.assertEqual(w.uid, os.getuid())
        self.assertEqual(w.role, "admin")

    def test_images_audit_openapi(self):
        """images, audit/verify and the OpenAPI document"""
        c = client()
        self.assertEqual([i.name for i in c.images()], ["test-img"])
        self.assertTrue(c.audit_verify()["intact"])
        self.assertIn("/v1/sandboxes/{name}/exec", c.openapi()["paths"])

    def test_every_documented_route_has_a_call(self):
        """each path of web/openapi.json is reached by an SDK call (this list is the map)"""
        covered = {"/v1/sandboxes", "/v1/sandboxes/{name}", "/v1/sandboxes/{name}/reset",
                   "/v1/sandboxes/{name}/pause", "/v1/sandboxes/{name}/resume",
                   "/v1/sandboxes/{name}/ttl",
                   "/v1/sandboxes/{name}/snapshots", "/v1/sandboxes/{name}/snapshots/{tag}",
                   "/v1/sandboxes/{name}/stats", "/v1/sandboxes/{name}/exec",
                   "/v1/sandboxes/{name}/files", "/v1/sandboxes/{name}/logs/{kind}",
                   "/v1/events", "/v1/images", "/v1/audit/verify", "/v1/whoami",
                   "/v1/openapi.json"}
        self.assertEqual(set(client().openapi()["paths"]) - {"/"}, covered)

    def test_connect_error(self):
        """a socket nobody listens on: ConnectError (a ConnectionError) naming it"""
        c = airlock.Client(socket_path=os.path.join(daemon().state, "nothing.sock"))
        with self.assertRaises(ConnectionError) as cm:
            c.whoami()
        self.assertIsInstance(cm.exception, errors.ConnectError)
        self.assertIn("nothing.sock", str(cm.exception))

    def test_method_not_allowed(self):
        c = client()
        with self.assertRaises(errors.MethodNotAllowed) as cm:
            c._json("PATCH", "/v1/sandboxes")
        self.assertEqual(cm.exception.status, 405)


class TestSandboxes(unittest.TestCase):
    def test_lifecycle(self):
        """create (with secrets), list, label filter, inspect, stats, logs, destroy"""
        c = client()
        sb = c.create("airlock-test-sdk-a", image="test-img", network="none", memory_mib=256,
                      labels={"suite": "sdk"}, secrets={"API_KEY": CANARY}, env={"MODE": "x"},
                      keep_evidence=False)
        try:
            no_canary(self, sb)
            self.assertEqual(sb.info.state, "running")
            self.assertEqual(sb.info.secrets, ["API_KEY"])
            self.assertIn("total", sb.info.timings_s)
            self.assertIn("airlock-test-sdk-a", [s.name for s in c.list()])
            self.assertEqual([s.name for s in c.list({"suite": "sdk"})], ["airlock-test-sdk-a"])
            self.assertEqual(c.list({"suite": "other"}), [])
            self.assertEqual(c.list("suite"), c.list({"suite": None}))
            info = sb.inspect()
            self.assertEqual(info.labels, {"suite": "sdk"})
            self.assertEqual(info.memory_mib, 256)
            self.assertEqual(sb.stats()["state"], "running")
            self.assertIsInstance(sb.logs("console"), str)
            self.assertIsInstance(sb.logs("dns"), str)
            no_canary(self, sb, info, c.list(), sb.stats(), c.inspect(sb.name).raw)
        finally:
            r = sb.destroy()
        self.assertEqual(r.name, "airlock-test-sdk-a")
        self.assertIsNone(r.archive)
        with self.assertRaises(errors.NotFound):
            c.inspect("airlock-test-sdk-a")

    def test_context_manager_destroys(self):
        """a Sandbox used in a with block is destroyed at its end, even after an exception"""
        c = client()
        with self.assertRaises(RuntimeError):
            with c.create("airlock-test-sdk-cm", image="test-img", network="none",
                          keep_evidence=False):
                raise RuntimeError("boom")
        self.assertNotIn("airlock-test-sdk-cm", [s.name for s in c.list()])

    def test_errors(self):
        """exists, not-found, invalid as their classes, with airlockd's status and message"""
        c = client()
        with c.create("airlock-test-sdk-e", image="test-img", network="none",
                      keep_evidence=False) as sb:
            with self.assertRaises(errors.AlreadyExists) as cm:
                c.create(sb.name, image="test-img", network="none")
            self.assertEqual((cm.exception.status, cm.exception.code), (409, "exists"))
        with self.assertRaises(LookupError) as cm:
            c.inspect("airlock-test-nothing")
        self.assertEqual(str(cm.exception),
                         "sandbox 'airlock-test-nothing' not found (airlock list shows what exists)")
        for bad in ("UPPER", "a/b", "..", "x?y=1"):
            with self.assertRaises((errors.InvalidRequest, errors.NotFound)):
                c.inspect(bad)
        with self.assertRaises(errors.InvalidRequest):
            c.create("airlock-test-sdk-bad", image="test-img", network="bogus")

    def test_secret_never_echoed_by_errors(self):
        """a refused create that carried a secret: the secret is in no exception text"""
        c = client()
        for kw in ({"network": "bogus"}, {"image": "no-such-image"},
                   {"spec": "[secrets]\nfile=/etc/shadow\n"}, {"memory_mib": 1 << 30}):
            with self.assertRaises(errors.AirlockError) as cm:
                c.create("airlock-test-sdk-s", secrets={"K": CANARY}, **kw)
            no_canary(self, cm.exception)
            self.assertNotIn(CANARY, repr(cm.exception.__dict__))

    def test_reset_and_snapshots(self):
        """reset, snapshots list/take/delete reach airlockd (the test driver refuses to save)"""
        c = client()
        with c.create("airlock-test-sdk-r", image="test-img", network="none",
                      keep_evidence=False) as sb:
            self.assertEqual(sb.snapshots(), [])
            with self.assertRaises(errors.NotFound):
                sb.reset()
            with self.assertRaises(errors.LibvirtError) as cm:
                sb.snapshot("s1")
            self.assertEqual(cm.exception.status, 502)
            with self.assertRaises(errors.NotFound):
                sb.delete_snapshot("s1")
            with self.assertRaises(errors.InvalidRequest):
                sb.snapshot("Not A Tag")


    def test_pause_resume_ttl(self):
        """pause saves (state paused, exec refused naming resume), ttl set/extend/none; resume
        reaches the restore, which the test driver refuses: the sandbox stays paused"""
        c = client()
        with c.create("airlock-test-sdk-p", image="test-img", network="none",
                      keep_evidence=False) as sb:
            self.assertEqual(sb.set_ttl("2h"), sb.inspect().ttl_s)
            self.assertGreaterEqual(sb.info.ttl_s, 7200)
            ttl = sb.set_timeout("+30m")
            self.assertEqual(sb.inspect().ttl_s, ttl)
            self.assertEqual(sb.set_ttl(None), 0)
            self.assertGreaterEqual(sb.set_ttl(60), 60)
            with self.assertRaises(errors.InvalidRequest):
                sb.set_ttl("2x")
            p = sb.pause()
            self.assertEqual(p.name, "airlock-test-sdk-p")
            self.assertGreater(p.memory_bytes, 0)
            self.assertEqual(sb.inspect().state, "paused")
            with self.assertRaises(errors.InvalidRequest) as cm:
                sb.pause()
            self.assertEqual(cm.exception.status, 400)
            with self.assertRaises(errors.InvalidRequest) as cm:
                sb.exec(["true"])
            self.assertIn("airlock resume airlock-test-sdk-p", str(cm.exception))
            with self.assertRaises(errors.LibvirtError) as cm:
                sb.resume()
            self.assertIn("still paused", str(cm.exception))
            self.assertEqual(sb.inspect().state, "paused")
        with self.assertRaises(errors.NotFound):
            c.pause("airlock-test-sdk-none")


class TestExecAndFiles(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sb = client().create("airlock-test-sdk-x", image="test-img", network="none",
                                 keep_evidence=False)

    @classmethod
    def tearDownClass(cls):
        cls.sb.destroy()

    def test_exec_agent_error_frame(self):
        """exec: the 200 stream's closing error frame is raised (AgentError)"""
        with self.assertRaises(errors.AgentError) as cm:
            self.sb.exec(["id"], stdin=b"\x00\xff", env={"A": "1"}, cwd="/tmp", timeout=5)
        self.assertIsNone(cm.exception.status)
        stream = self.sb.exec_stream(["id"])
        with self.assertRaises(errors.AgentError):
            list(stream)
        self.assertTrue(stream.closed)

    def test_exec_checks_raise_before_streaming(self):
        """exec's checks are plain errors: unknown sandbox, empty argv, bad env name, bad cwd"""
        c = client()
        with self.assertRaises(errors.NotFound):
            c.exec_stream("airlock-test-nothing", ["id"])
        for kw in ({"argv": []}, {"argv": ["id"], "env": {"1BAD": "x"}},
                   {"argv": ["id"], "cwd": "relative"}):
            with self.assertRaises(errors.InvalidRequest):
                self.sb.exec(**kw)
        with self.assertRaises(errors.InvalidRequest):
            self.sb.exec("id")  # a string, not a list
        with self.assertRaises(errors.InvalidRequest):
            self.sb.exec(["id"], timeout=0)

    def test_exec_stdin_over_the_body_bound(self):
        """stdin past --max-body (64 KiB here): TooLarge (413), before anything runs"""
        with self.assertRaises(errors.TooLarge) as cm:
            self.sb.exec(["cat"], stdin=b"x" * 100000)
        self.assertEqual(cm.exception.status, 413)

    def test_files(self):
        """files: guest path checks, the agent error, a body over --max-file is TooLarge"""
        for path in ("relative", "/tmp/../etc/shadow", "/tmp//x"):
            with self.assertRaises(errors.InvalidRequest):
                self.sb.read_file(path)
        with self.assertRaises(errors.AgentError):
            self.sb.read_file("/etc/hostname")
        with self.assertRaises(errors.AgentError):
            self.sb.write_file("/tmp/x", "text")
        with self.assertRaises(errors.TooLarge):
            self.sb.write_file("/tmp/x", b"\0" * (1024 * 1024 + 1))


class TestEvents(unittest.TestCase):
    def test_events(self):
        """the event stream: recorded audit records as Event objects, filtered by sandbox"""
        c = client()
        with c.create("airlock-test-sdk-ev", image="test-img", network="none",
                      keep_evidence=False):
            pass
        seen = []
        with c.events(sandbox="airlock-test-sdk-ev", idle_timeout=5) as ev:
            for e in ev:
                seen.append((e.kind, e.data.get("event"), e.data.get("sandbox")))
                if e.data.get("event") == "destroy":
                    break
        self.assertIn(("audit", "create", "airlock-test-sdk-ev"), seen)
        self.assertIn(("audit", "destroy", "airlock-test-sdk-ev"), seen)
        self.assertEqual({s for _, _, s in seen}, {"airlock-test-sdk-ev"})
        with self.assertRaises(errors.InvalidRequest):
            c.events(sandbox="Not A Name")


class TestTokens(unittest.TestCase):
    def test_tcp_token(self):
        """TCP with a token acts as its user; the token is not in the Client's repr"""
        d = daemon()
        tok = d.token("nobody")
        c = airlock.Client(url=d.url, token=tok)
        self.assertNotIn(tok, repr(c))
        w = c.whoami()
        self.assertEqual((w.user, w.role), ("nobody", "user"))
        self.assertEqual(c.list(), [])

    def test_unauthorized(self):
        """TCP without a token, or a forged one: Unauthorized (401), never echoing it"""
        d = daemon()
        with self.assertRaises(errors.Unauthorized) as cm:
            airlock.Client(url=d.url, token="").whoami()
        self.assertEqual(cm.exception.status, 401)
        tok = d.token("nobody")
        forged = tok[:-1] + ("1" if tok[-1] == "0" else "0")
        with self.assertRaises(PermissionError) as cm:
            airlock.Client(url=d.url, token=forged).whoami()
        self.assertNotIn(forged[-20:], str(cm.exception))

    def test_forbidden(self):
        """a token of a user in neither group: PermissionDenied (403 forbidden)"""
        d = daemon()
        with self.assertRaises(errors.PermissionDenied) as cm:
            airlock.Client(url=d.url, token=d.token("daemon")).whoami()
        self.assertEqual((cm.exception.status, cm.exception.code), (403, "forbidden"))

    def test_quota(self):
        """a user at its quota (1 sandbox here): QuotaExceeded (403 quota) with the counts"""
        d = daemon()
        c = airlock.Client(url=d.url, token=d.token("nobody"))
        with c.create("airlock-test-sdk-q1", image="test-img", network="none",
                      memory_mib=256, keep_evidence=False):
            with self.assertRaises(errors.QuotaExceeded) as cm:
                c.create("airlock-test-sdk-q2", image="test-img", network="none", memory_mib=256)
            self.assertIn("1 of 1 sandboxes", str(cm.exception))
            # another user's sandbox is a 404 for nobody, with the not-found message
            with client().create("airlock-test-sdk-root", image="test-img", network="none",
                                 keep_evidence=False):
                with self.assertRaises(errors.NotFound):
                    c.inspect("airlock-test-sdk-root")


class TestAsync(unittest.TestCase):
    def test_async_client(self):
        """AsyncClient: the same calls as coroutines"""
        import asyncio

        async def run():
            ac = airlock.AsyncClient(socket_path=daemon().socket)
            w = await ac.whoami()
            imgs = await ac.images()
            with self.assertRaises(errors.NotFound):
                await ac.inspect("airlock-test-nothing")
            return w, imgs

        w, imgs = asyncio.run(run())
        self.assertEqual(w.role, "admin")
        self.assertEqual(imgs[0].name, "test-img")


class TestFrames(unittest.TestCase):
    def test_hostile_frames(self):
        """exec frames that are not airlockd's: ProtocolError, never a crash or a wrong result"""
        from airlock.client import ExecStream
        for line in (b"not json", b"[1]", b'{"stream":"stdout","data":"@@@"}',
                     b'{"stream":"evil","data":""}', b'{"data":"aGk="}'):
            with self.assertRaises(errors.ProtocolError):
                ExecStream._frame(line)
        self.assertEqual(ExecStream._frame(b'{"stream":"stderr","data":"aGk="}').data, b"hi")
        e = errors.error_from_body({"error": {"code": "timeout", "message": "x\x1b[31m\ny"}}, 504)
        self.assertIsInstance(e, TimeoutError)
        self.assertEqual(str(e), "x [31m y")
        self.assertIsInstance(errors.error_from_body({"error": {"code": "new-code",
                                                                "message": "m"}}, 500),
                              errors.AirlockError)
        self.assertIsInstance(errors.error_from_body("junk", 500), errors.ProtocolError)


class TestTrees(unittest.TestCase):
    """read_tree's extraction: the archive comes from the guest, so it is hostile input."""

    def _tar(self, members):
        import io
        import tarfile
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
            for name, kind, extra in members:
                ti = tarfile.TarInfo(name)
                if kind == "sym":
                    ti.type, ti.linkname = tarfile.SYMTYPE, extra
                    t.addfile(ti)
                elif kind == "dir":
                    ti.type = tarfile.DIRTYPE
                    t.addfile(ti)
                elif kind == "dev":
                    ti.type = tarfile.CHRTYPE
                    t.addfile(ti)
                else:
                    ti.size = len(extra)
                    t.addfile(ti, io.BytesIO(extra))
        return buf.getvalue()

    def test_hostile_archives(self):
        import tempfile
        from airlock.client import _untar_safely
        cases = {"dotdot": [("../evil", "file", b"x")],
                 "absolute": [("/tmp/evil", "file", b"x")],
                 "link then file": [("l", "sym", ".."), ("l/evil", "file", b"x")],
                 "device": [("dev", "dev", None)],
                 "twice": [("f", "file", b"1"), ("f", "file", b"2")]}
        for why, members in cases.items():
            with tempfile.TemporaryDirectory() as td:
                with self.assertRaises(errors.ProtocolError, msg=why):
                    _untar_safely(self._tar(members), os.path.join(td, "out"))
                self.assertFalse(os.path.exists(os.path.join(td, "evil")), why)

    def test_tree_roundtrip_shape(self):
        import tempfile
        from airlock.client import _untar_safely
        data = self._tar([("a", "dir", None), ("a/b", "file", b"hi"), ("a/l", "sym", "b")])
        with tempfile.TemporaryDirectory() as td:
            names = _untar_safely(data, os.path.join(td, "out"))
            self.assertEqual(open(os.path.join(td, "out", "a", "b"), "rb").read(), b"hi")
            self.assertEqual(os.readlink(os.path.join(td, "out", "a", "l")), "b")
            self.assertIn("a/b", names)


if __name__ == "__main__":
    unittest.main()
