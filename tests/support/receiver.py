"""A real HTTP receiver on 127.0.0.1 for callbacks and chat robots: records every POST, answers as scripted."""

from __future__ import annotations

import http.server
import json
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit


@dataclass
class Post:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """POSTs to /<path> are recorded under that path; `answers[path]` is popped for each one (status, JSON body),
    the last answer staying for every later POST. Unscripted paths answer 200 {"errcode": 0}. GET serves `files`."""

    answers: dict[str, list[tuple[int, object]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # served to GET, for URL inputs
    posts: list[Post] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                data = receiver.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                receiver.posts.append(Post(parts.path, query, dict(self.headers), body))
                script = receiver.answers.get(parts.path, [(200, {"errcode": 0})])
                status, answer = script.pop(0) if len(script) > 1 else script[0]
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()

    def at(self, path: str) -> list[Post]:
        return [post for post in self.posts if post.path == path]

    def wait(self, path: str, count: int = 1, timeout_s: float = 60) -> list[Post]:
        """The POSTs to `path` once there are `count` of them."""
        deadline = time.monotonic() + timeout_s
        while len(self.at(path)) < count:
            assert time.monotonic() < deadline, f"{path}: {len(self.at(path))} of {count} POSTs after {timeout_s} s"
            time.sleep(0.05)
        return self.at(path)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
