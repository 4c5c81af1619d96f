#!/bin/sh
# Install everything blockprov and its test tiers need on a fresh Debian 12 (as root).
set -eu
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends \
    parted libparted-dev pkg-config gcc \
    util-linux fdisk e2fsprogs xfsprogs btrfs-progs dosfstools lvm2 mtools openssl \
    udev passwd iproute2 openssh-client netplan.io ifupdown genisoimage gnupg dpkg-dev \
    postgresql \
    qemu-system-x86 qemu-utils mmdebstrap \
    debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools
python3 -m pip install --quiet --disable-pip-version-check -e '.[test,engine]'
