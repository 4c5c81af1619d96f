"""Which disk a cloud volume id names: the rules each platform uses to expose the id to the guest (pure).

A disk item's ``volume_id`` is compared, exactly (never as a substring), with
what the kernel and udev show of the disk: its serials (``serial_ids``: sysfs
serial, ID_SERIAL, ID_SERIAL_SHORT, ID_SCSI_SERIAL) and its ``/dev/disk`` links.
``lun`` (Azure data disks) is matched through Azure's udev links or the SCSI
address on the data-disk VMBus controller. Each rule is one row of the table in
docs/storage-config.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from blockprov.storage.inventory import Device

VIRTIO_SERIAL_MAX = 20  # virtio-blk: the kernel shows at most 20 bytes of the serial
BY_ID = "/dev/disk/by-id/"
AZURE_DATA_VMBUS = "f8b3781b1a824818a1c363d806ec15bb"  # Hyper-V's SCSI controller for data disks


@dataclass(frozen=True)
class Answer:
    """One id a disk answers to, for ``storage inventory``: ``id`` is the full id, or its known prefix
    (``prefix: true``) where the platform cuts it."""
    platform: str
    id: str
    prefix: bool = False


def _serials(d: Device) -> set[str]:
    return {s for s in [d.serial, *d.serial_ids] if s}


def matches(volume_id: str, d: Device) -> list[str]:
    """The rules (platform names) by which disk ``d`` is the volume ``volume_id``; empty when it is not."""
    if not volume_id or d.kind != "disk":
        return []
    serials, links = _serials(d), set(d.links)
    out = []
    if volume_id in serials:
        out.append("serial")  # any platform that gives the whole id as the serial
    elif len(volume_id) > VIRTIO_SERIAL_MAX and volume_id[:VIRTIO_SERIAL_MAX] in serials:
        out.append("openstack-virtio-blk")
    if f"{BY_ID}scsi-0QEMU_QEMU_HARDDISK_{volume_id}" in links:
        out.append("openstack-virtio-scsi")
    if volume_id.startswith("vol-"):
        nvme = "vol" + volume_id[4:]
        if nvme in serials or f"{BY_ID}nvme-Amazon_Elastic_Block_Store_{nvme}" in links:
            out.append("aws-nvme")
    if f"{BY_ID}google-{volume_id}" in links:
        out.append("gce")
    if f"{BY_ID}scsi-0HC_Volume_{volume_id}" in links:
        out.append("hetzner")
    if f"{BY_ID}scsi-0DO_Volume_{volume_id}" in links:
        out.append("digitalocean")
    return out


def lun_matches(lun: int, d: Device) -> bool:
    """An Azure data disk at LUN ``lun``: the links of Azure's udev rules (cloud-init's / WALinuxAgent's
    ``/dev/disk/azure/scsi1/lunN``, azure-vm-utils' ``/dev/disk/azure/data/by-lun/N``) or the by-path link on the
    data-disk VMBus controller."""
    if d.kind != "disk":
        return False
    want = {f"/dev/disk/azure/scsi1/lun{lun}", f"/dev/disk/azure/data/by-lun/{lun}"}
    return bool(want & set(d.links)) or any(
        ln.startswith("/dev/disk/by-path/") and f"vmbus-{AZURE_DATA_VMBUS}-lun-{lun}" in ln and
        ln.endswith(f"-lun-{lun}") for ln in d.links)


def answers(d: Device) -> list[Answer]:
    """Every volume id (or id prefix) disk ``d`` answers to, as ``storage inventory`` shows it."""
    if d.kind != "disk":
        return []
    out: list[Answer] = []
    for s in sorted(_serials(d)):
        if s.startswith("vol") and len(s) > 3 and not s.startswith("vol-") and s[3:].isalnum():
            out.append(Answer("aws-nvme", "vol-" + s[3:]))
        elif len(s) == VIRTIO_SERIAL_MAX and f"{BY_ID}virtio-{s}" in d.links:  # a virtio-blk disk, cut
            out.append(Answer("openstack-virtio-blk", s, prefix=True))
        else:
            out.append(Answer("serial", s))
    for ln in sorted(d.links):
        for platform, head in (("openstack-virtio-scsi", "scsi-0QEMU_QEMU_HARDDISK_"), ("gce", "google-"),
                               ("hetzner", "scsi-0HC_Volume_"), ("digitalocean", "scsi-0DO_Volume_")):
            if ln.startswith(BY_ID + head):
                out.append(Answer(platform, ln[len(BY_ID + head):]))
        for head in ("/dev/disk/azure/scsi1/lun", "/dev/disk/azure/data/by-lun/"):
            if ln.startswith(head) and ln[len(head):].isdigit():
                out.append(Answer("azure-lun", ln[len(head):]))
    seen, uniq = set(), []
    for a in out:
        if (a.platform, a.id) not in seen:
            seen.add((a.platform, a.id))
            uniq.append(a)
    return uniq
