"""Each datasource from seeds built in the test: ISO and vfat media on loop devices, seed dirs,
the kernel command line, and real HTTP servers on 127.0.0.1 (with slowness and 5xx)."""
import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.boot.helpers import bp, isolated_cfg, nocloud_seed
from tests.boot.media import make_iso, make_vfat
from tests.conftest import need_root_tools
from tests.unit.sources.test_sources import ovf

UD = b"#cloud-config\nmarker: from-seed\n"


def idata(root):
    return json.loads((root / "run/blockprov/instance-data-sensitive.json").read_text())


def boot_ok(root):
    res = bp(root, "boot")
    assert res.returncode in (0, 3), res.stderr
    return idata(root)


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "root"
    isolated_cfg(r)
    return r


def search_devices(root, *names):
    isolated_cfg(root, "datasource: {" + ", ".join(f"{n}: {{search_devices: true}}" for n in names) + "}\n")


def test_nocloud_seed_dir_and_cloud_init_location(root):
    d = root / "var/lib/cloud/seed/nocloud"
    d.mkdir(parents=True)
    (d / "meta-data").write_text("instance-id: ci-1\nlocal-hostname: cihost\n")
    (d / "user-data").write_bytes(UD)
    (d / "network-config").write_text("version: 2\nethernets: {eth0: {dhcp4: true}}\n")
    data = boot_ok(root)
    assert data["v1"]["datasource"] == "NoCloud" and data["v1"]["instance_id"] == "ci-1"
    assert data["merged_cfg"]["marker"] == "from-seed" and data["ds"]["network_format"] == "v2"
    assert (root / "var/lib/blockprov/instances/ci-1/datasource.json").exists()


def test_nocloud_kernel_cmdline(root):
    seed = root / "seed"
    seed.mkdir(parents=True)
    (seed / "meta-data").write_text("instance-id: from-file\n")
    (root / "proc").mkdir()
    (root / "proc/cmdline").write_text("ro ds=nocloud;s=file:///seed/;i=from-cmdline;h=cmdhost quiet\n")
    data = boot_ok(root)
    assert (data["v1"]["instance_id"], data["v1"]["local_hostname"]) == ("from-cmdline", "cmdhost")


def test_nocloud_cidata_iso_on_a_device(root, loops, tmp_path):
    need_root_tools("blkid")
    img = make_iso(tmp_path / "seed.iso", "cidata", {"/meta-data": b"instance-id: iso-1\n", "/user-data": UD,
                                                     "/storagedata": b"version: 1\nconfig: []\n"})
    loops.attach(img)
    search_devices(root, "NoCloud")
    data = boot_ok(root)
    assert data["v1"]["instance_id"] == "iso-1" and data["merged_cfg"]["marker"] == "from-seed"
    assert data["ds"]["storage_config"] == {"version": 1, "config": []}


def test_nocloud_cidata_vfat_on_a_device(root, loops, tmp_path):
    need_root_tools("blkid", "mkfs.vfat", "mcopy")
    img = make_vfat(tmp_path / "seed.img", "CIDATA", {"/meta-data": b"instance-id: vfat-1\n", "/user-data": UD},
                    tmp_path)
    loops.attach(img)
    search_devices(root, "NoCloud")
    data = boot_ok(root)
    assert data["v1"]["instance_id"] == "vfat-1" and data["merged_cfg"]["marker"] == "from-seed"


