"""User-data and vendor-data: unwrap, split into parts, parse cloud-config (pure).

Accepted: ``#cloud-config`` YAML, ``#cloud-config-jsonp`` (a JSON patch),
``#!`` scripts, ``#cloud-boothook``, ``#cloud-config-archive``, ``#include`` /
``#include-once``, ``## template: jinja``, MIME multipart (any nesting, mbox
style too), and any of these wrapped in gzip and/or base64. A broken part is
reported and skipped; the rest still applies. Fetching an include is the one
effect, and it is the caller's (include_fetch.py), passed in.
"""

from __future__ import annotations

import base64
import binascii
import re
import zlib
from dataclasses import dataclass, field

MAX_BYTES = 16 << 20  # after every unwrap; more is refused, not truncated

MIME_TYPES = {
    "text/cloud-config": "cloud-config",
    "text/x-shellscript": "script",
    "text/x-shellscript-per-boot": "script-per-boot",
    "text/x-shellscript-per-instance": "script-per-instance",
    "text/x-shellscript-per-once": "script-per-once",
    "text/cloud-boothook": "boothook",
    "text/cloud-config-archive": "cloud-config-archive",
    "text/x-include-url": "include",
    "text/x-include-once-url": "include-once",
    "text/cloud-config-jsonp": "cloud-config-jsonp",
    "text/jinja2": "jinja",
    "text/part-handler": "part-handler",
}
STARTS = [
    (b"#cloud-config-archive", "cloud-config-archive"),
    (b"#cloud-config-jsonp", "cloud-config-jsonp"),
    (b"#cloud-config", "cloud-config"),
    (b"#cloud-boothook", "boothook"),
    (b"#include", "include"),
    (b"#part-handler", "part-handler"),
    (b"## template: jinja", "jinja"),
    (b"#!", "script"),
    (b"content-type:", "mime"),
    (b"mime-version:", "mime"),
]
SCRIPT_KINDS = ("script", "script-per-boot", "script-per-instance", "script-per-once")
_B64 = re.compile(rb"^[A-Za-z0-9+/=\s]+$")


@dataclass
class Part:
    kind: str
    name: str
    payload: bytes
    merge: str | None = None  # the part's X-Merge-Type header (cloud-init's merger spec)


@dataclass
class UserData:
    cloud_config: dict = field(default_factory=dict)
    scripts: list[Part] = field(default_factory=list)  # kind tells when it runs
    boothooks: list[Part] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)  # URLs named by #include parts (followed or not)

    def to_json(self) -> dict:
        return {"cloud_config": self.cloud_config, "problems": self.problems,
                "scripts": [{"kind": p.kind, "name": p.name, "bytes": len(p.payload)} for p in self.scripts],
                "boothooks": [p.name for p in self.boothooks]}


def _gunzip(data: bytes) -> bytes:
    from blockprov.limits import gunzip

    return gunzip(data, "gzip payload", MAX_BYTES)


def unwrap(data: bytes) -> bytes:
    """Peel gzip and base64 layers (at most four) until a known format shows."""
    for _ in range(4):
        if data[:2] == b"\x1f\x8b":
            try:
                data = _gunzip(data)
            except (zlib.error, EOFError) as exc:
                raise ValueError(f"corrupt gzip payload: {exc}") from None
            continue
        head = data.lstrip()[:64].lower()
        if any(head.startswith(s) for s, _ in STARTS) or not data.strip():
            return data
        if len(data) < MAX_BYTES and _B64.match(data):
            try:
                dec = base64.b64decode(b"".join(data.split()), validate=True)
            except (binascii.Error, ValueError):
                return data
            if dec[:2] == b"\x1f\x8b" or any(dec.lstrip()[:64].lower().startswith(s) for s, _ in STARTS):
                data = dec
                continue
        return data
    return data


def sniff(data: bytes) -> str | None:
    from blockprov.boot.jinja_render import is_template

    if is_template(data.lstrip()):
        return "jinja"  # "## template:jinja" and "##template: jinja" too, as cloud-init's templater reads it
    head = data.lstrip()[:64].lower()
    for start, kind in STARTS:
        if head.startswith(start):
            return kind
    if b"mime-version:" in data[:4096].lower():
        return "mime"  # as cloud-init finds it: an mbox-style message starts with a "From ..." line
    return None


B64_OF = {"": "b64", "text/plain": "b64", "b64": "b64", "base64": "b64", "gz": "gz+b64", "gzip": "gz+b64"}


def binary_as_base64(doc: dict) -> dict:
    """YAML ``!!binary`` gives bytes, which the saved config (JSON) cannot hold: a write_files entry's bytes
    content becomes base64 text with the encoding that says so (``gzip`` + bytes -> ``gz+b64``), so the file gets
    exactly those bytes."""
    import base64

    for key in ("write_files",):
        entries = doc.get(key)
        if not isinstance(entries, list):
            continue
        fixed = []
        for e in entries:
            if isinstance(e, dict) and isinstance(e.get("content"), (bytes, bytearray)):
                enc = str(e.get("encoding") or "").lower()
                e = {**e, "content": base64.b64encode(bytes(e["content"])).decode(),
                     "encoding": B64_OF.get(enc, enc)}
            fixed.append(e)
        doc = {**doc, key: fixed}
    return doc


