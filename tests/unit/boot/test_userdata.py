"""User-data formats, unwrapping and broken input (pure)."""
import base64
import gzip
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from hypothesis import given, settings
from hypothesis import strategies as st

from blockprov.boot import userdata
from blockprov.boot.merge import merge_all

CC = b"#cloud-config\nhostname: h1\nusers: [a]\n"


def mime(*parts):
    m = MIMEMultipart()
    for p in parts:
        m.attach(p)
    return m.as_bytes()


def test_cloud_config():
    ud = userdata.parse(CC)
    assert ud.cloud_config == {"hostname": "h1", "users": ["a"]} and not ud.problems


def test_script_and_boothook():
    assert [p.kind for p in userdata.parse(b"#!/bin/sh\necho hi\n").scripts] == ["script"]
    assert len(userdata.parse(b"#cloud-boothook\necho hi\n").boothooks) == 1


def test_gzip_base64_and_both():
    for raw in (gzip.compress(CC), base64.b64encode(CC), base64.b64encode(gzip.compress(CC))):
        ud = userdata.parse(raw)
        assert ud.cloud_config["hostname"] == "h1", raw[:20]


def test_mime_multipart_all_part_types_merge_in_order():
    parts = [MIMEText("#cloud-config\nhostname: a\nx: {k: 1}\n", "cloud-config"),
             MIMEText("#cloud-config\nhostname: b\nx: {j: 2}\n", "cloud-config"),
             MIMEText("#!/bin/sh\necho 1\n", "x-shellscript"),
             MIMEText("#!/bin/sh\necho boot\n", "x-shellscript-per-boot"),
             MIMEText("#!/bin/sh\necho inst\n", "x-shellscript-per-instance"),
             MIMEText("#!/bin/sh\necho once\n", "x-shellscript-per-once"),
             MIMEText("#cloud-boothook\necho hook\n", "cloud-boothook")]
    b64 = MIMEBase("text", "x-shellscript")
    b64.set_payload(base64.b64encode(b"#!/bin/sh\necho b64\n").decode())
    b64["Content-Transfer-Encoding"] = "base64"
    b64.add_header("Content-Disposition", "attachment", filename="named.sh")
    ud = userdata.parse(mime(*parts, b64))
    assert ud.cloud_config == {"hostname": "b", "x": {"j": 2}}  # cloud-init's default: dict(replace)+list()+str()
    assert [p.kind for p in ud.scripts] == ["script", "script-per-boot", "script-per-instance", "script-per-once",
                                            "script"]
    assert ud.scripts[-1].name == "named.sh" and ud.scripts[-1].payload == b"#!/bin/sh\necho b64\n"
    assert len(ud.boothooks) == 1 and not ud.problems


def test_cloud_config_archive():
    raw = b"#cloud-config-archive\n- {type: text/cloud-config, content: 'hostname: z'}\n- '#!/bin/sh\n\n  true'\n"
    ud = userdata.parse(raw)
    assert ud.cloud_config == {"hostname": "z"} and [p.kind for p in ud.scripts] == ["script"]


def test_broken_parts_are_reported_and_the_rest_applies():
    bad_b64 = MIMEBase("text", "cloud-config")
    bad_b64.set_payload("!!!not base64!!!")
    bad_b64["Content-Transfer-Encoding"] = "base64"
    raw = mime(MIMEText("#cloud-config\nhostname: ok\n", "cloud-config"),
               MIMEText("#cloud-config\nkey: [unclosed\n", "cloud-config"),
               bad_b64,
               MIMEText("#include\nhttp://example.invalid/x\n", "x-include-url"),
               MIMEText("just some words", "plain"))
    ud = userdata.parse(raw)
    assert ud.cloud_config == {"hostname": "ok"}
    text = "\n".join(ud.problems)
    assert "invalid cloud-config YAML" in text and "not valid base64" in text
    assert "include of http://example.invalid/x not followed" in text and "unrecognised format" in text
    assert len(ud.problems) == 4


def test_non_mapping_cloud_config():
    ud = userdata.parse(b"#cloud-config\n- a\n- b\n")
    assert ud.cloud_config == {} and "must be a mapping" in ud.problems[0]


def test_huge_user_data_is_refused_not_crashed():
    ud = userdata.parse(b"#cloud-config\n" + b"a" * (userdata.MAX_BYTES + 1))
    assert ud.cloud_config == {} and "over the 16 MiB limit" in ud.problems[0]


