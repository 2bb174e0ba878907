#!/bin/sh
# Runs inside the image's chroot (mmdebstrap --customize-hook), after all
# packages are installed and rootfs/ has been copied in. Arguments: the
# units to mask, then "--", then the units to enable, then "--", then the
# default target.
set -eu

mask=""; enable=""
while [ $# -gt 0 ] && [ "$1" != -- ]; do mask="$mask $1"; shift; done; shift
while [ $# -gt 0 ] && [ "$1" != -- ]; do enable="$enable $1"; shift; done; shift
target=$1; shift
[ $# -gt 0 ] && [ "$1" = -- ] && shift
generators="$*"

# shellcheck disable=SC2086
systemctl mask $mask
# shellcheck disable=SC2086
systemctl enable $enable
systemctl set-default "$target"
mkdir -p /etc/systemd/system-generators
for g in $generators; do
    ln -sf /dev/null "/etc/systemd/system-generators/$g"
done

# Every sandbox gets its own machine id at first boot (an empty file: not a
# "first boot" in systemd's sense, so no preset-all).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id

# Root has no password and no way to log in; airlock talks through the
# guest agent.
passwd -l root >/dev/null

# cloud-init must start from a clean state in every sandbox.
cloud-init clean --logs >/dev/null 2>&1 || true
rm -rf /var/lib/cloud/*

# (The initrd was built when the kernel was installed, with rootfs/'s
# initramfs-tools config already in place: no second update-initramfs.)

# Smaller image: no apt lists or caches (no network in a sandbox anyway).
apt-get clean
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old \
       /var/lib/dpkg/*-old /var/log/*.log /var/log/apt/* /tmp/* /var/tmp/*