def load_yaml(text: bytes | str, source: str = "YAML"):
    """YAML within blockprov.limits (depth checked before parsing, aliases counted after)."""
    from blockprov.limits import load_yaml as bounded

    return bounded(text, source)


def parse(raw: bytes | str | None, source: str = "user-data", fetch=None, template_vars: dict | None = None,
          offline: bool = False) -> UserData:
    """Parse user-data. ``fetch(url, once) -> bytes`` gets ``#include`` URLs (include_fetch.py; None: includes
    are reported, not followed; ``offline``: they wait for a later parse with the network, silently);
    ``template_vars`` are the instance-data a ``## template: jinja`` part is rendered with."""
    from blockprov.boot.merge import MergeSpecError, merge_how, parse_how

    ud = UserData()
    if raw is None or raw == b"" or raw == "":
        return ud
    data = raw.encode() if isinstance(raw, str) else bytes(raw)
    if len(data) > MAX_BYTES:
        ud.problems.append(f"{source}: {len(data)} bytes is over the {MAX_BYTES >> 20} MiB limit; ignored")
        return ud
    walk = _Walk(ud.problems, fetch, template_vars, offline)
    _split(data, source, walk, depth=0)
    ud.includes = walk.includes
    for p in walk.out:
        if p.kind == "cloud-config":
            try:
                obj = load_yaml(p.payload, p.name)
            except Exception as exc:  # noqa: BLE001 - yaml raises many types; report and skip
                ud.problems.append(f"{p.name}: invalid cloud-config YAML: {_one_line(exc)}")
                continue
            if obj is None:
                continue
            if not isinstance(obj, dict):
                ud.problems.append(f"{p.name}: cloud-config must be a mapping, got {type(obj).__name__}")
                continue
            # cloud-init: the part's merge_how/merge_type key, else its X-Merge-Type header, else the default
            spec = obj.pop("merge_how", None) or obj.pop("merge_type", None) or p.merge
            try:
                how = parse_how(spec)
            except MergeSpecError as exc:
                ud.problems.append(f"{p.name}: {exc}; the default merge is used")
                how = parse_how(None)
            ud.cloud_config = merge_how(ud.cloud_config, binary_as_base64(obj), how)
        elif p.kind == "cloud-config-jsonp":
            ud.cloud_config = _patched(ud.cloud_config, p, ud.problems)
        elif p.kind in SCRIPT_KINDS:
            ud.scripts.append(p)
        elif p.kind == "boothook":
            ud.boothooks.append(p)
        elif p.kind == "part-handler":
            ud.problems.append(f"{p.name}: part-handlers (Python code that handles other parts) are refused; "
                               "part skipped")
        else:
            ud.problems.append(f"{p.name}: unrecognised format (first bytes {p.payload[:16]!r}); part skipped")
    return ud


def _patched(cfg: dict, p: Part, problems: list[str]) -> dict:
    """cloud-init's ``#cloud-config-jsonp``: an RFC 6902 JSON patch applied to the cloud-config merged so far."""
    import json

    import jsonpatch

    text = p.payload.lstrip()
    text = text[len(b"#cloud-config-jsonp"):] if text.lower().startswith(b"#cloud-config-jsonp") else text
    try:
        patch = jsonpatch.JsonPatch(json.loads(text))
        out = patch.apply(cfg, in_place=False)
    except (ValueError, TypeError, jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        problems.append(f"{p.name}: JSON patch not applied: {_one_line(exc)}")
        return cfg
    if not isinstance(out, dict):
        problems.append(f"{p.name}: JSON patch would make the cloud-config a {type(out).__name__}; not applied")
        return cfg
    return out


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())[:300]


@dataclass
class _Walk:
    """What splitting carries along: the parts found, the problems, and the shell's two helpers."""
    problems: list[str]
    fetch: object = None
    template_vars: dict | None = None
    offline: bool = False
    out: list[Part] = field(default_factory=list)
    includes: list[str] = field(default_factory=list)


def _split(data: bytes, name: str, walk: _Walk, depth: int) -> None:
    if depth > 8:
        walk.problems.append(f"{name}: nested too deeply; skipped")
        return
    try:
        data = unwrap(data)
    except ValueError as exc:
        walk.problems.append(f"{name}: {exc}; skipped")
        return
    kind = sniff(data)
    if kind == "mime":
        _split_mime(data, name, walk, depth)
    elif kind == "cloud-config-archive":
        _split_archive(data, name, walk, depth)
    elif kind == "jinja":
        _render(data, name, walk, depth)
    elif kind == "include":
        _include(data, name, walk, depth, once=False)
    elif kind is None and not data.strip():
        return
    else:
        walk.out.append(Part(kind or "unknown", name, data))


