#!/bin/sh
# cloud-init 22.4.2 (Debian's package, unpacked with dpkg-deb -x, run by Debian's python3) on the
# same NoCloud seed and user-data as bench/boot.py, with the same modules (the five scripts_*
# modules), first boot and reboot, four processes each. It runs inside private mount and UTS
# namespaces with tmpfs over /var/lib, /run, /var/log and a copy of /etc, because cloud-init
# writes fixed paths (/var/lib/cloud, /run/cloud-init) and sets the hostname whatever its config
# says. Usage (root): sh bench/boot_cloudinit.sh [ROUNDS]
set -eu
ROUNDS=${1:-5}
W=$(mktemp -d /tmp/bp-ci-XXXXXX)
trap 'rm -rf "$W"' EXIT
apt-get install -y -qq --no-install-recommends python3-configobj python3-jinja2 python3-jsonpatch \
    python3-jsonschema python3-netifaces python3-oauthlib python3-requests python3-serial python3-yaml >/dev/null
(cd "$W" && apt-get download -qq cloud-init 2>/dev/null && dpkg-deb -x cloud-init_*.deb pkg)
cp -a /etc "$W/etc"
cat > "$W/cfg.yaml" <<CFG
datasource_list: [NoCloud, None]
network: {config: disabled}
cloud_init_modules: []
cloud_config_modules: []
cloud_final_modules: [scripts-vendor, scripts-per-once, scripts-per-boot, scripts-per-instance, scripts-user]
CFG
unshare --mount --uts --propagation private sh -eu -c '
W=$1; ROUNDS=$2
mount --bind "$W/etc" /etc
for d in /var/lib /run /var/log; do mount -t tmpfs bench "$d"; done
export PYTHONPATH=$W/pkg/usr/lib/python3/dist-packages
CI="/usr/bin/python3 $W/pkg/usr/bin/cloud-init --file $W/cfg.yaml"
stages() { $CI init --local && $CI init && $CI modules --mode config && $CI modules --mode final; }
now() { date +%s.%N; }
i=0; firsts=""; reboots=""
while [ $i -lt $ROUNDS ]; do
  rm -rf /var/lib/cloud /run/cloud-init; mkdir -p /var/lib/cloud/seed/nocloud
  printf "instance-id: bench-1\nlocal-hostname: bench\n" > /var/lib/cloud/seed/nocloud/meta-data
  printf "#cloud-config\nhostname: bench\nusers: [{name: bench, ssh_authorized_keys: [\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI bench\"]}]\nwrite_files: [{path: /etc/bench.conf, content: \"x=1\"}]\nruncmd: [[true]]\n" > /var/lib/cloud/seed/nocloud/user-data
  t=$(now); stages >/dev/null 2>&1; firsts="$firsts $(echo "$(now) - $t" | bc)"
  rm -rf /run/cloud-init
  t=$(now); stages >/dev/null 2>&1; reboots="$reboots $(echo "$(now) - $t" | bc)"
  test -e /var/lib/cloud/instances/bench-1/sem/config_scripts_user || { echo "cloud-init did not finish" >&2; exit 1; }
  i=$((i + 1))
done
med() { echo $* | tr " " "\n" | sort -n | awk "{a[NR]=\$1} END {print a[int((NR+1)/2)]}"; }
echo "cloud-init 22.4.2 first boot (4 processes): median $(med $firsts) s"
echo "cloud-init 22.4.2 reboot (4 processes):     median $(med $reboots) s"
' sh "$W" "$ROUNDS"
