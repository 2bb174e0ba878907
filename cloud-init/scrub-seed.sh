#!/bin/sh
# airlock-scrub-seed: airlock runs this through the guest agent once cloud-init is
# done, before the clean state is captured. cloud-init keeps copies of the user-data,
# which carries the test secrets (base64), on the guest's disk; that disk is frozen
# into the clean state and kept in the evidence archive. The secrets themselves stay
# in @SECRETS_PATH@ (tmpfs). Files are overwritten in place before they change, so the
# blocks they leave behind hold no copy. Written by cloud-init.
set -eu
dir=/var/lib/cloud/instance
for f in "$dir/user-data.txt" "$dir/user-data.txt.i" "$dir/cloud-config.txt"; do
    [ -f "$f" ] || continue
    shred -n 0 -z "$f"
    printf '#cloud-config\n# scrubbed by airlock: the test secrets are in @SECRETS_PATH@\n' > "$f"
done
# The cached datasource (a reboot reuses it): keep it, minus the user-data (the raw
# bytes and the parsed message). Rewritten by a python without site-packages that
# stands in for cloud-init's classes: importing cloud-init to unpickle it cost 1.5-2 s
# under TCG. It writes obj.pkl.new only when the result loads back with the user-data
# gone; anything it does not know (a class outside cloud-init and the standard
# library, a state it cannot keep as it was) fails it, and then cloud-init's own
# classes do it as before.
pkl=$dir/obj.pkl
if [ -f "$pkl" ]; then
    rm -f "$pkl.new"
    python3 -I -S - "$pkl" "$pkl.new" 2>/dev/null <<'PY' || python3 - "$pkl" "$pkl.new" <<'PY'
import copyreg, io, pickle, sys, types

states, args, called = {}, {}, set()


class Stub:
    """Stands in for a cloud-init class: keeps what it was built from, pickles as it."""

    def __new__(cls, *a):
        o = object.__new__(cls)
        args[id(o)] = a
        return o

    def __init__(self, *a):
        called.add(id(self))  # made by calling the class (REDUCE), not by NEWOBJ

    def __setstate__(self, state):
        states[id(self)] = state

    def __reduce_ex__(self, proto):
        a, st = args[id(self)], states.get(id(self))
        if id(self) in called:
            return (type(self), a, st)
        return (copyreg.__newobj__, (type(self),) + a, st)


def stub(module, name):
    if "." in name:
        raise pickle.UnpicklingError("nested class")
    parts = module.split(".")
    for i in range(1, len(parts) + 1):  # the pickler imports the module: its parents too
        mod = sys.modules.get(".".join(parts[:i]))
        if mod is None:
            mod = sys.modules[".".join(parts[:i])] = types.ModuleType(".".join(parts[:i]))
            mod._airlock_stub = True
        elif not getattr(mod, "_airlock_stub", False):
            raise pickle.UnpicklingError("real module")
    cls = getattr(mod, name, None)
    if cls is None:
        cls = type(name, (Stub,), {"__module__": module, "__qualname__": name})
        setattr(mod, name, cls)
    return cls


class Loader(pickle.Unpickler):
    def find_class(self, module, name):
        if module == "cloudinit" or module.startswith("cloudinit."):
            return stub(module, name)
        return super().find_class(module, name)


def load(data):
    return Loader(io.BytesIO(data)).load()


src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    ds = load(f.read())
st = states.get(id(ds))
if not isinstance(ds, Stub) or not isinstance(st, dict) or "userdata_raw" not in st:
    raise SystemExit("obj.pkl: not a datasource as expected")
st["userdata_raw"] = b"" if isinstance(st["userdata_raw"], bytes) else ""
st["userdata"] = None
data = pickle.dumps(ds)
back = states[id(load(data))]
if back["userdata_raw"] or back["userdata"] is not None or set(back) != set(st):
    raise SystemExit("obj.pkl: rewrite did not take")
with open(dst, "wb") as f:
    f.write(data)
PY
import pickle, sys
with open(sys.argv[1], "rb") as f:
    ds = pickle.load(f)
raw = getattr(ds, "userdata_raw", None)
ds.userdata_raw = b"" if isinstance(raw, bytes) else ""
if hasattr(ds, "userdata"):
    ds.userdata = None
with open(sys.argv[2], "wb") as f:
    f.write(pickle.dumps(ds))
PY
    # Same inode, mode and owner: zeroed in place, then the scrubbed copy over it.
    shred -n 0 -z "$pkl"
    cat "$pkl.new" > "$pkl"
    rm -f "$pkl.new"
fi
sync