def test_configdrive_iso_writes_content_files_on_new_instance(root, loops, tmp_path):
    md = {"uuid": "cd-uuid-1", "hostname": "cdhost", "public_keys": {"k": "ssh-ed25519 AAAA cd"},
          "files": [{"path": "/etc/app/injected.conf", "content_path": "/content/0000"}]}
    img = make_iso(tmp_path / "cd.iso", "config-2", {
        "/openstack/latest/meta_data.json": json.dumps(md).encode(), "/openstack/latest/user_data": UD,
        "/openstack/latest/network_data.json": b'{"links": [], "networks": [], "services": []}',
        "/openstack/latest/vendor_data.json": json.dumps({"cloud-init": "#cloud-config\nvendor: yes\n"}).encode(),
        "/openstack/latest/storagedata": b'{"version": 1, "config": []}',
        "/openstack/content/0000": b"injected=1\n"})
    loops.attach(img)
    search_devices(root, "ConfigDrive")
    isolated_cfg(root, "datasource_list: [ConfigDrive, None]\n"
                       "datasource: {ConfigDrive: {search_devices: true}}\n")
    data = boot_ok(root)
    assert data["v1"]["datasource"] == "ConfigDrive" and data["v1"]["instance_id"] == "cd-uuid-1"
    assert data["v1"]["public_ssh_keys"] == ["ssh-ed25519 AAAA cd"] and data["merged_cfg"]["vendor"] is True
    assert data["ds"]["network_format"] == "openstack" and data["ds"]["storage_config"]["version"] == 1
    injected = root / "etc/app/injected.conf"
    assert injected.read_text() == "injected=1\n"
    injected.write_text("changed by admin\n")
    (root / "run").rename(root / "run.old")
    boot_ok(root)
    assert injected.read_text() == "changed by admin\n"  # written on a new instance only


class MetadataServer:
    """An OpenStack-style metadata service with injectable failures and delay."""

    def __init__(self, files: dict[str, bytes], fail_first: int = 0, delay: float = 0.0, status: int = 503):
        self.files, self.fail_left, self.delay, self.status = files, fail_first, delay, status
        self.requests: list[str] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests.append(self.path)
                time.sleep(outer.delay)
                if outer.fail_left > 0:
                    outer.fail_left -= 1
                    self.send_response(outer.status)
                    self.end_headers()
                    return
                body = outer.files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.end_headers()
                if body is not None:
                    self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_port}"

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


OS_FILES = {"/openstack/latest/meta_data.json": json.dumps({"uuid": "os-1", "hostname": "oshost",
                                                             "availability_zone": "az1"}).encode(),
            "/openstack/latest/user_data": UD,
            "/openstack/2024-01-01/storagedata": b"version: 1\nconfig:\n  - {id: d, type: disk, serial: S1}\n"}


def test_openstack_http_with_5xx_and_slowness(root):
    srv = MetadataServer(OS_FILES, fail_first=2, delay=0.05)
    try:
        isolated_cfg(root, "datasource_list: [NoCloud, OpenStack, None]\n"
                           f"datasource: {{OpenStack: {{metadata_urls: ['{srv.url}'], retries: 3, backoff: 0.05,"
                           " storagedata_version: '2024-01-01'}}\n")
        data = boot_ok(root)
    finally:
        srv.close()
    assert data["v1"]["datasource"] == "OpenStack" and data["v1"]["instance_id"] == "os-1"
    assert data["v1"]["availability_zone"] == "az1" and data["merged_cfg"]["marker"] == "from-seed"
    assert data["ds"]["storage_config"]["config"][0]["serial"] == "S1"
    assert srv.requests.count("/openstack/latest/meta_data.json") >= 3  # two 503s were retried


def test_openstack_http_down_falls_back_to_none_in_bounded_time(root):
    srv = MetadataServer(OS_FILES, fail_first=10 ** 6, status=500)
    try:
        isolated_cfg(root, "datasource_list: [OpenStack, None]\n"
                           f"datasource: {{OpenStack: {{metadata_urls: ['{srv.url}'], retries: 2, backoff: 0.05, timeout: 1}}}}\n")
        t = time.monotonic()
        data = boot_ok(root)
        assert time.monotonic() - t < 10
    finally:
        srv.close()
    assert data["v1"]["datasource"] == "None"
    st = bp(root, "status", "--long")
    assert st.returncode == 2 and "OpenStack" in st.stdout and "500" in st.stdout


def test_openstack_is_not_probed_without_dmi_or_config(root):
    isolated_cfg(root, "datasource_list: [OpenStack, None]\n")
    t = time.monotonic()
    data = boot_ok(root)
    assert time.monotonic() - t < 3 and data["v1"]["datasource"] == "None"
    st = bp(root, "status", "--json")
    assert st.returncode == 0 and json.loads(st.stdout)["warnings"] == []  # a probe that failed would warn


