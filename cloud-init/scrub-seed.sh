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
# The cached datasource (a reboot reuses it): keep it, minus the user-data.
if [ -f "$dir/obj.pkl" ]; then
    python3 - "$dir/obj.pkl" <<'PY'
import os, pickle, subprocess, sys
path = sys.argv[1]
with open(path, "rb") as f:
    ds = pickle.load(f)
raw = getattr(ds, "userdata_raw", None)
ds.userdata_raw = b"" if isinstance(raw, bytes) else ""
if hasattr(ds, "userdata"):
    ds.userdata = None
data = pickle.dumps(ds)
subprocess.run(["shred", "-n", "0", "-z", path], check=True)
mode = os.stat(path).st_mode & 0o777
os.chmod(path, 0o600)
with open(path, "wb") as f:
    f.write(data)
os.chmod(path, mode)
PY
fi
sync
