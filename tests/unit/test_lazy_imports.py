"""`--help` stays fast: neither command imports its heavy dependencies to print usage."""
import subprocess
import sys

import pytest

HEAVY = ("pyudev", "parted", "_ped", "jsonschema", "yaml", "aiohttp", "psycopg", "pycdlib", "urllib3")


@pytest.mark.parametrize("module", ["blockprov", "blockprov_engine"])
def test_help_imports_nothing_heavy(module):
    code = (f"import sys, runpy\nsys.argv = ['{module}', '--help']\n"
            f"try:\n    runpy.run_module('{module}', run_name='__main__')\nexcept SystemExit:\n    pass\n"
            "print(' '.join(sorted(m for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.split("\n")[-2].split())
    assert not {m for m in loaded if m.split(".")[0] in HEAVY}
