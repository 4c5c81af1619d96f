"""The command runner: argv only, output captured, time limit enforced."""

import time

import pytest

from blockprov.run import CommandError, run


def test_output_and_exit_code_are_captured():
    res = run(["sh", "-c", "echo out; echo err >&2; exit 3"], check=False)
    assert (res.returncode, res.stdout, res.stderr) == (3, "out\n", "err\n")


def test_failure_raises_with_stderr_in_message():
    with pytest.raises(CommandError, match="exited 3: err"):
        run(["sh", "-c", "echo err >&2; exit 3"])


def test_argv_is_not_interpreted_by_a_shell():
    res = run(["echo", "a;", "$(id)", "|", "b"])
    assert res.stdout == "a; $(id) | b\n"


def test_input_reaches_stdin():
    assert run(["cat"], input="x\ny\n").stdout == "x\ny\n"


def test_missing_command():
    res = run(["no-such-command-blockprov"], check=False)
    assert res.returncode == 127 and "not found" in res.stderr


def test_timeout_kills_and_says_so():
    t = time.monotonic()
    res = run(["sleep", "30"], check=False, timeout=0.5)
    assert time.monotonic() - t < 5
    assert res.returncode == 124 and "timed out after 0.5 s" in res.stderr



def test_env_adds_to_the_inherited_environment():
    res = run(["sh", "-c", 'echo "$INSTANCE_ID:${PATH:+has-path}"'], env={"INSTANCE_ID": "i-7"})
    assert res.stdout == "i-7:has-path\n"


def test_timeout_ends_what_the_command_started_too():
    t = time.monotonic()
    res = run(["sh", "-c", "sleep 30 & sleep 30"], check=False, timeout=0.5)  # the child keeps the pipes open
    assert time.monotonic() - t < 5
    assert res.returncode == 124
