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


def test_one_command_builds_only_its_own_parser_and_parses_alike():
    """main() builds just the named command's parser; it must know every command and parse as the whole one."""
    from blockprov.cli import main as cli

    full = cli._parser()
    sub = next(a for a in full._actions if a.dest == "cmd")
    assert set(cli.COMMANDS) == set(sub.choices)
    for argv in (["hotplug", "process", "--linger", "0"], ["storage", "apply", "c.yaml", "--dry-run", "--json"],
                 ["status", "--wait", "--timeout", "5"], ["modules", "--mode", "final"], ["apply", "storage"],
                 ["per", "once", "x", "echo", "hi"]):
        one = cli._parser(argv[0])
        assert set(next(a for a in one._actions if a.dest == "cmd").choices) == {argv[0]}
        assert vars(one.parse_args(argv)) == vars(full.parse_args(argv))