def test_gzip_bomb_is_refused():
    bomb = gzip.compress(b"#cloud-config\n" + b" " * (userdata.MAX_BYTES + 10))
    ud = userdata.parse(bomb)
    assert ud.cloud_config == {} and "expands past" in ud.problems[0]


def test_corrupt_gzip():
    ud = userdata.parse(gzip.compress(CC)[:20])
    assert "corrupt gzip" in ud.problems[0] or "unrecognised" in ud.problems[0]


def test_yaml_alias_bomb_is_refused():
    lines = ["#cloud-config", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    ud = userdata.parse("\n".join(lines).encode())
    assert ud.cloud_config == {} and "nodes (YAML aliases" in ud.problems[0]


def test_merge_precedence_replaces_lists_and_merges_mappings():
    out = merge_all({"a": 1, "l": [1], "d": {"x": 1, "y": 1}}, {"l": [2]}, None, {"d": {"y": 2}, "a": 3})
    assert out == {"a": 3, "l": [2], "d": {"x": 1, "y": 2}}


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=2048))
def test_any_bytes_give_a_result_never_an_exception(raw):
    ud = userdata.parse(raw)
    assert isinstance(ud.cloud_config, dict)


def test_mbox_style_mime_and_mistyped_parts_as_cloud_init_reads_them():
    """issue 21: a message with a "From ..." first line is MIME (cloud-init looks for mime-version: in the first
    4 KiB); a text/x-shellscript part whose content is #cloud-config is cloud-config; a part-handler is refused
    with a warning naming it."""
    from blockprov.boot import userdata

    msg = (b"From nobody Thu Jan  1 00:00:00 1970\n"
           b"Content-Type: multipart/mixed; boundary=\"XX\"\nMIME-Version: 1.0\n\n"
           b"--XX\nContent-Type: text/x-shellscript\n\n#cloud-config\nmarker: from-mistyped-part\n"
           b"--XX\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho real script\n"
           b"--XX\nContent-Type: text/part-handler\n\n#part-handler\ndef handle_part(*a): pass\n"
           b"--XX--\n")
    ud = userdata.parse(msg)
    assert ud.cloud_config == {"marker": "from-mistyped-part"}
    assert [p.payload.splitlines()[0] for p in ud.scripts] == [b"#!/bin/sh"]
    assert any("part-handlers" in p and "refused" in p for p in ud.problems), ud.problems



def test_merge_how_and_x_merge_type_as_cloud_init():
    """cloud-init's mergers between parts: the default replaces top-level values; merge_how (in the part) or
    X-Merge-Type (its MIME header) say append, prepend, recurse or no_replace."""
    from email.mime.multipart import MIMEMultipart
    from email.mime.text import MIMEText

    from blockprov.boot import userdata

    def doc(*parts):
        msg = MIMEMultipart()
        for text, header in parts:
            part = MIMEText(text, "cloud-config")
            if header:
                part["X-Merge-Type"] = header
            msg.attach(part)
        return userdata.parse(msg.as_bytes()).cloud_config

    first = "#cloud-config\nruncmd: [one]\npackages: [a]\nwrite_files: [{path: /a}]\nntp: {servers: [s1], x: 1}\n"
    assert doc((first, None), ("#cloud-config\nruncmd: [two]\nntp: {servers: [s2]}\n", None)) == {
        "runcmd": ["two"], "packages": ["a"], "write_files": [{"path": "/a"}], "ntp": {"servers": ["s2"]}}
    appended = doc((first, None), ("#cloud-config\nmerge_how: 'list(append)+dict(recurse_array,recurse_dict)+str()'"
                                   "\nruncmd: [two]\nntp: {servers: [s2]}\n", None))
    assert appended["runcmd"] == ["one", "two"] and appended["ntp"] == {"servers": ["s1", "s2"], "x": 1}
    via_header = doc((first, None), ("#cloud-config\nruncmd: [zero]\n", "list(prepend)+dict(recurse_list)+str()"))
    assert via_header["runcmd"] == ["zero", "one"]
    listed = doc((first, None), ("#cloud-config\nmerge_how: [{name: dict, settings: [no_replace, recurse_list]},"
                                 " {name: list, settings: [append]}]\nruncmd: [two]\npackages: [b]\n", None))
    assert listed["runcmd"] == ["one", "two"] and listed["packages"] == ["a", "b"]
    kept = doc((first, None), ("#cloud-config\nmerge_how: 'dict(no_replace)+list()+str()'\nruncmd: [two]\n", None))
    assert kept["runcmd"] == ["one"]
