"""An OpenStack-layout metadata service whose files a test changes while an instance runs.

Every file carries the instance's version as its ETag; a GET with
``If-None-Match: <current ETag>`` and ``?wait=N`` is held until the version
changes (200) or N seconds pass (304): the long-poll ``blockprov watch`` uses.
"""
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Metadata:
    def __init__(self, uuid: str = "hp-1", storagedata: str | None = None, user_data: str | None = None):
        self.files: dict[str, bytes] = {"/openstack/latest/meta_data.json": json.dumps({"uuid": uuid}).encode()}
        self.version = 1
        self.cond = threading.Condition()
        self.requests: list[str] = []
        if storagedata is not None:
            self.files["/openstack/latest/storagedata"] = storagedata.encode()
        if user_data is not None:
            self.files["/openstack/latest/user_data"] = user_data.encode()
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                u = urllib.parse.urlsplit(self.path)
                outer.requests.append(self.path)
                wait = float(urllib.parse.parse_qs(u.query).get("wait", ["0"])[0])
                with outer.cond:
                    etag = f'"v{outer.version}"'
                    if self.headers.get("If-None-Match") == etag:
                        outer.cond.wait_for(lambda: f'"v{outer.version}"' != etag, timeout=wait)
                        etag = f'"v{outer.version}"'
                    body = outer.files.get(u.path)
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.end_headers()
                    return
                self.send_response(200 if body is not None else 404)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.srv.server_port}"

    def set(self, name: str, text: str | None, after: float = 0.0) -> None:
        """Change /openstack/latest/NAME (None removes it), now or ``after`` seconds from now."""
        def change():
            time.sleep(after)
            with self.cond:
                if text is None:
                    self.files.pop(f"/openstack/latest/{name}", None)
                else:
                    self.files[f"/openstack/latest/{name}"] = text.encode()
                self.version += 1
                self.cond.notify_all()
        if after:
            threading.Thread(target=change, daemon=True).start()
        else:
            change()

    def dscfg(self) -> str:
        return (f"datasource_list: [OpenStack, None]\n"
                f"datasource: {{OpenStack: {{metadata_urls: ['{self.url}'], retries: 1, backoff: 0.05, timeout: 2}}}}\n")

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
