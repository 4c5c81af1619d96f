"""cloud-init's user-data expectations (tests/unittests/test_data.py, test_builtin_handlers.py), carried over as
facts: the inputs and what cloud-init's own tests assert of the merged cloud-config, the scripts kept, and the
warnings. The code is ours; where we deliberately differ, docs/userdata.md says so and a test here shows it."""
import gzip
from email import encoders
from email.mime.application import MIMEApplication
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart

import yaml

from blockprov.boot import jinja_render

from blockprov.boot import userdata
from blockprov.events.refresh import gated


def _mime(*parts: MIMEBase) -> bytes:
    msg = MIMEMultipart()
    for p in parts:
        msg.attach(p)
    return str(msg).encode()


def _part(subtype: str, payload: str, **headers) -> MIMEBase:
    m = MIMEBase("text", subtype)
    m.set_payload(payload)
    for k, v in headers.items():
        m[k.replace("_", "-")] = v
    return m


JSONP_USER = """
#cloud-config-jsonp
[
     { "op": "add", "path": "/baz", "value": "qux" },
     { "op": "add", "path": "/bar", "value": "qux2" }
]
"""


def test_simple_jsonp():
    ud = userdata.parse(JSONP_USER)
    assert ud.cloud_config == {"baz": "qux", "bar": "qux2"} and ud.problems == []


def test_jsonp_vendor_and_user_each_patch_their_own_document_and_user_wins():
    user = """
#cloud-config-jsonp
[
     { "op": "add", "path": "/baz", "value": "qux" },
     { "op": "add", "path": "/bar", "value": "qux2" },
     { "op": "add", "path": "/foobar", "value": "qux3" }
]
"""
    vendor = """
#cloud-config-jsonp
[
     { "op": "add", "path": "/baz", "value": "quxA" },
     { "op": "add", "path": "/bar", "value": "quxB" },
     { "op": "add", "path": "/foo", "value": "quxC" },
     { "op": "add", "path": "/corge", "value": "quxEE" }
]
"""
    from blockprov.boot.merge import merge_all

    vd, ud = userdata.parse(vendor, "vendor-data"), userdata.parse(user)
    vd, ud, notes = gated({}, vd, ud)
    cfg = merge_all({}, {}, vd.cloud_config, ud.cloud_config)
    assert (cfg["baz"], cfg["bar"], cfg["foobar"], cfg["foo"], cfg["corge"]) == ("qux", "qux2", "qux3", "quxC", "quxEE")
    assert notes == []


def test_vendor_data_disabled_by_user_data_is_not_consumed():
    user = JSONP_USER.replace("]", ',{ "op": "add", "path": "/vendor_data", "value": {"enabled": "false"}}\n]')
    vendor = '#cloud-config-jsonp\n[{ "op": "add", "path": "/foo", "value": "quxC" }]\n'
    vd, ud, notes = gated({}, userdata.parse(vendor, "vendor-data"), userdata.parse(user))
    assert vd.cloud_config == {} and ud.cloud_config["baz"] == "qux"
    assert notes == ["vendor-data ignored: vendor_data.enabled is false"]


def test_vendor_yaml_and_user_yaml_user_wins_lists_replaced():
    vendor = "\n#cloud-config\na: b\nname: vendor\nrun:\n - x\n - y\n"
    user = "\n#cloud-config\na: c\nvendor_data:\n  enabled: true\n  prefix: /bin/true\nname: user\nrun:\n - z\n"
    from blockprov.boot.merge import merge_all

    vd, ud, _ = gated({}, userdata.parse(vendor, "vendor-data"), userdata.parse(user))
    cfg = merge_all({}, {}, vd.cloud_config, ud.cloud_config)
    assert "vendor_data" in cfg and cfg["a"] == "c" and cfg["name"] == "user" and cfg["run"] == ["z"]


def test_vendor_script_kept_when_user_data_enables_vendor_data():
    vd, ud, _ = gated({}, userdata.parse('\n#!/bin/bash\necho "test"\n', "vendor-data"),
                      userdata.parse("\n#cloud-config\nvendor_data:\n  enabled: true\n  prefix: /bin/true\n"))
    assert [p.kind for p in vd.scripts] == ["script"]


def test_allow_userdata_false_keeps_vendor_data_only():
    vendor = ('#cloud-config-jsonp\n[{ "op": "add", "path": "/baz", "value": "quxA" },'
              '{ "op": "add", "path": "/bar", "value": "quxB" }, { "op": "add", "path": "/foo", "value": "quxC" }]')
    vd, ud, notes = gated({"allow_userdata": False}, userdata.parse(vendor, "vendor-data"), userdata.parse(JSONP_USER))
    assert vd.cloud_config == {"baz": "quxA", "bar": "quxB", "foo": "quxC"} and ud.cloud_config == {}
    assert notes == ["user-data ignored: allow_userdata is false in the system config"]


