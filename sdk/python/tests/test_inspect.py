"""The Inspect provider on airlockd/test:///default: registration, config, the pool's
lifecycle (task_init, samples, sample_cleanup, task_cleanup), a sample_init that fails
half-way, cli_cleanup, and the exceptions Inspect expects.

Uses the real inspect_ai when it can be imported, else tests/standin (tap.py
decides, and the real-Inspect check below is then a skip).
"""

import asyncio
import configparser
import os
import tempfile
import unittest

import airlock
from airlock import errors
from fakedaemon import daemon

REAL = os.environ.get("AIRLOCK_SDK_REAL_INSPECT") == "1"
HERE = os.path.dirname(os.path.abspath(__file__))


def run(coro):
    return asyncio.run(coro)


def provider():
    from airlock import inspect_provider
    return inspect_provider


def config(**kw):
    from airlock.inspect_config import AirlockSandboxConfig
    kw.setdefault("image", "test-img")
    kw.setdefault("name_prefix", "airlock-test-i-")
    kw.setdefault("socket", daemon().socket)
    return AirlockSandboxConfig(**kw)


def ours():
    return sorted(s.name for s in airlock.Client(daemon().socket).list({"inspect": "1"}))


class TestRegistration(unittest.TestCase):
    def test_entry_point_declared(self):
        """pyproject.toml declares the inspect_ai entry point airlock = airlock.inspect_provider"""
        import tomllib
        with open(os.path.join(HERE, "..", "pyproject.toml"), "rb") as f:
            eps = tomllib.load(f)["project"]["entry-points"]["inspect_ai"]
        self.assertEqual(eps, {"airlock": "airlock.inspect_provider"})

    def test_airlock_inspect_names_the_same_provider(self):
        """airlock_inspect (the name Inspect users look for) is the one provider, not a copy"""
        p = provider()
        import airlock_inspect
        self.assertIs(airlock_inspect.AirlockSandboxEnvironment, p.AirlockSandboxEnvironment)

    def test_registered_as_airlock(self):
        """importing the entry point's module registers the sandbox environment 'airlock'"""
        p = provider()
        if REAL:
            from inspect_ai.util._sandbox.registry import registry_find_sandboxenv
            self.assertIs(registry_find_sandboxenv("airlock"), p.AirlockSandboxEnvironment)
        else:
            from inspect_ai.util import REGISTRY
            self.assertIs(REGISTRY["airlock"], p.AirlockSandboxEnvironment)

    @unittest.skipUnless(REAL, "inspect_ai is not installed here: checked against the stand-in "
                               "in tests/standin only, not against the real Inspect")
    def test_real_inspect(self):
        """the provider is a subclass of the real SandboxEnvironment with nothing abstract left"""
        from inspect_ai.util import SandboxEnvironment
        cls = provider().AirlockSandboxEnvironment
        self.assertTrue(issubclass(cls, SandboxEnvironment))
        self.assertFalse(getattr(cls, "__abstractmethods__", None))

    def test_contract(self):
        """the class methods and defaults Inspect calls"""
        cls = provider().AirlockSandboxEnvironment
        self.assertFalse(getattr(cls, "__abstractmethods__", None))
        self.assertEqual(cls.config_files(), ["airlock.toml"])
        self.assertEqual(cls.default_concurrency(), 4)
        cfg = cls.config_deserialize({"image": "x", "allow": ["h:1"], "env": {"A": "1"}})
        self.assertEqual((cfg.image, cfg.allow, cfg.env), ("x", ("h:1",), (("A", "1"),)))


