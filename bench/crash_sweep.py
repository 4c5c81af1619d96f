#!/usr/bin/env python3
"""The full crash sweep (issue 18): SIGKILL of `blockprov storage apply`'s process group at every step
boundary and at N random moments inside steps; after each, one re-run must converge with the preserved data,
its uuid and clean fsck. Prints one line per point and a summary. Run as root from the checkout:

    python3 bench/crash_sweep.py --inside 40 --seed 1
"""
import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.conftest import Loops  # noqa: E402
from tests.host.crash_matrix import Rig, one, points  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--inside", type=int, default=40, help="random kills inside steps")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="crash-sweep-") as tmp:
        loops = Loops(Path(tmp))
        try:
            rig = Rig(loops, Path(tmp))
            n = rig.steps()
            failures, kinds = 0, Counter()
            t0 = time.monotonic()
            for i, point in enumerate(points(n, args.inside, args.seed)):
                root = Path(tmp) / f"r{i}"
                try:
                    o = one(rig, root, point)
                    kinds[point.kind] += 1
                    print(f"ok    {point} ({'killed' if o.killed else 'finished first'}, {o.seconds:.1f} s)")
                except AssertionError as exc:
                    failures += 1
                    print(f"FAIL  {point}: {str(exc)[:400]}")
                rig.reset(root)
            print(f"{sum(kinds.values()) + failures} points ({n} steps), {failures} failed, "
                  f"{time.monotonic() - t0:.0f} s")
        finally:
            loops.cleanup()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
