"""Runs the SDK's unittest tests and prints TAP (for make check's tap-driver).

    /usr/bin/python3 sdk/python/tests/tap.py [PATTERN]

The Inspect provider's tests use the real inspect_ai when it can be imported,
otherwise the stand-in under tests/standin (and say so with a skip line).
"""

import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from leakcheck import use_inspect  # noqa: E402

REAL_INSPECT = use_inspect(HERE)

import fakedaemon  # noqa: E402


class TapResult(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.n = 0

    def _line(self, test, status, extra=""):
        self.n += 1
        name = "%s.%s" % (type(test).__name__, getattr(test, "_testMethodName", str(test)))
        doc = test.shortDescription() if hasattr(test, "shortDescription") else None
        print("%s %d - %s%s%s" % (status, self.n, name, ": " + doc if doc else "", extra),
              flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self._line(test, "ok")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._line(test, "ok", " # SKIP " + reason)

    def _fail(self, test, err, kind):
        self._line(test, "not ok")
        for l in self._exc_info_to_string(err, test).splitlines():
            print("# " + l)

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._fail(test, err, "failure")

    def addError(self, test, err):
        super().addError(test, err)
        self._fail(test, err, "error")

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self._line(test, "ok", " # TODO expected failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._line(test, "not ok", " # unexpected success")


def main():
    pattern = sys.argv[1] if len(sys.argv) > 1 else "test_*.py"
    suite = unittest.defaultTestLoader.discover(HERE, pattern=pattern, top_level_dir=HERE)
    result = TapResult()
    try:
        suite.run(result)
    finally:
        fakedaemon.stop()
    print("1..%d" % result.n)
    if not REAL_INSPECT:
        print("# inspect_ai is not importable: the provider was tested against tests/standin")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