def _render(data: bytes, name: str, walk: _Walk, depth: int) -> None:
    from blockprov.boot import jinja_render

    if walk.template_vars is None:
        walk.problems.append(f"{name}: jinja template but no instance-data to render it with; part skipped")
        return
    try:
        out, warns = jinja_render.render(data, jinja_render.variables(walk.template_vars), name)
    except jinja_render.TemplateError as exc:
        walk.problems.append(f"{exc}; part skipped")
        return
    walk.problems.extend(warns)
    _split(out, name, walk, depth + 1)


def _include(data: bytes, name: str, walk: _Walk, depth: int, once: bool) -> None:
    """cloud-init's rules: one URL per line; ``#include`` and ``#include-once`` may head any line and switch
    once-mode for that line and the ones after it; other ``#`` lines and blank lines are ignored. Each URL's
    content is user-data of any kind (MIME, cloud-config, a script, another include...)."""
    from blockprov.boot.include_fetch import IncludeError

    try:
        text = data.decode()
    except UnicodeDecodeError:
        walk.problems.append(f"{name}: include list is not UTF-8; skipped")
        return
    for line in text.splitlines():
        low = line.lower()
        if low.startswith("#include-once"):
            line, once = line[len("#include-once"):].lstrip(), True
        elif low.startswith("#include"):
            line, once = line[len("#include"):].lstrip(), False
        url = line.strip()
        if not url or url.startswith("#"):
            continue
        walk.includes.append(url)
        if walk.fetch is None:
            if not walk.offline:
                walk.problems.append(f"{name}: include of {url} not followed (no network fetcher here)")
            continue
        try:
            body = walk.fetch(url, once)
        except IncludeError as exc:
            walk.problems.append(f"{name}: include not fetched: {exc}")
            continue
        _split(body, url, walk, depth + 1)


def _split_mime(data: bytes, name: str, walk: _Walk, depth: int) -> None:
    import email
    import email.policy

    msg = email.message_from_bytes(data, policy=email.policy.compat32)
    if not msg.is_multipart():
        payload = _payload(msg, name, walk.problems)
        if payload is not None:
            _typed(msg.get_content_type(), payload, msg.get_filename() or name, walk, depth)
        return
    for i, part in enumerate(msg.walk()):
        if part.is_multipart():
            continue
        pname = part.get_filename() or f"{name}/part-{i:03d}"
        payload = _payload(part, pname, walk.problems)
        if payload is not None:
            before = len(walk.out)
            _typed(part.get_content_type(), payload, pname, walk, depth)
            spec = part.get("X-Merge-Type") or part.get("Merge-Type")
            for made in walk.out[before:]:
                made.merge = made.merge or (str(spec) if spec else None)


def _payload(part, name: str, problems: list[str]) -> bytes | None:
    if (part.get("Content-Transfer-Encoding") or "").strip().lower() == "base64":
        raw = part.get_payload(decode=False)
        try:
            return base64.b64decode("".join(str(raw).split()), validate=True)
        except (binascii.Error, ValueError):
            problems.append(f"{name}: Content-Transfer-Encoding base64 but the payload is not valid base64; skipped")
            return None
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _typed(ctype: str, payload: bytes, name: str, walk: _Walk, depth: int) -> None:
    kind = MIME_TYPES.get(ctype)
    if kind == "script" and sniff(payload) not in (None, "script"):
        # cloud-init's rule: a script must start with #!, so a text/x-shellscript part that starts with another
        # known header (#cloud-config...) is that, whatever its declared type
        kind = None
    if kind == "cloud-config-archive":
        _split_archive(payload, name, walk, depth + 1)
    elif kind in ("include", "include-once"):
        _include(payload, name, walk, depth + 1, once=kind == "include-once")
    elif kind == "jinja":
        _render(payload, name, walk, depth + 1)
    elif kind is not None:
        try:
            payload = unwrap(payload)
        except ValueError as exc:
            walk.problems.append(f"{name}: {exc}; skipped")
            return
        out_kind = kind
        if kind == "cloud-config" and sniff(payload) == "cloud-config-jsonp":
            out_kind = "cloud-config-jsonp"
        walk.out.append(Part(out_kind, name, payload))
    else:  # text/plain, application/octet-stream, x-gzip...: look at the content
        _split(payload, name, walk, depth + 1)


def _split_archive(data: bytes, name: str, walk: _Walk, depth: int) -> None:
    try:
        items = load_yaml(data)
    except Exception as exc:  # noqa: BLE001
        walk.problems.append(f"{name}: invalid cloud-config-archive: {_one_line(exc)}")
        return
    if not isinstance(items, list):
        walk.problems.append(f"{name}: cloud-config-archive must be a list")
        return
    for i, it in enumerate(items):
        if isinstance(it, str):
            it = {"content": it}
        if not isinstance(it, dict) or not isinstance(it.get("content"), str):
            walk.problems.append(f"{name}[{i}]: archive entry without string content; skipped")
            continue
        pname = it.get("filename") or f"{name}[{i}]"
        payload = it["content"].encode()
        if it.get("type"):
            _typed(str(it["type"]), payload, pname, walk, depth + 1)
        else:
            _split(payload, pname, walk, depth + 1)
