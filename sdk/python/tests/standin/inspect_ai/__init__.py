"""A stand-in for the parts of inspect_ai the airlock provider uses (tests only).

Put on sys.path by the tests ONLY when the real inspect_ai cannot be imported
(it cannot be installed on these machines). It reproduces the names and
behaviour the provider relies on, as documented by Inspect; it is not Inspect.
"""
STANDIN = True
