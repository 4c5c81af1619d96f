"""HTTP: the metadata service instances read, the management API, and the events feed (aiohttp).

Instances read ``/openstack/...`` and post their reporting events to
``POST /events`` without a token: the instance is the one whose
``source_addresses`` hold the peer address (the default), or, with
``--instance-identity signed``, the one a ``Blockprov-Instance-Id`` header names
when ``Blockprov-Instance-Id-Signature`` is the HMAC-SHA256 of that id under the
engine's instance secret (as OpenStack's metadata proxy signs
``X-Instance-ID``); ``--instance-identity header`` trusts the bare header
(one host, tests). Everything under ``/v1`` and
``GET /events`` needs ``Authorization: Bearer TOKEN``. Every document carries
``ETag: "<id>.<version>"``; a GET with ``If-None-Match`` of the current ETag
and ``?wait=SECONDS`` is held until the instance changes (200) or the time
is up (304).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files as package_files

from aiohttp import web

from blockprov_engine import definition, render
from blockprov_engine.signing import sign
from blockprov_engine.store import Conflict, NotFound, Store, StoreError

HEADER = "Blockprov-Instance-Id"
SIGNATURE = "Blockprov-Instance-Id-Signature"
IDENTITIES = ("address", "signed", "header")


MAX_WAIT = 300.0
MAX_EVENT = 64 << 10
MAX_BODY = 1 << 20
FINAL_STAGE = "modules-final"
TYPES = {"meta_data.json": "application/json", "vendor_data.json": "application/json",
         "network_data.json": "application/json", "storagedata": "application/json",
         "user_data": "application/octet-stream"}
VERSION = re.compile(r"^(latest|\d{4}-\d{2}-\d{2})$")
CHANNEL = re.compile(r"^config/(set|get)/([a-z][a-z0-9_]{0,63})$")


class ApiError(Exception):
    def __init__(self, status: int, message: str, problems: list | None = None, headers: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.problems, self.headers = status, message, problems or [], headers or {}


@dataclass
class Entry:
    """One instance as the metadata service sees it; its files are rendered once per version."""

    id: str
    version: int
    doc: dict
    rendered: dict | None = None  # given by serve-local; else rendered on first use
    channel: tuple[str, bytes] | None = None  # (endpoint, engine secret): vendor-data gets the channel entry

    @property
    def etag(self) -> str:
        return f'"{self.id}.{self.version}"'

    def files(self) -> dict[str, bytes]:
        if self.rendered is None:
            doc = self.doc
            if self.channel is not None:
                doc, _warning = render.with_channel(doc, self.channel[0], sign(self.channel[1], self.id))
            self.rendered = render.openstack(doc)
        return self.rendered


class Waiters:
    """One future per key, shared by every request waiting on it: a change wakes all of them at once."""

    def __init__(self):
        self.futs: dict = {}

    async def wait(self, key, timeout: float) -> None:
        fut = self.futs.get(key)
        if fut is None or fut.done():
            fut = self.futs[key] = asyncio.get_running_loop().create_future()
        await asyncio.wait([fut], timeout=timeout)

    def wake(self, key) -> None:
        fut = self.futs.pop(key, None)
        if fut is not None and not fut.done():
            fut.set_result(None)


class Catalog:
    """Every instance in memory (the hot path never touches the database), kept current from the store."""

    def __init__(self, store: Store, channel: tuple[str, bytes] | None = None):
        self.store = store
        self.channel = channel
        self.entries: dict[str, Entry] = {}
        self.by_addr: dict[str, str] = {}
        self.since = store.last_change()
        for rec in store.list():
            self.put(rec.id, rec.version, rec.doc)

    def put(self, iid: str, version: int, doc: dict) -> None:
        old = self.entries.get(iid)
        if old is not None and old.version >= version:
            return
        self.remove(iid)
        self.entries[iid] = Entry(iid, version, doc, channel=self.channel)
        for a in doc.get("source_addresses") or []:
            self.by_addr[a] = iid

    def remove(self, iid: str) -> None:
        old = self.entries.pop(iid, None)
        for a in (old.doc.get("source_addresses") or []) if old else []:
            if self.by_addr.get(a) == iid:
                del self.by_addr[a]



def _json(data, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(body=json.dumps(data, sort_keys=True).encode(), status=status,
                        content_type="application/json", headers=headers)


def _wait_param(request) -> float:
    raw = request.query.get("wait", "0")
    try:
        wait = float(raw)
    except ValueError:
        raise ApiError(400, f"query parameter wait: {raw!r} is not a number of seconds") from None
    if not 0 <= wait <= MAX_WAIT:
        raise ApiError(400, f"query parameter wait: must be between 0 and {MAX_WAIT:g} seconds")
    return wait


def _int_param(request, name: str, default: int, hi: int = 2**62) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or int(raw) > hi:
        raise ApiError(400, f"query parameter {name}: {raw!r} is not a whole number up to {hi}")
    return int(raw)


async def _body_json(request, limit: int):
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, f"request body is {request.content_length} bytes; the limit is {limit}")
    from blockprov.limits import LimitError, load_json

    chunks, size = [], 0
    while True:  # a chunked body arrives in pieces: read to its end, never past the limit
        chunk = await request.content.read(min(64 << 10, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise ApiError(413, f"request body is over the limit of {limit} bytes")
    try:
        return load_json(b"".join(chunks), "request body")
    except LimitError as exc:
        raise ApiError(400, str(exc)) from None
    except ValueError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc}") from None


class Engine:
    """The application: routes, authentication and the change feed, for a store or one local instance."""

    def __init__(self, store: Store | None = None, tokens: list[str] | None = None, identity: str = "address",
                 hasher=None, local: Entry | None = None, max_body: int = MAX_BODY, secret: bytes | None = None,
                 channel_listen: list[str] | None = None, channel_endpoint: str | None = None):
        if identity not in IDENTITIES or (identity == "signed" and not secret):
            raise ValueError(f"instance identity {identity!r}: one of {', '.join(IDENTITIES)}; signed needs a secret")
        self.store = store
        self.tokens = [t.encode() for t in tokens or []]
        self.identity = identity
        self.secret = secret
        self.hasher = hasher
        self.local = local
        self.max_body = max_body
        self.waiters = Waiters()
        if channel_endpoint is not None and not secret:
            raise ValueError("--channel-endpoint needs --instance-secret-file (each instance's channel secret is "
                             "derived from it)")
        self.catalog = Catalog(store, (channel_endpoint, secret) if channel_endpoint else None) \
            if store is not None else None
        self.stop = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        from blockprov_engine.channel import Hub, parse_listen

        for text in channel_listen or []:
            parse_listen(text)  # a bad address is an error before anything starts
        self.channel_listen = list(channel_listen or [])
        self.hub = Hub(self) if store is not None else None
        self.listeners: list = []

    # -- wiring ---------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._errors], client_max_size=self.max_body)
        r = app.router
        r.add_get("/openapi.json", self.openapi)
        r.add_get("/healthz", self.healthz)
        r.add_get("/openstack", self.versions)
        r.add_get("/openstack/{version}", self.listing)
        r.add_get("/openstack/content/{n}", self.content)  # before the pattern that would also match it
        r.add_get("/openstack/{version}/{name}", self.metadata)
        if self.store is not None:
            r.add_post("/events", self.post_event)
            r.add_get("/events", self.get_events)
            r.add_get("/v1/instances", self.list_instances)
            r.add_post("/v1/instances", self.create_instance)
            r.add_get("/v1/instances/{id}", self.get_instance)
            r.add_put("/v1/instances/{id}", self.put_instance)
            r.add_delete("/v1/instances/{id}", self.delete_instance)
            r.add_get("/v1/instances/{id}/storage", self.get_storage)
            r.add_put("/v1/instances/{id}/storage", self.put_storage)
            r.add_get("/v1/channel", self.hub.websocket)
            r.add_post("/v1/instances/{id}/channel", self.post_channel)
            app.on_startup.append(self._start_follow)
            app.on_startup.append(self._start_channel)
            app.on_shutdown.append(self.hub.close_all)
            app.on_cleanup.append(self._stop_channel)
            app.on_cleanup.append(self._stop_follow)
        return app

    async def _start_follow(self, app) -> None:
        self.loop = asyncio.get_running_loop()
        threading.Thread(target=self.store.follow, args=(self._changed_threadsafe, self.stop, self.catalog.since),
                         daemon=True, name="store-follow").start()

    async def _stop_follow(self, app) -> None:
        self.stop.set()

    async def _start_channel(self, app) -> None:
        from blockprov_engine.channel import start_listener

        for text in self.channel_listen:
            self.listeners.append(await start_listener(self.hub, text))
            print(f"blockprov-engine: channel listening on {text}", flush=True)

    async def _stop_channel(self, app) -> None:
        for server in self.listeners:
            server.close()

    def _changed_threadsafe(self, changes) -> None:
        self.loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._apply(changes)))

    async def _apply(self, changes) -> None:
        """Changes from any engine process: refresh those instances, wake their waiters."""
        for iid in dict.fromkeys(c.instance for c in changes if c.kind == "instance"):
            rec = await asyncio.to_thread(self.store.get, iid)
            if rec is None:
                self.catalog.remove(iid)
            else:
                self.catalog.put(rec.id, rec.version, rec.doc)
            self.waiters.wake(("md", iid))
        for iid in dict.fromkeys(c.instance for c in changes if c.kind == "event"):
            self.waiters.wake(("ev", iid))
            self.waiters.wake(("ev", None))

    @web.middleware
    async def _errors(self, request, handler):
        try:
            return await handler(request)
        except ApiError as e:
            body = {"error": e.message}
            if e.problems:
                body["problems"] = [p.to_json() for p in e.problems]
            return _json(body, e.status, e.headers)
        except StoreError as e:
            return _json({"error": f"database unavailable: {e}"}, 503, {"Retry-After": "1"})
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return _json({"error": f"{e.reason}: {request.method} {request.path}"}, e.status,
                         {k: v for k, v in e.headers.items() if k == "Allow"})

    def _auth(self, request) -> None:
        got = request.headers.get("Authorization", "")
        scheme, _, token = got.partition(" ")
        if scheme.lower() != "bearer" or not token or \
                not any(hmac.compare_digest(token.strip().encode("utf-8", "replace"), t) for t in self.tokens):
            raise ApiError(401, "a valid bearer token is required (Authorization: Bearer TOKEN)",
                           headers={"WWW-Authenticate": 'Bearer realm="blockprov-engine"'})

    # -- instance side ------------------------------------------------------------------
    def _entry(self, request) -> Entry:
        if self.local is not None:
            return self.local
        iid = request.headers.get(HEADER) if self.identity != "address" else None
        if iid and self.identity == "signed":
            got = request.headers.get(SIGNATURE, "")
            if not hmac.compare_digest(got.encode("utf-8", "replace"), sign(self.secret, iid).encode()):
                raise ApiError(403, f"the {HEADER} header needs a valid {SIGNATURE}")
        if iid:
            e = self.catalog.entries.get(iid)
            if e is None:
                raise ApiError(404, f"no instance {iid!r} (from the {HEADER} header)")
            return e
        iid = self.catalog.by_addr.get(request.remote or "")
        if iid is None:
            raise ApiError(404, f"no instance has the source address {request.remote}")
        return self.catalog.entries[iid]

    async def _current(self, request, key: str) -> tuple[Entry, bytes | None]:
        entry = self._entry(request)
        wait = _wait_param(request)
        inm = request.headers.get("If-None-Match")
        deadline = asyncio.get_running_loop().time() + wait
        while inm == entry.etag and (left := deadline - asyncio.get_running_loop().time()) > 0:
            await self.waiters.wait(("md", entry.id), left)  # a wake can be for a change already seen
            entry = self._entry(request)
        return entry, entry.files().get(key)

    async def _serve(self, request, key: str, ctype: str) -> web.Response:
        entry, body = await self._current(request, key)
        headers = {"ETag": entry.etag, "Cache-Control": "no-cache"}
        if request.headers.get("If-None-Match") == entry.etag:
            return web.Response(status=304, headers=headers)
        if body is None:
            return web.Response(status=404, text=f"{key}: not provided for this instance\n", headers=headers)
        return web.Response(body=body, content_type=ctype, headers=headers)

    async def metadata(self, request):
        version, name = request.match_info["version"], request.match_info["name"]
        if not VERSION.match(version) or name not in TYPES:
            raise ApiError(404, f"{request.path}: not a metadata path")
        return await self._serve(request, f"/openstack/latest/{name}", TYPES[name])

    async def content(self, request):
        n = request.match_info["n"]
        if not re.fullmatch(r"\d{4}", n):
            raise ApiError(404, f"{request.path}: not a content path")
        return await self._serve(request, f"/openstack/content/{n}", "application/octet-stream")

    async def versions(self, request):
        self._entry(request)
        return web.Response(text="latest\n")

    async def listing(self, request):
        if not VERSION.match(request.match_info["version"]):
            raise ApiError(404, f"{request.path}: not a metadata path")
        entry = self._entry(request)
        names = sorted(k.rsplit("/", 1)[1] for k in entry.files() if k.startswith("/openstack/latest/"))
        return web.Response(text="".join(n + "\n" for n in names), headers={"ETag": entry.etag})

    async def post_event(self, request):
        entry = self._entry(request)
        ev = await _body_json(request, MAX_EVENT)
        if not isinstance(ev, dict) or not isinstance(ev.get("name"), str) or \
                not isinstance(ev.get("event_type"), str):
            raise ApiError(400, "an event is an object with string fields name and event_type")
        seq = await asyncio.to_thread(self.store.add_event, entry.id, ev)
        self.waiters.wake(("ev", entry.id))
        self.waiters.wake(("ev", None))
        return _json({"seq": seq, "instance": entry.id}, 201)

    # -- management side ----------------------------------------------------------------
    async def openapi(self, request):
        return web.Response(body=openapi_document(), content_type="application/json")

    async def healthz(self, request):
        return web.Response(text="ok\n")

    async def get_events(self, request):
        self._auth(request)
        iid = request.query.get("instance") or None
        since = _int_param(request, "since", 0)
        limit = _int_param(request, "limit", 500, 5000)
        wait = _wait_param(request)
        evs = await asyncio.to_thread(self.store.events, iid, since, limit)
        deadline = asyncio.get_running_loop().time() + wait
        while not evs and (left := deadline - asyncio.get_running_loop().time()) > 0:
            await self.waiters.wait(("ev", iid), left)
            evs = await asyncio.to_thread(self.store.events, iid, since, limit)
        return _json({"events": evs, "next": evs[-1]["seq"] if evs else since})

    def _record_json(self, rec, status: dict | None = None) -> dict:
        out = {"id": rec.id, "version": rec.version, "created": rec.created, "updated": rec.updated,
               "definition": rec.doc}
        if status is not None:
            out["status"] = status
        return out

    async def _status(self, iid: str) -> dict:
        n, last, final = await asyncio.to_thread(self.store.summary, iid, FINAL_STAGE, "finish")
        return {"initialized": final is not None, "result": final["event"].get("result") if final else None,
                "events": n, "last_event": last, "channel": self.hub.status(iid)}

    async def list_instances(self, request):
        self._auth(request)
        recs = await asyncio.to_thread(self.store.list)
        return _json({"instances": [{"id": r.id, "name": r.doc.get("name"), "hostname": r.doc.get("hostname"),
                                     "version": r.version, "updated": r.updated} for r in recs]})

    async def _definition(self, request, iid: str | None) -> dict:
        doc = await _body_json(request, self.max_body)
        problems = definition.validate(doc)
        if not problems and iid is not None and doc.get("id", iid) != iid:
            problems = [definition.Problem("definition.id", "$.id", None,
                                           f"{doc['id']!r} differs from the id in the URL ({iid!r})")]
        if problems:
            raise ApiError(400, f"{len(problems)} problem(s) in the definition; first: {problems[0]}", problems)
        doc = await asyncio.to_thread(definition.stored, doc, self.hasher, iid)
        taken = definition.address_problems(doc, self.catalog.by_addr)
        if taken:
            raise ApiError(409, str(taken[0]), taken)
        return doc

    def _if_match(self, request) -> int | None:
        raw = request.headers.get("If-Match")
        if raw is None:
            return None
        m = re.fullmatch(r'"[^"]*\.(\d+)"', raw.strip())
        if not m:
            raise ApiError(400, f"If-Match: {raw!r} is not an ETag this service gave")
        return int(m.group(1))

    def _stored(self, rec) -> None:
        self.catalog.put(rec.id, rec.version, rec.doc)
        self.waiters.wake(("md", rec.id))

    async def create_instance(self, request):
        self._auth(request)
        doc = await self._definition(request, None)
        try:
            rec = await asyncio.to_thread(self.store.create, doc)
        except Conflict as exc:
            raise ApiError(409, str(exc)) from None
        self._stored(rec)
        return _json(self._record_json(rec), 201, {"Location": f"/v1/instances/{rec.id}",
                                                   "ETag": f'"{rec.id}.{rec.version}"'})

    async def _get(self, iid: str):
        rec = await asyncio.to_thread(self.store.get, iid)
        if rec is None:
            raise ApiError(404, f"no instance {iid!r}")
        return rec

    async def post_channel(self, request):
        """Publish one message to an instance over its channel: checked here first (a set against the
        module's schema, as the instance will check it), then sent, or queued until it connects."""
        from blockprov.channel.actions import set_problem

        self._auth(request)
        rec = await self._get(request.match_info["id"])
        body = await _body_json(request, self.max_body)
        if not isinstance(body, dict) or not isinstance(body.get("channel"), str):
            raise ApiError(400, "a message is an object with a string channel (config/set/MODULE or "
                                "config/get/MODULE) and an object data")
        data = body.get("data", {})
        mid = body.get("id")
        m = CHANNEL.match(body["channel"])
        if m is None or not isinstance(data, dict) or mid is not None and not isinstance(mid, str):
            raise ApiError(400, f"channel {body['channel']!r}: config/set/MODULE or config/get/MODULE, data an "
                                "object, id a string")
        verb, module = m.group(1), m.group(2)
        if verb == "set":
            why = set_problem(module, data)
            if why:
                raise ApiError(400, f"config/set/{module}: {why}")
        out = await self.hub.publish(rec.id, f"config/{verb}/{module}", data, mid)
        return _json(out, 202)

    async def get_instance(self, request):
        self._auth(request)
        rec = await self._get(request.match_info["id"])
        return _json(self._record_json(rec, await self._status(rec.id)), headers={"ETag": f'"{rec.id}.{rec.version}"'})

    async def _replace(self, request, iid: str, doc: dict):
        try:
            rec = await asyncio.to_thread(self.store.replace, iid, doc, self._if_match(request))
        except NotFound:
            raise ApiError(404, f"no instance {iid!r}") from None
        except Conflict as exc:
            raise ApiError(412, str(exc)) from None
        self._stored(rec)
        return _json(self._record_json(rec), headers={"ETag": f'"{rec.id}.{rec.version}"'})

    async def put_instance(self, request):
        self._auth(request)
        iid = request.match_info["id"]
        await self._get(iid)
        return await self._replace(request, iid, await self._definition(request, iid))

    async def delete_instance(self, request):
        self._auth(request)
        iid = request.match_info["id"]
        try:
            await asyncio.to_thread(self.store.delete, iid)
        except NotFound:
            raise ApiError(404, f"no instance {iid!r}") from None
        self.catalog.remove(iid)
        self.waiters.wake(("md", iid))
        return web.Response(status=204)

    async def get_storage(self, request):
        self._auth(request)
        rec = await self._get(request.match_info["id"])
        if "storage" not in rec.doc:
            raise ApiError(404, f"instance {rec.id!r} has no storage config")
        return _json(rec.doc["storage"], headers={"ETag": f'"{rec.id}.{rec.version}"'})

    async def put_storage(self, request):
        self._auth(request)
        rec = await self._get(request.match_info["id"])
        storage = await _body_json(request, self.max_body)
        problems = definition.validate_storage(storage, "$")
        if problems:
            raise ApiError(400, f"{len(problems)} problem(s) in the storage config; first: {problems[0]}", problems)
        return await self._replace(request, rec.id, {**rec.doc, "storage": storage})


@lru_cache(maxsize=1)
def openapi_document() -> bytes:
    """The OpenAPI document, with the definition schema in it (one source for both)."""
    doc = json.loads(package_files("blockprov_engine").joinpath("openapi.json").read_text())
    schema = dict(definition.schema())
    schema.pop("$schema", None)
    schema.pop("$id", None)
    doc["components"]["schemas"]["Definition"] = schema
    return json.dumps(doc, indent=1).encode()