def test_mixed_cloud_config_then_jsonp_in_mime():
    cc = "\n#cloud-config\na: b\nc: d\n"
    jp = '\n#cloud-config-jsonp\n[\n { "op": "replace", "path": "/a", "value": "c" },\n { "op": "remove", "path": "/c" }\n]\n'
    assert userdata.parse(_mime(_part("cloud-config", cc), _part("cloud-config-jsonp", jp))).cloud_config == {"a": "c"}
    # the cloud-config declared as a shell script is still cloud-config (it does not start with #!)
    assert userdata.parse(_mime(_part("x-shellscript", cc), _part("cloud-config-jsonp", jp))).cloud_config == {"a": "c"}


def test_merging_three_parts_with_an_x_merge_type_header():
    p1 = _part("cloud-config", "\n#cloud-config\na: b\ne: f\nrun:\n - b\n - c\n")
    p2 = _part("cloud-config", "\n#cloud-config\na: e\ne: g\nrun:\n - stuff\n - morestuff\n",
               X_Merge_Type="dict(recurse_array,recurse_str)+list(append)+str(append)")
    p3 = _part("cloud-config", "\n#cloud-config\ne:\n - 1\n - 2\n - 3\np: 1\n")
    cfg = userdata.parse(_mime(p1, p2, p3)).cloud_config
    assert cfg["run"] == ["b", "c", "stuff", "morestuff"]
    assert cfg["a"] == "be" and cfg["e"] == [1, 2, 3] and cfg["p"] == 1


def test_unhandled_plain_text_is_warned_and_nothing_applied():
    ud = userdata.parse("arbitrary text\n")
    assert ud.cloud_config == {} and ud.scripts == [] and len(ud.problems) == 1


def test_gzipped_mime_parts():
    msg = MIMEMultipart("test")
    msg.attach(MIMEApplication(gzip.compress(b"\n#cloud-config\na: 2\n"), "gzip"))
    msg.attach(MIMEApplication(gzip.compress(b"\n#cloud-config\nb: 3\nc: 4\n"), "gzip"))
    assert userdata.parse(str(msg)).cloud_config == {"a": 2, "b": 3, "c": 4}


def test_mime_text_plain_without_a_header_is_warned():
    m = MIMEBase("text", "plain")
    m.set_payload("Just text")
    ud = userdata.parse(m.as_string().encode())
    assert ud.cloud_config == {} and ud.scripts == [] and len(ud.problems) == 1


def test_scripts_raw_as_x_shellscript_and_as_text_plain_are_kept_verbatim_without_warnings():
    script = "#!/bin/sh\necho hello\n"
    for raw in (script, _part("x-shellscript", script).as_string(), _part("plain", script).as_string()):
        ud = userdata.parse(raw)
        assert [p.payload.decode() for p in ud.scripts] == [script] and ud.problems == []


def test_application_octet_stream_is_warned():
    m = MIMEBase("application", "octet-stream")
    m.set_payload(b"\xbf\xe6\xb2\xc3\xd3\xba\x13\xa4\xd8\xa1\xcc")
    encoders.encode_base64(m)
    ud = userdata.parse(m.as_string().encode())
    assert ud.cloud_config == {} and ud.scripts == [] and len(ud.problems) == 1


def test_cloud_config_archive_with_a_non_decodable_entry():
    data = [{"content": "#cloud-config\npassword: gocubs\n"}, {"content": "#cloud-config\nlocale: chicago\n"},
            {"content": b"\x11\xc9\xb4gTH\xee\x12"}]
    ud = userdata.parse(b"#cloud-config-archive\n" + yaml.safe_dump(data).encode())
    assert ud.cloud_config == {"password": "gocubs", "locale": "chicago"}


# --- ## template: jinja (test_builtin_handlers.py) ---------------------------------------------------------

def test_jinja_script_rendered_from_instance_data():
    ud = userdata.parse('## template: jinja  \n#!/bin/bash\n{{ topkey.subkey|default("nosubkey") }}',
                        template_vars={"topkey": {"subkey": "echo himom"}})
    assert [p.payload for p in ud.scripts] == [b"#!/bin/bash\necho himom"] and ud.problems == []


def test_jinja_missing_variable_is_marked_and_warned_and_the_part_kept():
    ud = userdata.parse("## template: jinja  \n#!/bin/bash\n{{ goodtry }}", template_vars={"topkey": {}})
    assert [p.payload for p in ud.scripts] == [b"#!/bin/bash\nCI_MISSING_JINJA_VAR/goodtry"]
    assert any("goodtry" in w for w in ud.problems)


def test_jinja_header_with_trailing_blanks_and_cloud_config_subkey():
    ud = userdata.parse("## template: jinja   \t \n#cloud-config\nk: {{ topkey.sub }}\n",
                        template_vars={"topkey": {"sub": "v"}})
    assert ud.cloud_config == {"k": "v"}