def test_openstack_detected_by_dmi(root):
    srv = MetadataServer(OS_FILES)
    try:
        dmi = root / "sys/class/dmi/id"
        dmi.mkdir(parents=True)
        (dmi / "product_name").write_text("OpenStack Nova\n")
        # DMI says OpenStack; the default URL is link-local, so point it at the test server.
        isolated_cfg(root, "datasource_list: [OpenStack, None]\n"
                           f"datasource: {{OpenStack: {{metadata_urls: ['{srv.url}']}}}}\n")
        assert boot_ok(root)["v1"]["datasource"] == "OpenStack"
    finally:
        srv.close()


def test_nocloud_net_seed_over_http(root):
    srv = MetadataServer({"/seed/meta-data": b"instance-id: net-1\n", "/seed/user-data": UD})
    try:
        (root / "proc").mkdir(parents=True)
        (root / "proc/cmdline").write_text(f"ds=nocloud-net;s={srv.url}/seed/\n")
        data = boot_ok(root)
    finally:
        srv.close()
    assert data["v1"]["instance_id"] == "net-1" and data["v1"]["dsmode"] == "net"
    assert data["merged_cfg"]["marker"] == "from-seed"


def test_azure_seed_dir(root):
    d = root / "var/lib/blockprov/seed/azure"
    d.mkdir(parents=True)
    (d / "ovf-env.xml").write_bytes(ovf())
    lease = root / "var/lib/dhcp/dhclient.eth0.leases"
    lease.parent.mkdir(parents=True)
    lease.write_text("lease {\n  interface \"eth0\";\n  option unknown-245 a8:3f:81:10;\n}\n")
    data = boot_ok(root)
    assert data["v1"]["datasource"] == "Azure" and data["v1"]["local_hostname"] == "az-host"
    assert data["ds"]["meta_data"]["endpoint"] == "168.63.129.16"
    user = data["merged_cfg"]["users"][0]
    assert user["name"] == "azureuser" and user["hashed_passwd"].startswith("$6$")
    assert user["ssh_authorized_keys"] == ["ssh-ed25519 AAAAC3Nza azure@key"]
    assert data["merged_cfg"]["ssh_pwauth"] is False and data["merged_cfg"]["a"] == 1  # CustomData
    assert data["merged_cfg"]["datasource"]["Azure"]["hostname_bounce"] == {"policy": "force"}
    for f in (root / "run/blockprov/instance-data.json", root / "run/blockprov/instance-data-sensitive.json",
              root / "var/lib/blockprov/instances" / data["v1"]["instance_id"] / "datasource.json",
              root / "var/log/blockprov/events.jsonl", root / "var/log/blockprov/output.log"):
        assert "s3cret!" not in f.read_text(), f


def test_azure_cd_found_by_dmi_asset_tag(root, loops, tmp_path):
    dmi = root / "sys/class/dmi/id"
    dmi.mkdir(parents=True)
    (dmi / "chassis_asset_tag").write_text("7783-7084-3265-9085-8269-3286-77\n")
    (dmi / "product_uuid").write_text("0F6B3A55-1234-4D2B-9C55-2B9F1C6D7E8F\n")
    loops.attach(make_iso(tmp_path / "az.iso", "rd_rdfe_stable", {"/ovf-env.xml": ovf(password="")}))
    isolated_cfg(root, "datasource_list: [Azure, None]\n")
    data = boot_ok(root)
    assert data["v1"]["datasource"] == "Azure" and data["v1"]["instance_id"] == "0f6b3a55-1234-4d2b-9c55-2b9f1c6d7e8f"
    assert data["merged_cfg"]["users"][0]["lock_passwd"] is True


def test_malformed_seeds_are_reported_and_the_next_source_is_used(root):
    d = root / "var/lib/blockprov/seed/azure"
    d.mkdir(parents=True)
    (d / "ovf-env.xml").write_bytes(ovf()[:200])
    nocloud_seed(root, "instance-id: [unclosed\n")
    isolated_cfg(root, "datasource_list: [NoCloud, Azure, None]\n")
    data = boot_ok(root)
    assert data["v1"]["datasource"] == "None"
    st = bp(root, "status", "--long").stdout
    assert "NoCloud:" in st and "meta-data: neither JSON nor valid YAML" in st
    assert "Azure:" in st and "not well-formed XML" in st


