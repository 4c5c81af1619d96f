"""phone_home: POST the instance id, host name and ssh host keys to a URL once the instance is up.

Form-encoded, as cloud-init sends it, so existing receivers work. ``tries``
(default 10, at most 20) bounds the attempts; connection errors and 408, 429
and 5xx answers are retried with exponential backoff (0.5 s, 1 s, 2 s, …,
at most 10 s apart), each attempt timing out after ``timeout`` seconds
(default 10). Giving up is a warning: the instance is still fine.
"""

from __future__ import annotations

from blockprov.modules import ModuleWarning
from blockprov.modules._meta import ModuleMeta

KEYS = ("pub_key_rsa", "pub_key_ecdsa", "pub_key_ed25519", "instance_id", "hostname", "fqdn")
SCHEMA = {"type": "object", "properties": {"phone_home": {
    "type": "object", "required": ["url"], "additionalProperties": False, "properties": {
        "url": {"type": "string", "pattern": "^https?://"},
        "post": {"oneOf": [{"const": "all"}, {"type": "array", "items": {"enum": list(KEYS)}}]},
        "tries": {"type": "integer", "minimum": 1, "maximum": 20},
        "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 120}}}}}

META = ModuleMeta(
    "phone_home",
    frequency="per-instance",
    description="post instance id and ssh host keys to a URL",
    rerunnable=False,
    schema=SCHEMA,
)


def payload(ctx, post) -> dict[str, str]:
    """The form fields; a key file that is missing sends "N/A" (as cloud-init does)."""
    names = KEYS if post in (None, "all") else post
    host = ctx.cfg.get("hostname") or getattr(ctx.datasource, "local_hostname", None) or ""
    values = {"instance_id": ctx.iid, "hostname": host.split(".")[0],
              "fqdn": ctx.cfg.get("fqdn") or host}
    for t in ("rsa", "ecdsa", "ed25519"):
        try:
            values[f"pub_key_{t}"] = ctx.paths.inside(f"/etc/ssh/ssh_host_{t}_key.pub").read_text().strip()
        except OSError:
            values[f"pub_key_{t}"] = "N/A"
    return {k: values[k] for k in names}


def handle(ctx, args):
    spec = args.get("phone_home", ctx.cfg.get("phone_home"))
    if not spec:
        return ""
    import urllib3

    url = spec["url"].replace("${INSTANCE_ID}", ctx.iid).replace("$INSTANCE_ID", ctx.iid)
    tries = int(spec.get("tries", 10))
    retry = urllib3.Retry(total=tries - 1, connect=tries - 1, read=tries - 1, status=tries - 1,
                          backoff_factor=0.5, backoff_max=10, allowed_methods=None,
                          status_forcelist=(408, 429, 500, 502, 503, 504), raise_on_status=True)
    pool = urllib3.PoolManager(timeout=urllib3.Timeout(total=float(spec.get("timeout", 10))), retries=retry)
    try:
        r = pool.request_encode_body("POST", url, fields=payload(ctx, spec.get("post")), encode_multipart=False)
    except urllib3.exceptions.HTTPError as exc:
        raise ModuleWarning(f"$.phone_home.url: {url}: gave up after {tries} tries: {exc}") from None
    if r.status >= 400:
        raise ModuleWarning(f"$.phone_home.url: {url} answered {r.status}")
    return f"posted to {url}: {r.status}"
