"""cloud-init's documented examples (doc/examples/cloud-config-*.txt, tests/data/user_data.1.txt), which
cloud-init's own schema test calls valid: `blockprov schema` must call each valid too, and name (as warnings,
exit 0) exactly the keys blockprov does not carry out, so nothing in them is silently ignored."""
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent.parent / "fixtures" / "cloudinit-examples"
# the keys of each example that blockprov names as not carried out (docs/modules.md says why)
NOT_CARRIED_OUT = {
    "cloud-config-disk-setup.txt": ["$.device_aliases"],
    "cloud-config-ssh-keys.txt": ["$.no_ssh_fingerprints", "$.ssh"],
    "cloud-config-user-groups.txt": ["$.users[1].selinux_user", "$.users[1].ssh_import_id",
                                     "$.users[2].ssh_import_id", "$.users[6].snapuser", "$.users[7].ssh_redirect_user"],
    "cloud-config.txt": ["$.byobu_by_default", "$.disable_ec2_metadata", "$.ssh_import_id",
                         "$.users[1].ssh_redirect_user"],
}


def schema(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "blockprov", "schema", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.txt")))
def test_every_cloud_init_example_is_valid_and_what_is_not_carried_out_is_named(name):
    res = schema(EXAMPLES / name)
    assert res.returncode == 0, res.stderr
    warned = sorted(ln.split("warning: ", 1)[1].split(":")[0] for ln in res.stderr.splitlines()
                    if "warning: $." in ln)
    assert warned == sorted(NOT_CARRIED_OUT.get(name, [])), res.stderr
    assert "unrecognized key" not in res.stderr  # every cloud-init key is known, carried out or not


def test_an_invalid_cloud_config_part_is_still_invalid(tmp_path):
    f = tmp_path / "bad.txt"
    f.write_text("#cloud-config\npackages: [ok\n")
    res = schema(f)
    assert res.returncode == 2 and "invalid cloud-config YAML" in res.stderr
