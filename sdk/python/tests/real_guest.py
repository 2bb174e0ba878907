"""The SDK and the Inspect provider on ONE real sandbox (run by tests/integration/sdk.sh).

    real_guest.py SOCKET NAME     # prints TAP; destroys NAME at the end

Checks exec (stdout, stderr, exit code, stdin, env, cwd, timeout, streaming, the
output bound), files (binary safe, a few MB, parents created, the errors), reset,
the Inspect provider's sample loop on the same sandbox (adopted: reset between
samples, never destroyed by the provider), destroy, and that the canary secret
given at create is in no return value or exception text of the SDK.
"""

import asyncio
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from leakcheck import use_inspect  # noqa: E402

REAL_INSPECT = use_inspect(HERE)

import airlock  # noqa: E402
from airlock import errors  # noqa: E402
from leakcheck import texts  # noqa: E402

SOCKET, NAME = sys.argv[1], sys.argv[2]
CANARY = "canary-" + os.urandom(8).hex()
seen = []  # every value and exception the SDK gave back
n = 0
failed = 0


def ok(cond, desc):
    global n, failed
    n += 1
    if not cond:
        failed += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n, desc), flush=True)
    return cond


def raises(exc, fn, *a, **kw):
    try:
        seen.append(fn(*a, **kw))
    except exc as e:
        seen.append(e)
        return e
    except Exception as e:  # noqa: BLE001
        seen.append(e)
        print("# unexpected %r" % (e,))
        return None
    return None


def keep(v):
    seen.append(v)
    return v


c = airlock.Client(socket_path=SOCKET)
t0 = time.monotonic()
sb = keep(c.create(NAME, memory_mib=512, network="none", secrets={"CANARY": CANARY},
                   labels={"test": "sdk"}, keep_evidence=False))
ok(sb.info.state == "running", "SDK create: a real sandbox (%.1f s)" % (time.monotonic() - t0))
ok(sb.info.exec_channel == "airlock-guest", "... exec goes through airlock-guest (%s)" %
   sb.info.exec_channel)
