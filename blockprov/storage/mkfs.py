"""argv for every filesystem blockprov creates (pure)."""

from __future__ import annotations


def argv(fstype: str, device: str, label: str | None = None, uuid: str | None = None,
         extra: list[str] | None = None, fat_size: str | None = None) -> list[str]:
    extra = list(extra or [])
    if fstype in ("ext2", "ext3", "ext4"):
        cmd = [f"mkfs.{fstype}", "-F", "-q"]
        cmd += ["-L", label] if label else []
        cmd += ["-U", uuid] if uuid else []
    elif fstype == "xfs":
        cmd = ["mkfs.xfs", "-f", "-q"]
        cmd += ["-L", label] if label else []
        cmd += ["-m", f"uuid={uuid}"] if uuid else []
    elif fstype == "btrfs":
        cmd = ["mkfs.btrfs", "-f", "-q"]
        cmd += ["-L", label] if label else []
        cmd += ["-U", uuid] if uuid else []
    elif fstype == "vfat":
        cmd = ["mkfs.vfat"]
        cmd += ["-F", fat_size] if fat_size else []
        cmd += ["-n", label] if label else []
        cmd += ["-i", uuid.replace("-", "")] if uuid else []
    elif fstype == "swap":
        cmd = ["mkswap", "-f"]
        cmd += ["-L", label] if label else []
        cmd += ["-U", uuid] if uuid else []
    else:
        raise ValueError(f"no mkfs for {fstype}")
    return cmd + extra + [device]
