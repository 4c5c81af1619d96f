"""Which top-level cloud-config keys blockprov carries out, and which it does not (pure): nothing is silently
ignored. ``blockprov schema`` and the boot both report the rest, as cloud-init reports "unrecognized keys"."""

from __future__ import annotations

from functools import lru_cache

# keys of the system config, the stage lists and the user-data mechanics (read outside the modules)
BASE = frozenset({
    "datasource_list", "datasource", "system_info", "reporting", "updates", "hotplug", "network",
    "init_local_modules", "init_modules", "config_modules", "final_modules", "cloud_init_modules",
    "cloud_config_modules", "cloud_final_modules", "merge_how", "merge_type", "vendor_data", "vendordata",
    "allow_userdata",
    "default_user", "user", "manage_etc_hosts", "preserve_hostname", "fqdn", "hostname", "prefer_fqdn_over_hostname",
    "create_hostname_file", "storage", "mount_default_fields", "ssh_pwauth", "disable_root", "disable_root_opts",
    "password", "chpasswd", "output", "log_cfgs", "def_log_file", "syslog_fix_perms", "_doc"})
# cloud-init modules' keys that blockprov does not carry out (yet): a warning names them
NOT_CARRIED_OUT = {
    "snap": "snaps", "yum_repos": "yum", "device_aliases": "disk_setup device aliases",
    "no_ssh_fingerprints": "ssh fingerprints on the console", "ssh": "ssh key output to the console",
    "disable_ec2_metadata": "blocking the EC2 metadata address", "ssh_publish_hostkeys": "host key publishing",
    "ssh_fp_console_blacklist": "ssh fingerprints on the console", "ssh_key_console_blacklist":
    "ssh keys on the console",
    "zypper": "zypper", "chef": "chef", "puppet": "puppet", "salt_minion": "salt", "ansible": "ansible",
    "landscape": "landscape", "lxd": "lxd", "rh_subscription": "RHEL subscriptions", "ubuntu_advantage": "Ubuntu Pro",
    "ubuntu_pro": "Ubuntu Pro", "mcollective": "mcollective", "byobu_by_default": "byobu", "keyboard": "keyboard",
    "wireguard": "wireguard", "random_seed": "random seed",
    "ca_certs": "CA certificates", "ca-certs": "CA certificates", "rsyslog": "rsyslog", "spacewalk": "spacewalk",
    "ssh_import_id": "ssh-import-id (needs the internet)", "apk_repos": "apk", "bootcmd_once": "bootcmd_once"}


@lru_cache(maxsize=1)
def readers() -> dict[str, frozenset[str]]:
    """Top-level key -> the modules whose schema reads it."""
    from blockprov import modules

    out: dict[str, set[str]] = {}
    for name in modules.known_modules():
        for key in modules.meta(name).schema.get("properties") or {}:
            out.setdefault(key, set()).add(name)
    return {k: frozenset(v) for k, v in out.items()}


def module_keys() -> frozenset[str]:
    return frozenset(readers())


def _listed(cfg: dict) -> set[str] | None:
    """Every module named in the config's stage lists; None when a list is malformed (reported elsewhere)."""
    from blockprov.boot import sysconfig

    try:
        return {e.name for stage in sysconfig.STAGE_KEYS for e in sysconfig.module_entries(cfg, stage)}
    except sysconfig.ConfigError:
        return None


def nested(cfg: dict) -> list[str]:
    """Keys inside an entry that cloud-init knows and blockprov does not carry out (a user's ssh_import_id)."""
    from blockprov.modules.users_groups import UNSUPPORTED

    users = cfg.get("users")
    users = [users] if isinstance(users, dict) else users if isinstance(users, list) else []
    return [f"$.users[{i}].{k}: {UNSUPPORTED[k]}; " + ("the user is made without it" if "name" in u else
                                                      "the entry is skipped")
            for i, u in enumerate(users) if isinstance(u, dict) for k in sorted(set(u) & set(UNSUPPORTED))]


def report(cfg: dict) -> list[str]:
    """One line per top-level key blockprov will not act on, with the JSON path; empty when every key is used."""
    known = module_keys() | BASE
    out = []
    for key in sorted(k for k in cfg if isinstance(k, str) and k not in known):
        if key in NOT_CARRIED_OUT:
            out.append(f"$.{key}: {NOT_CARRIED_OUT[key]} is not carried out by blockprov; the key is ignored")
        else:
            out.append(f"$.{key}: unrecognized key, ignored")
    out += nested(cfg)
    listed = _listed(cfg) if any(k in cfg for k in ("init_local_modules", "init_modules", "config_modules",
                                                   "final_modules")) else None
    if listed is not None:
        for key in sorted(k for k in cfg if isinstance(k, str) and k in readers() and k not in BASE):
            if not readers()[key] & listed:
                out.append(f"$.{key}: read by {', '.join(sorted(readers()[key]))}, which no stage list "
                           "(init_modules, config_modules, ...) runs; ignored")
    return out