try:
    # ---- exec -----------------------------------------------------------------------------
    r = keep(sb.exec(["sh", "-c", "echo hello; echo oops >&2; exit 3"]))
    ok((r.stdout, r.stderr, r.exit_code) == (b"hello\n", b"oops\n", 3),
       "exec: stdout, stderr and exit code (%r)" % (r,))
    payload = bytes(range(256)) * 64
    r = keep(sb.exec(["sh", "-c", "cat; echo done >&2"], stdin=payload))
    ok(r.stdout == payload and r.stderr == b"done\n", "exec: binary stdin comes back whole")
    r = keep(sb.exec(["cat"], stdin="text stdin ☃"))
    ok(r.stdout == "text stdin ☃".encode(), "exec: text stdin as UTF-8")
    r = keep(sb.exec(["sh", "-c", 'pwd; echo "$A"'], cwd="/tmp", env={"A": "from-env"}))
    ok(r.stdout == b"/tmp\nfrom-env\n", "exec: cwd and env")
    r = keep(sb.exec(["sh", "-c", 'test "$CANARY" = "$1"', "sh", CANARY]))
    ok(r.exit_code == 0, "exec: the secret reached the guest's environment (compared there)")
    r = keep(sb.exec(["sh", "-c", 'test -z "$CANARY"'], sandbox_env=False))
    ok(r.exit_code == 0, "exec: sandbox_env=False starts without the sandbox's secrets")
    t = time.monotonic()
    e = raises(errors.Timeout, sb.exec, ["sh", "-c", "echo before; sleep 60"], timeout=2)
    took = time.monotonic() - t
    ok(isinstance(e, TimeoutError) and took < 15, "exec: timeout raises Timeout after %.1f s" % took)
    ok(e is not None and e.stdout == b"before\n", "... with the output written before the kill")
    r = keep(sb.exec(["sh", "-c", "pgrep -x sleep || echo none"]))
    ok(r.stdout == b"none\n", "... and the process group is gone in the guest")
    r = keep(sb.exec(["sh", "-c", "kill -TERM $$"]))
    ok(r.exit_code == 143, "exec: a command that SIGTERMs itself is exit 143, not a timeout")
    r = keep(sb.exec(["no-such-program"]))
    ok(r.exit_code == 127, "exec: a missing program is exit 127 (%d)" % r.exit_code)
    e = raises(airlock.OutputLimitExceeded, sb.exec, ["head", "-c", "3000000", "/dev/zero"],
               max_output=1 << 20)
    ok(e is not None and len(e.stdout) == 1 << 20, "exec: output past max_output is refused, "
       "the first max_output bytes kept")
    arrivals = []
    t = time.monotonic()
    with sb.exec_stream(["sh", "-c", "for i in 1 2 3; do echo $i; sleep 1; done"]) as st:
        for chunk in st:
            arrivals.append((round(time.monotonic() - t, 1), chunk.stream, chunk.data,
                             chunk.exit_code))
    seen.append(arrivals)
    ok([a[2] for a in arrivals if a[1] == "stdout"] == [b"1\n", b"2\n", b"3\n"] and
       arrivals[-1][3] == 0, "exec_stream: chunks then the exit")
    ok(arrivals[0][0] < arrivals[-1][0] - 1.5, "... streamed as written (%s)" %
       [a[0] for a in arrivals])
    rtt = []
    for _ in range(20):
        t = time.monotonic()
        sb.exec(["true"])
        rtt.append((time.monotonic() - t) * 1000)
    ok(True, "exec round trip through the SDK: median %.0f ms, min %.0f, max %.0f (20 x true)" %
       (statistics.median(rtt), min(rtt), max(rtt)))

    # ---- files ----------------------------------------------------------------------------
    big = os.urandom(3 * 1024 * 1024 + 17)
    t = time.monotonic()
    ok(sb.write_file("/root/data/new/dir/big.bin", big) == len(big),
       "files: 3 MiB of random bytes written, parents created")
    back = sb.read_file("/root/data/new/dir/big.bin")
    ok(back == big, "files: ... and read back identical (%.1f s both ways)" %
       (time.monotonic() - t))
    r = keep(sb.exec(["sha256sum", "/root/data/new/dir/big.bin"]))
    import hashlib
    ok(r.stdout.split()[0].decode() == hashlib.sha256(big).hexdigest(), "files: the guest "
       "sees the same bytes")
    sb.write_file("/tmp/t.txt", "line1\r\nline2 ☃\n", mode=0o600)
    ok(sb.read_text("/tmp/t.txt") == "line1\r\nline2 ☃\n", "files: text with CRLF kept")
    r = keep(sb.exec(["stat", "-c", "%a", "/tmp/t.txt"]))
    ok(r.stdout == b"600\n", "files: mode given at write")
    e = raises(errors.NotFound, sb.read_file, "/no/such/file")
    ok(e is not None, "files: a missing file is NotFound (%s)" % e)
    e = raises(errors.AirlockError, sb.read_file, "/tmp")
    ok(e is not None and "directory" in str(e), "files: reading a directory fails: %s" % e)
    e = raises(errors.TooLarge, sb.read_file, "/root/data/new/dir/big.bin", 1024)
    ok(e is not None, "files: max_bytes bounds a read")
    import tempfile
    with tempfile.TemporaryDirectory() as td:
        src = os.path.join(td, "src")
        os.makedirs(os.path.join(src, "a", "b"))
        with open(os.path.join(src, "a", "b", "f"), "wb") as f:
            f.write(b"tree")
        os.chmod(os.path.join(src, "a", "b", "f"), 0o640)
        os.symlink("b/f", os.path.join(src, "a", "l"))
        sb.write_tree("/tmp/sdk-tree", src)
        r = keep(sb.exec(["sh", "-c", "cat /tmp/sdk-tree/a/l; stat -c %a /tmp/sdk-tree/a/b/f"]))
        ok(r.stdout == b"tree640\n", "files: a directory tree in (write_tree: link and mode)")
        names = sb.read_tree("/tmp/sdk-tree", os.path.join(td, "back"))
        back_f = open(os.path.join(td, "back", "a", "b", "f"), "rb").read()
        ok(back_f == b"tree" and os.readlink(os.path.join(td, "back", "a", "l")) == "b/f" and
           "a/b/f" in names, "files: ... and out again (read_tree)")

    # ---- reset ----------------------------------------------------------------------------
    sb.write_file("/root/dirty", b"x")
    t = time.monotonic()
    rr = keep(sb.reset())
    took = time.monotonic() - t
    r = keep(sb.exec(["test", "-e", "/root/dirty"]))
    ok(rr.to == "clean" and r.exit_code == 1, "reset: the dirty file is gone (%.1f s)" % took)
    ok(keep(sb.exec(["true"])).exit_code == 0, "reset: exec works at once after it")
    keep(sb.inspect())
    keep(c.list())
    keep(sb.stats())
    keep(sb.logs("console"))
    keep(c.snapshots(NAME))

    # ---- the Inspect provider, on the same sandbox ----------------------------------------
    from airlock import inspect_provider as ip
    from airlock.inspect_config import AirlockSandboxConfig
    cls = ip.AirlockSandboxEnvironment
    cfg = AirlockSandboxConfig(sandboxes=(NAME,), socket=SOCKET, workdir="/root")
    if not REAL_INSPECT:
        print("# inspect_ai is not importable: the provider runs on tests/standin")

    async def task():
        resets = []
        await cls.task_init("sdk-real", cfg)
        for i in range(10):
            envs = await cls.sample_init("sdk-real", cfg, {})
            env = envs["default"]
            r = await env.exec(["sh", "-c", "ls /root/dirty-* 2>/dev/null | wc -l"])
            if r.stdout.strip() != "0":
                return "sample %d saw a previous sample's change" % i
            await env.write_file("dirty-%d" % i, "sample %d\n" % i)
            if await env.read_file("dirty-%d" % i) != "sample %d\n" % i:
                return "sample %d: read_file did not return what write_file wrote" % i
            r = await env.exec(["cat", "/root/dirty-%d" % i])
            if not r.success or r.stdout != "sample %d\n" % i:
                return "sample %d: exec did not see the file" % i
            t = time.monotonic()
            await cls.sample_cleanup("sdk-real", cfg, envs, False)
            resets.append(time.monotonic() - t)
        await cls.task_cleanup("sdk-real", cfg, True)
        return resets

    res = asyncio.run(task())
    ok(isinstance(res, list), "inspect: 10 samples, each with exec/write_file/read_file and a "
       "change the next one does not see (%s)" % (res if isinstance(res, str) else "ok"))
    if isinstance(res, list):
        ok(True, "inspect: sample_cleanup (reset) median %.1f s, max %.1f s" %
           (statistics.median(res), max(res)))
    ok(c.inspect(NAME).state == "running", "inspect: an adopted sandbox survives task_cleanup")

    async def semantics():
        out = {}
        envs = await cls.sample_init("sdk-sem", cfg, {})
        env = envs["default"]
        try:
            r = await env.exec(["sh", "-c", "echo out; echo err >&2; exit 4"])
            out["result"] = (r.success, r.returncode, r.stdout, r.stderr)
            r = await env.exec(["cat"], input=b"\x00bin")
            out["input"] = r.stdout
            big_in = "y" * (700 * 1024)
            r = await env.exec(["wc", "-c"], input=big_in)
            out["big_input"] = r.stdout.strip()
            r = await env.exec(["id", "-un"], user="nobody")
            out["user"] = r.stdout.strip()
            r = await env.exec(["pwd"], cwd="sub/..")
            out["cwd"] = r.stdout.strip()
            for key, coro in (("timeout", env.exec(["sleep", "30"], timeout=2)),
                              ("notfound", env.read_file("/no/such")),
                              ("isdir_read", env.read_file("/tmp")),
                              ("isdir_write", env.write_file("/tmp", "x")),
                              ("perm", env.exec(["/etc/hostname"])),
                              ("outlimit", env.exec(["head", "-c", "11000000", "/dev/zero"]))):
                try:
                    await coro
                    out[key] = None
                except Exception as e:  # noqa: BLE001
                    seen.append(e)
                    out[key] = type(e).__name__
            r = await env.exec(["sh", "-c", "kill -TERM $$"])
            out["sigterm"] = r.returncode
            await env.write_file("/tmp/bin", b"\xff\xfe\x00")
            try:
                await env.read_file("/tmp/bin", text=True)
                out["unicode"] = None
            except UnicodeDecodeError:
                out["unicode"] = "UnicodeDecodeError"
            out["binary"] = await env.read_file("/tmp/bin", text=False)
            out["conn"] = (await env.connection()).command
        finally:
            await cls.sample_cleanup("sdk-sem", cfg, envs, False)
            await cls.task_cleanup("sdk-sem", cfg, True)
        return out

    s = asyncio.run(semantics())
    seen.append(s)
    print("# %r" % ({k: v for k, v in s.items() if k not in ("input", "binary")},))
    ok(s["result"] == (False, 4, "out\n", "err\n"), "inspect exec: success, returncode, stdout, "
       "stderr")
    ok(s["input"] == "\x00bin", "inspect exec: bytes input")
    ok(s["big_input"] == str(700 * 1024), "inspect exec: 700 KiB of input (staged through a file)")
    ok(s["user"] == "nobody", "inspect exec: user")
    ok(s["cwd"] == "/root", "inspect exec: a relative cwd from the working directory")
    ok(s["timeout"] == "TimeoutError", "inspect exec: timeout raises TimeoutError")
    ok(s["sigterm"] == 143, "inspect exec: exit 143 from a self-SIGTERM is a result")
    ok(s["perm"] == "PermissionError", "inspect exec: a file that is not executable: "
       "PermissionError")
    ok(s["outlimit"] == "OutputLimitExceededError", "inspect exec: 10 MiB output bound")
    ok(s["notfound"] == "FileNotFoundError", "inspect read_file: FileNotFoundError")
    ok(s["isdir_read"] == "IsADirectoryError", "inspect read_file: IsADirectoryError")
    ok(s["isdir_write"] == "IsADirectoryError", "inspect write_file: IsADirectoryError")
    ok(s["unicode"] == "UnicodeDecodeError" and s["binary"] == b"\xff\xfe\x00",
       "inspect read_file: binary data as text is UnicodeDecodeError, as bytes it is whole")
    ok(s["conn"] == "airlock shell " + NAME, "inspect connection: the airlock shell command")
finally:
    t = time.monotonic()
    d = keep(sb.destroy(evidence=False))
    ok(d.name == NAME, "destroy (%.1f s)" % (time.monotonic() - t))
e = raises(errors.NotFound, c.inspect, NAME)
ok(e is not None, "the sandbox is gone")
leaks = [type(v).__name__ for v in seen if any(CANARY in t for t in texts(v))]
ok(not leaks, "the canary secret is in none of %d SDK return values and exceptions" % len(seen))
print("1..%d" % n)
sys.exit(1 if failed else 0)