def test_azure_agent_command_runs_and_its_failure_is_a_warning(root):
    d = root / "var/lib/blockprov/seed/azure"
    d.mkdir(parents=True)
    (d / "ovf-env.xml").write_bytes(ovf(password=""))
    isolated_cfg(root, f"datasource: {{Azure: {{agent_command: [sh, -c, 'touch {root}/agent-ran']}}}}\n")
    boot_ok(root)
    assert (root / "agent-ran").exists()
    subprocess.run(["rm", "-rf", str(root / "run"), str(root / "var/lib/blockprov/instances")], check=True)
    isolated_cfg(root, "datasource: {Azure: {agent_command: [sh, -c, 'echo broken >&2; exit 4']}}\n")
    boot_ok(root)
    st = bp(root, "status", "--long")
    assert st.returncode == 2 and "agent_command" in st.stdout and "exited 4: broken" in st.stdout


def test_seed_storagedata_url_overrides_the_seed_and_falls_back_when_down(tmp_path):
    """`storagedata_url`: the storage config comes from an instance-local service, follows its changes on
    refresh-metadata, and the seed's own storagedata is used (with a warning) when the service is down."""
    from tests.udev.metadata import Metadata

    def disk(path):
        return json.dumps({"version": 1, "config": [{"id": "d", "type": "disk", "path": path}]})

    srv = Metadata(storagedata=disk("/dev/from-url-1"))
    try:
        root = tmp_path / "root"
        isolated_cfg(root, "datasource: {NoCloud: {storagedata_url: '" + srv.url
                     + "/openstack/latest/storagedata', retries: 0, timeout: 2}}\n")
        nocloud_seed(root, "instance-id: su-1\n", storagedata=disk("/dev/from-seed"))
        bp(root, "boot")
        cached = root / "var/lib/blockprov/instances/su-1/datasource.json"
        assert json.loads(cached.read_text())["storage_config"]["config"][0]["path"] == "/dev/from-url-1"
        srv.set("storagedata", disk("/dev/from-url-2"))
        res = bp(root, "refresh-metadata")
        assert res.returncode == 0 and "storage" in res.stdout, res.stdout + res.stderr
        assert json.loads(cached.read_text())["storage_config"]["config"][0]["path"] == "/dev/from-url-2"
    finally:
        srv.close()
    res = bp(root, "refresh-metadata")
    assert res.returncode == 0, res.stderr
    sd = json.loads(cached.read_text())
    assert sd["storage_config"]["config"][0]["path"] == "/dev/from-seed"
    assert any("storagedata_url" in p for p in sd["problems"]), sd["problems"]


def test_configdrive_dated_folders_vendor_data2_and_vendor_lists(root, loops, tmp_path):
    """issue 21: a drive with dated version folders and no latest/ is found (the newest folder is read, as
    cloud-init does); vendor_data2.json is applied after vendor_data.json; a vendor-data list is parts, not
    dropped. The ISO is made by genisoimage, not by blockprov's own writer."""
    from tests.boot.media import make_iso_genisoimage

    md = {"uuid": "cd-dated-1", "hostname": "dated"}
    old = {"uuid": "cd-old", "hostname": "old"}
    vendor = {"cloud-init": ["#cloud-config\nfrom_list_text: 1\n", {"from_list_map": 2}, {"shared": "v1"}]}
    vendor2 = {"cloud-init": "#cloud-config\nshared: v2\nfrom_v2: 3\n"}
    img = make_iso_genisoimage(tmp_path / "dated.iso", "config-2", {
        "/openstack/2012-08-10/meta_data.json": json.dumps(old).encode(),
        "/openstack/2015-10-15/meta_data.json": json.dumps(md).encode(),
        "/openstack/2015-10-15/vendor_data.json": json.dumps(vendor).encode(),
        "/openstack/2015-10-15/vendor_data2.json": json.dumps(vendor2).encode()}, tmp_path)
    loops.attach(img)
    isolated_cfg(root, "datasource_list: [ConfigDrive, None]\n"
                       "datasource: {ConfigDrive: {search_devices: true}}\n")
    data = boot_ok(root)
    assert data["v1"]["instance_id"] == "cd-dated-1"
    cfg = data["merged_cfg"]
    assert (cfg["from_list_text"], cfg["from_list_map"], cfg["from_v2"], cfg["shared"]) == (1, 2, 3, "v2")
