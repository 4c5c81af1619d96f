"""Crash matrix (sampled): SIGKILL of the whole apply process group from outside, at every step boundary
and at random moments inside steps, on two disks with a preserved partition holding data. One re-run
converges each time, the data and its filesystem's uuid are intact, fsck is clean, no temp file is left.
The full sweep is bench/crash_sweep.py (figures in docs/security.md)."""
import os
import shutil

import pytest

from tests.host.crash_matrix import Rig, one, points

pytestmark = pytest.mark.host


@pytest.mark.skipif(shutil.which("mkfs.btrfs") is None, reason="btrfs-progs not installed")
def test_sigkill_anywhere_then_one_rerun_converges(loops, tmp_path):
    rig = Rig(loops, tmp_path)
    n = rig.steps()
    assert n >= 7
    seed = int(os.environ.get("BLOCKPROV_CRASH_SEED", "18"))
    done = []
    for i, point in enumerate(points(n, inside=4, seed=seed)):
        root = tmp_path / f"r{i}"
        done.append(one(rig, root, point))
        rig.reset(root)
    assert sum(o.killed for o in done) >= n  # every boundary was really reached and killed
