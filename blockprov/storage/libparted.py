"""Small helpers around pyparted and the kernel's view of a disk, shared by the executors."""

from __future__ import annotations

import os


def errors() -> tuple[type[Exception], ...]:
    """The exceptions pyparted raises for a table it will not build (imported lazily: start-up cost)."""
    import parted

    return (parted.PartedException, parted.DiskException, parted.PartitionException,
            parted.GeometryException, parted.ConstraintException, parted.IOException)


def release(device) -> None:
    """pyparted keeps the device open; release it before other tools look."""
    if device is None:
        return
    try:
        device.removeFromCache()
    except Exception:  # noqa: BLE001 - best effort cleanup
        pass


def sector_size(dev: str) -> int:
    """The disk's logical sector size as the kernel reports it (512 when it cannot say)."""
    try:
        with open(f"/sys/class/block/{os.path.basename(dev)}/queue/logical_block_size") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 512