def test_jinja_unsafe_attribute_access_is_refused_and_the_part_skipped():
    ud = userdata.parse("## template: jinja\n{{ ''.__class__.__mro__[1].__subclasses__()[:3] }}", template_vars={})
    assert ud.scripts == [] and ud.cloud_config == {} and "__class__" in ud.problems[0]


def test_jinja_without_instance_data_is_skipped_with_a_reason():
    ud = userdata.parse("## template: jinja  \n#!/bin/bash\necho himom")
    assert ud.scripts == [] and "instance-data" in ud.problems[0]


def test_jinja_variables_aliases_for_operator_keys():
    assert jinja_render.variables({"my-key": "my-val"}) == {"my-key": "my-val", "my_key": "my-val"}
    assert jinja_render.variables({"my.key": "my.val"}) == {"my.key": "my.val", "my_key": "my.val"}
    assert jinja_render.variables({"my/key": "my/val"}) == {"my/key": "my/val", "my_key": "my/val"}


def test_jinja_versioned_keys_are_promoted_newest_wins():
    data = {"ds": {"dskey1": 1, "dskey2": 2}, "v1": {"v1key1": "v1.1"}, "v2": {"v2key1": "v2.1"}}
    assert jinja_render.variables(data) == {**data, "v1key1": "v1.1", "v2key1": "v2.1"}
    data = {"v1": {"key1": "old v1 key1", "key2": "old v1 key2"},
            "v2": {"key1": "newer v2 key1", "key3": "newer v2 key3"}, "v3": {"key1": "newest v3 key1"}}
    assert jinja_render.variables(data) == {**data, "key1": "newest v3 key1", "key2": "old v1 key2",
                                            "key3": "newer v2 key3"}


def test_jinja_render_missing_variable():
    out, warns = jinja_render.render(b"## template: jinja\n#!/bin/sh\necho hi from {{ NOTHERE }}",
                                     jinja_render.variables({"v1": {"hostname": "foo"}, "instance-id": "iid"}),
                                     "myfile")
    assert out == b"#!/bin/sh\necho hi from CI_MISSING_JINJA_VAR/NOTHERE" and "NOTHERE" in warns[0]
    out, _ = jinja_render.render(b"## template: jinja\n#!/bin/sh\necho hi from {{ v1.hostname }} {{ instance_id }}",
                                 jinja_render.variables({"v1": {"hostname": "foo"}, "instance-id": "iid"}), "f")
    assert out == b"#!/bin/sh\necho hi from foo iid"


# --- #include (TestConsumeUserDataHttp) ------------------------------------------------------------------

def test_include_lines_and_once_mode_follow_cloud_inits_rules():
    seen = []

    def fetch(url, once):
        seen.append((url, once))
        if "bad" in url:
            from blockprov.boot.include_fetch import IncludeError

            raise IncludeError(f"GET {url}: HTTP 403")
        return b"#cloud-config\nincluded: true\n"

    ud = userdata.parse("#include\nhttp://bad/forbidden\nhttp://hostname/path", fetch=fetch)
    assert ud.cloud_config == {"included": True} and len(ud.problems) == 1 and "403" in ud.problems[0]
    seen.clear()
    userdata.parse("#include-once http://a/1\nhttp://a/2\n# comment\n\n#include http://a/3\nhttp://a/4\n", fetch=fetch)
    assert seen == [("http://a/1", True), ("http://a/2", True), ("http://a/3", False), ("http://a/4", False)]


# --- deliberate differences (docs/datasources.md, "Differences from cloud-init") ----------------------------

def test_difference_include_fetches_only_http_and_https(tmp_path):
    import pytest

    from blockprov.boot.include_fetch import IncludeError, IncludeFetcher

    f = IncludeFetcher(tmp_path / "urlcache")
    for url in ("file:///etc/passwd", "/etc/passwd", "ftp://example.invalid/x"):
        with pytest.raises(IncludeError, match="only http:// and https://"):
            f(url, once=False)
    ud = userdata.parse("#include\nfile:///etc/shadow\n", fetch=f)
    assert ud.cloud_config == {} and "only http:// and https://" in ud.problems[0]


def test_difference_include_once_mime_type_makes_every_line_once():
    seen = []
    userdata.parse(_mime(_part("x-include-once-url", "http://a/1\nhttp://a/2\n")),
                   fetch=lambda url, once: seen.append((url, once)) or b"")
    assert seen == [("http://a/1", True), ("http://a/2", True)]


def test_difference_include_fan_out_and_depth_are_bounded(tmp_path):
    """An include that includes itself stops at the depth limit with a problem; cloud-init would loop."""
    calls = []

    def fetch(url, once):
        calls.append(url)
        return b"#include\nhttp://loop/\n"

    ud = userdata.parse("#include\nhttp://loop/\n", fetch=fetch)
    assert len(calls) <= 9 and any("nested too deeply" in p for p in ud.problems), ud.problems
