"""An Inspect run killed midway, then `inspect sandbox cleanup airlock` (cli_cleanup).

    killed_run.py SOCKET run       # task_init + sample_init (a real sandbox), prints its
                                   # name, then waits to be killed
    killed_run.py SOCKET cleanup   # cli_cleanup(None); prints how many inspect sandboxes
                                   # are left (0 expected)
"""
import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from leakcheck import use_inspect  # noqa: E402

use_inspect(HERE)
import airlock  # noqa: E402
from airlock import inspect_provider as ip  # noqa: E402
from airlock.inspect_config import AirlockSandboxConfig  # noqa: E402

SOCKET, MODE = sys.argv[1], sys.argv[2]
os.environ["AIRLOCK_SOCKET"] = SOCKET  # cli_cleanup takes no config: the environment's daemon
cls = ip.AirlockSandboxEnvironment
cfg = AirlockSandboxConfig(socket=SOCKET, memory_mib=512, name_prefix="airlock-test-insp-")


async def run():
    await cls.task_init("killed", cfg)
    envs = await cls.sample_init("killed", cfg, {})
    print(envs["default"].name, flush=True)
    time.sleep(3600)  # killed here: neither sample_cleanup nor task_cleanup runs


async def cleanup():
    await cls.cli_cleanup(None)
    left = airlock.Client(socket_path=SOCKET).list({"inspect": "1"})
    print(len(left), flush=True)


asyncio.run(run() if MODE == "run" else cleanup())