class TestConfig(unittest.TestCase):
    def test_files(self):
        """a TOML config: paths relative to it; an unknown field is an error; a spec file"""
        from airlock.inspect_config import create_args, resolve_config
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "airlock.toml")
            with open(p, "w") as f:
                f.write('image = "test-img"\nmemory_mib = 512\nsecrets_file = "s.env"\n'
                        'allow = ["pypi.org:443"]\n')
            cfg = resolve_config(p)
            self.assertEqual(cfg.secrets_file, os.path.join(d, "s.env"))
            with open(cfg.secrets_file, "w") as f:
                f.write("# c\nK=v=1\n")
            os.chmod(cfg.secrets_file, 0o644)
            with self.assertRaises(errors.InvalidRequest) as cm:
                create_args(cfg)
            self.assertIn("chmod 600", str(cm.exception))
            os.chmod(cfg.secrets_file, 0o600)
            kw = create_args(cfg)
            self.assertEqual(kw["secrets"], {"K": "v=1"})
            self.assertEqual(kw["allow"], ["pypi.org:443"])
            self.assertNotIn("network", kw)  # an allow list means network allow
            with open(p, "w") as f:
                f.write('imag = "typo"\n')
            with self.assertRaises(errors.InvalidRequest):
                resolve_config(p)
            spec = os.path.join(d, "sandbox.conf")
            with open(spec, "w") as f:
                f.write("[sandbox]\nimage=test-img\n")
            self.assertEqual(create_args(resolve_config(spec))["spec"],
                             "[sandbox]\nimage=test-img\n")
        self.assertEqual(create_args(resolve_config(None))["network"], "none")

    def test_secret_lines_never_echoed(self):
        """a malformed secrets line is named by file and line, without its value"""
        from airlock.inspect_config import read_secrets_file
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("GOOD=1\nthis has canary-abc but no equals\n")
        try:
            os.chmod(f.name, 0o600)
            with self.assertRaises(errors.InvalidRequest) as cm:
                read_secrets_file(f.name)
            self.assertIn(":2:", str(cm.exception))
            self.assertNotIn("canary-abc", str(cm.exception))
        finally:
            os.unlink(f.name)

    def test_paths(self):
        """relative paths resolve from workdir; '..' is resolved before airlockd sees it"""
        env = provider().AirlockSandboxEnvironment(None, "x", config(workdir="/work"))
        self.assertEqual(env._path("a/b.txt"), "/work/a/b.txt")
        self.assertEqual(env._path("../etc/x"), "/etc/x")
        self.assertEqual(env._path("/abs//p/./q"), "/abs/p/q")
        self.assertEqual(env._path("../../../.."), "/")


class TestLifecycle(unittest.TestCase):
    def tearDown(self):
        c = airlock.Client(daemon().socket)
        for name in ours():
            c.destroy(name, evidence=False)

    def test_task_loop(self):
        """task_init, 3 samples, sample_cleanup, task_cleanup: nothing left behind

        (test:///default cannot reset, so each sample_cleanup destroys instead of pooling:
        the fallback path; the pooled path runs on real guests in tests/integration/sdk.sh)"""
        p = provider()
        cls, cfg = p.AirlockSandboxEnvironment, config()

        async def loop():
            await cls.task_init("my task", cfg)
            names = []
            for i in range(3):
                envs = await cls.sample_init("my task", cfg, {})
                env = envs["default"]
                self.assertEqual(list(envs), ["default"])
                names.append(env.name)
                self.assertTrue(env.name.startswith("airlock-test-i-"))
                info = env.client.inspect(env.name)
                self.assertEqual(info.labels, {"inspect": "1", "inspect-task": "my-task"})
                self.assertEqual(info.network_mode, "none")
                with self.assertRaises(p.SandboxUnavailableError):
                    await env.exec(["true"])
                with self.assertRaises(p.SandboxUnavailableError):
                    await env.read_file("x")
                conn = await env.connection()
                self.assertEqual(conn.command, "airlock shell " + env.name)
                await cls.sample_cleanup("my task", cfg, envs, False)
            await cls.task_cleanup("my task", cfg, True)
            return names

        names = run(loop())
        self.assertEqual(len(set(names)), 3)
        self.assertEqual(ours(), [])

    def test_sample_init_fails_half_way(self):
        """a sample_init that fails after its create removes that sandbox itself"""
        p = provider()
        cls, cfg = p.AirlockSandboxEnvironment, config()
        with self.assertRaises(p.SandboxUnavailableError):
            run(cls.sample_init("t", cfg, {"airlock_snapshot": "nope"}))
        self.assertEqual(ours(), [])
        with self.assertRaises(p.SandboxUnavailableError):
            run(cls.sample_init("t", config(image="no-such-image"), {}))
        self.assertEqual(ours(), [])

    def test_interrupted_and_no_cleanup_then_cli_cleanup(self):
        """task_cleanup(cleanup=False) keeps sandboxes; cli_cleanup removes only the provider's"""
        p = provider()
        cls, cfg = p.AirlockSandboxEnvironment, config()
        c = airlock.Client(daemon().socket)
        other = c.create("airlock-test-i-other", image="test-img", network="none",
                         keep_evidence=False)

        async def go():
            a = await cls.sample_init("t2", cfg, {})
            b = await cls.sample_init("t2", cfg, {})
            await cls.sample_cleanup("t2", cfg, a, True)  # interrupted: destroyed
            await cls.task_cleanup("t2", cfg, False)
            return a["default"].name, b["default"].name

        try:
            a, b = run(go())
            self.assertEqual(ours(), [b])
            os.environ["AIRLOCK_SOCKET"] = daemon().socket
            try:
                run(cls.cli_cleanup(None))
            finally:
                del os.environ["AIRLOCK_SOCKET"]
            self.assertEqual(ours(), [])
            self.assertIn("airlock-test-i-other", [s.name for s in c.list()])
        finally:
            other.destroy()


if __name__ == "__main__":
    unittest.main()
