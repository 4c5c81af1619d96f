"""``blockprov-engine``: serve, serve-local, build-seed and definition housekeeping.

Exit codes: 0 done, 1 failed (I/O, database), 2 bad input (nothing written).
Heavy modules (aiohttp, psycopg, jsonschema, yaml, pycdlib) load only in the
command that needs them.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
from pathlib import Path

from blockprov_engine.inputs import UsageError, load_doc

DEFAULT_DB = "/var/lib/blockprov-engine/engine.db"
DEFAULT_LISTEN = "127.0.0.1:8775"
TOKEN_ENV = "BLOCKPROV_ENGINE_TOKEN"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="blockprov-engine",
                                description="Instance definitions, seed images, and the metadata/storagedata service.")
    sub = p.add_subparsers(dest="cmd", required=True)

    def db(sp):
        sp.add_argument("--db", default=os.environ.get("BLOCKPROV_ENGINE_DB", DEFAULT_DB),
                        help=f"sqlite path or postgresql:// URL (default $BLOCKPROV_ENGINE_DB or {DEFAULT_DB})")

    s = sub.add_parser("serve", help="the metadata service, management API and events feed")
    db(s)
    s.add_argument("--listen", action="append", metavar="ADDR:PORT",
                   help=f"address to bind (repeatable; default {DEFAULT_LISTEN}); a wildcard needs --allow-wildcard")
    s.add_argument("--allow-wildcard", action="store_true", help="allow 0.0.0.0 or :: in --listen")
    s.add_argument("--token-file", help=f"bearer tokens, one per line (else ${TOKEN_ENV})")
    s.add_argument("--instance-identity", choices=["address", "signed", "header"], default="address",
                   help="how a metadata or event request names its instance: its source address (default); "
                        "a Blockprov-Instance-Id header with a valid HMAC signature (signed, needs "
                        "--instance-secret-file); or the bare header, trusted (header: one host, tests)")
    s.add_argument("--instance-secret-file", help="the shared secret for --instance-identity signed and for the "
                                                  "channel secrets of instances (first line)")
    s.add_argument("--channel-endpoint", metavar="URL",
                   help="put an event-channel reporting entry (this URL and the instance's own secret) into every "
                        "instance's vendor-data, e.g. ws://192.0.2.1:8775/v1/channel")
    s.add_argument("--channel-listen", action="append", metavar="ADDR",
                   help="also accept event-channel connections here: unix:/PATH, tcp:HOST:PORT, vsock:PORT "
                        "(the WebSocket at /v1/channel is always served); repeatable")
    s.add_argument("--no-instance-header", action="store_true",
                   help="the same as --instance-identity address (the default; kept for old scripts)")
    s.add_argument("--max-body", type=int, default=1 << 20, help="request body limit in bytes (default 1 MiB)")

    s = sub.add_parser("serve-local", help="serve one instance's metadata and storagedata from files")
    s.add_argument("--storagedata", required=True, help="storage v1 config (YAML or JSON); re-read when it changes")
    s.add_argument("--definition", help="instance definition file (the rest of the metadata)")
    s.add_argument("--instance-id", help="instance id when there is no definition (default: /etc/machine-id)")
    s.add_argument("--listen", action="append", metavar="ADDR:PORT", help=f"default {DEFAULT_LISTEN}")
    s.add_argument("--allow-wildcard", action="store_true")

    s = sub.add_parser("build-seed", help="write a config-2, NoCloud or Azure seed image (ISO9660)")
    s.add_argument("id", nargs="?", help="instance id in the store (or give --definition)")
    db(s)
    s.add_argument("--definition", help="build from this definition file instead of the store")
    s.add_argument("--format", required=True, choices=["config-2", "nocloud", "azure"])
    s.add_argument("--channel-endpoint", metavar="URL", help="put an event-channel reporting entry into the seed's "
                                                             "vendor-data (needs --instance-secret-file)")
    s.add_argument("--instance-secret-file", help="the engine's instance secret: the instance's channel secret is "
                                                  "its signature under it")
    s.add_argument("-o", "--output", required=True, help="image file to write")

    s = sub.add_parser("validate", help="check a definition file; exit 0 valid, 2 invalid")
    s.add_argument("file")
    s.add_argument("--json", action="store_true")

    s = sub.add_parser("define", help="create or replace an instance from a definition file")
    db(s)
    s.add_argument("file")
    s = sub.add_parser("list", help="list instances")
    db(s)
    s = sub.add_parser("show", help="print one instance's stored definition")
    db(s)
    s.add_argument("id")
    s = sub.add_parser("delete", help="delete an instance")
    db(s)
    s.add_argument("id")
    sub.add_parser("token", help="print a new random bearer token")
    s = sub.add_parser("sign", help="print the Blockprov-Instance-Id-Signature value for an instance id")
    s.add_argument("--instance-secret-file", required=True)
    s.add_argument("id")
    return p


def _checked(path: str) -> dict:
    from blockprov_engine import definition

    doc = load_doc(path)
    problems = definition.validate(doc)
    if problems:
        raise UsageError("\n".join(f"{path}: {p}" for p in problems))
    return doc


def _hasher():
    from blockprov.boot.passwords import sha512

    return sha512


def listen_addrs(given: list[str] | None, allow_wildcard: bool) -> list[tuple[str, int]]:
    out = []
    for item in given or [DEFAULT_LISTEN]:
        host, sep, port = item.rpartition(":")
        host = host.strip("[]")
        try:
            addr = ipaddress.ip_address(host)
            if not sep or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError
        except ValueError:
            raise UsageError(f"--listen {item!r}: expected ADDR:PORT with an IP address") from None
        if addr.is_unspecified and not allow_wildcard:
            raise UsageError(f"--listen {item!r}: a wildcard address serves every network; "
                             "give a loopback or link-local address, or add --allow-wildcard")
        out.append((str(addr), int(port)))
    return out


def _tokens(args) -> list[str]:
    if args.token_file:
        try:
            lines = Path(args.token_file).read_text().split()
        except OSError as exc:
            raise UsageError(f"--token-file {args.token_file}: {exc.strerror}") from None
    else:
        lines = os.environ.get(TOKEN_ENV, "").split()
    if not lines:
        raise UsageError(f"serve needs a bearer token for its management API: --token-file FILE or ${TOKEN_ENV}")
    if any(len(t) < 16 for t in lines):
        raise UsageError("bearer tokens must be at least 16 characters (blockprov-engine token makes one)")
    return lines


def _run_app(app, addrs) -> None:
    """Serve until SIGTERM or SIGINT, then shut down cleanly (exit 0)."""
    import socket

    from aiohttp import web

    socks = []
    for host, port in addrs:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        socks.append(socket.create_server((host, port), family=family, backlog=2048, reuse_port=False))
        print(f"blockprov-engine: listening on http://{host if ':' not in host else f'[{host}]'}:{port}", flush=True)
    web.run_app(app, sock=socks, access_log=None, print=None, handle_signals=True, shutdown_timeout=5)


def cmd_serve(args) -> int:
    from blockprov_engine.server import Engine

    addrs = listen_addrs(args.listen, args.allow_wildcard)
    tokens = _tokens(args)
    store = _store(args)
    identity = "address" if args.no_instance_header else args.instance_identity
    secret = None
    if identity == "signed" and not args.instance_secret_file:
        raise SystemExit("blockprov-engine: --instance-identity signed needs --instance-secret-file")
    if args.instance_secret_file:  # also the key of every instance's channel secret
        try:
            with open(args.instance_secret_file, "rb") as f:
                secret = f.readline().strip()
        except OSError as exc:
            raise SystemExit(f"blockprov-engine: {args.instance_secret_file}: {exc.strerror}") from None
        if len(secret) < 16:
            raise SystemExit("blockprov-engine: the instance secret must have at least 16 bytes")
    try:
        engine = Engine(store, tokens=tokens, identity=identity, hasher=_hasher(), max_body=args.max_body,
                        secret=secret, channel_listen=args.channel_listen, channel_endpoint=args.channel_endpoint)
    except ValueError as exc:
        raise SystemExit(f"blockprov-engine: {exc}") from None
    _run_app(engine.app(), addrs)
    return 0


def cmd_serve_local(args) -> int:
    from blockprov_engine.local import LocalSource
    from blockprov_engine.server import Engine

    addrs = listen_addrs(args.listen, args.allow_wildcard)
    src = LocalSource(Path(args.storagedata), Path(args.definition) if args.definition else None, args.instance_id)
    src.load()
    engine = Engine(local=src.entry)
    app = engine.app()
    src.attach(engine, app)
    _run_app(app, addrs)
    return 0


def _db(url: str) -> str:
    if "://" not in url and not url.startswith("host="):
        Path(url).parent.mkdir(parents=True, exist_ok=True)
    return url


def _store(args):
    from blockprov_engine.store import open_store

    return open_store(_db(args.db))


def cmd_build_seed(args) -> int:
    from blockprov_engine import definition, seed

    if args.definition:
        doc = definition.stored(_checked(args.definition), _hasher(), args.id)
    elif args.id:
        rec = _store(args).get(args.id)
        if rec is None:
            print(f"blockprov-engine: no instance {args.id!r} in {args.db}", file=sys.stderr)
            return 1
        doc = rec.doc
    else:
        raise UsageError("build-seed needs an instance id or --definition FILE")
    if args.channel_endpoint:
        from blockprov_engine import render
        from blockprov_engine.signing import sign

        if not args.instance_secret_file:
            raise UsageError("--channel-endpoint needs --instance-secret-file")
        with open(args.instance_secret_file, "rb") as f:
            doc, warning = render.with_channel(doc, args.channel_endpoint, sign(f.readline().strip(), doc["id"]))
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    for w in seed.build(doc, args.format, Path(args.output)):
        print(f"warning: {w}", file=sys.stderr)
    print(f"{args.output}: {args.format} seed for instance {doc['id']}")
    return 0


def cmd_validate(args) -> int:
    from blockprov_engine import definition

    problems = definition.validate(load_doc(args.file))
    if args.json:
        print(json.dumps({"valid": not problems, "problems": [p.to_json() for p in problems]}, indent=1))
    else:
        for p in problems:
            print(f"{args.file}: {p}")
        if not problems:
            print(f"{args.file}: valid")
    return 2 if problems else 0


def cmd_define(args) -> int:
    from blockprov_engine import definition
    from blockprov_engine.store import Conflict

    doc = definition.stored(_checked(args.file), _hasher())
    store = _store(args)
    owners = {a: r.id for r in store.list() for a in r.doc.get("source_addresses") or []}
    taken = definition.address_problems(doc, owners)
    if taken:
        raise UsageError("\n".join(f"{args.file}: {p}" for p in taken))
    try:
        rec = store.create(doc)
        verb = "created"
    except Conflict:
        rec = store.replace(doc["id"], doc)
        verb = "replaced"
    print(f"{rec.id}: {verb} (version {rec.version})")
    return 0


def cmd_list(args) -> int:
    for r in _store(args).list():
        print(f"{r.id}\t{r.doc.get('hostname', '')}\tversion {r.version}")
    return 0


def cmd_show(args) -> int:
    rec = _store(args).get(args.id)
    if rec is None:
        print(f"blockprov-engine: no instance {args.id!r}", file=sys.stderr)
        return 1
    print(json.dumps(rec.doc, indent=1, sort_keys=True))
    return 0


def cmd_delete(args) -> int:
    from blockprov_engine.store import NotFound

    try:
        _store(args).delete(args.id)
    except NotFound:
        print(f"blockprov-engine: no instance {args.id!r}", file=sys.stderr)
        return 1
    print(f"{args.id}: deleted")
    return 0


def cmd_sign(args) -> int:
    from blockprov_engine.server import sign

    with open(args.instance_secret_file, "rb") as f:
        print(sign(f.readline().strip(), args.id))
    return 0


def cmd_token(args) -> int:
    import secrets

    print(secrets.token_urlsafe(32))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    fn = {"serve": cmd_serve, "serve-local": cmd_serve_local, "build-seed": cmd_build_seed,
          "validate": cmd_validate, "define": cmd_define, "list": cmd_list, "show": cmd_show,
          "delete": cmd_delete, "token": cmd_token, "sign": cmd_sign}[args.cmd]
    try:
        return fn(args)
    except UsageError as exc:
        print(f"blockprov-engine: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"blockprov-engine: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
