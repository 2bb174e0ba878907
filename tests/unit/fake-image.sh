# fake-image.sh: sourced by the shell tests. A fake debian-12 image in $AIRLOCK_STATE_DIR whose
# files match their manifest; fake_manifest writes the manifest again (after a file changed).
img=$AIRLOCK_STATE_DIR/images/debian-12
sum() { sha256sum "$1" | cut -d' ' -f1; }
fake_manifest() {
    cat > "$img/manifest.json" <<JSON
{"name":"debian-12","created":"2026-11-26T00:00:00Z","recipe_sha256":"x","kernel_cmdline":"console=ttyS0",
 "files":{"disk.qcow2":{"sha256":"$(sum "$img/disk.qcow2")"},"vmlinuz":{"sha256":"$(sum "$img/vmlinuz")"},
 "initrd.img":{"sha256":"$(sum "$img/initrd.img")"}},"packages":[]}
JSON
}
mkdir -p "$img"
qemu-img create -q -f qcow2 "$img/disk.qcow2" 64M
echo kernel > "$img/vmlinuz"; echo initrd > "$img/initrd.img"
fake_manifest
