"""Helpers of the SDK tests: the canary walk over what the SDK returned, and the path."""


def texts(v, depth=0):
    """Every string reachable from @v: reprs, dataclass fields (raw too), dicts, lists,
    attributes, exception args."""
    yield repr(v)
    yield str(v)
    if depth > 6:
        return
    if isinstance(v, (str, bytes, int, float, type(None))):
        return
    if isinstance(v, dict):
        for k, x in v.items():
            yield from texts(k, depth + 1)
            yield from texts(x, depth + 1)
        return
    if isinstance(v, (list, tuple, set)):
        for x in v:
            yield from texts(x, depth + 1)
        return
    if isinstance(v, BaseException):
        yield from texts(v.args, depth + 1)
    if hasattr(v, "__dict__"):
        yield from texts(vars(v), depth + 1)



def use_inspect(here):
    """Puts the tree's airlock package first on sys.path, and the stand-in inspect_ai
    (tests/standin) only when the real one cannot be imported. True: the real one."""
    import os
    import sys
    sys.path.insert(0, os.path.dirname(here))
    try:
        import inspect_ai  # noqa: F401
        real = True
    except ImportError:
        sys.path.insert(0, os.path.join(here, "standin"))
        real = False
    os.environ["AIRLOCK_SDK_REAL_INSPECT"] = "1" if real else "0"
    return real
