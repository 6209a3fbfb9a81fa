"""A local HTTP server for download tests (127.0.0.1 only; never the internet).

``LocalServer`` serves registered routes from a thread: a file (``ok``), a
file cut half-way (``drop``: the Content-Length promises more than is sent,
then the connection closes), a trickle of 1 kB every 50 ms (``slow``, for
Cancel), or an HTTP status. Request lines are recorded, so a test can see
that a proxy was used (a proxy receives the absolute URL).

``make_zoo_weights(folder)`` writes a random-weight torchvision MobileNetV3
320 FPN COCO state dict under a torchvision-style file name whose hash prefix
matches its content, with the "cat" class made dominant so that detections
exist and carry a real COCO name.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

CAT = 17  # COCO category id (and torchvision class index) of "cat"


@dataclass
class Route:
    body: bytes = b""
    mode: str = "ok"  # ok | drop | slow | status
    status: int = 200


@dataclass
class LocalServer:
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.requests.append(self.path)
                route = server.routes.get(urlsplit(self.path).path)
                if route is None:
                    self.send_error(404, "Not Found")
                    return
                if route.mode == "status":
                    self.send_error(route.status)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                try:
                    if route.mode == "ok":
                        self.wfile.write(route.body)
                    elif route.mode == "drop":
                        self.wfile.write(route.body[: len(route.body) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                    elif route.mode == "slow":
                        for i in range(0, len(route.body), 1000):
                            if server.stopping.is_set():
                                break
                            self.wfile.write(route.body[i:i + 1000])
                            self.wfile.flush()
                            time.sleep(0.05)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def url(self, path: str) -> str:
        return self.base + path

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def free_port() -> int:
    """A port nothing listens on (bound then released): connections are refused."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def make_zoo_weights(folder: Path) -> Path:
    """A torchvision-named random-weight COCO MobileNetV3 320 FPN file (see the module docstring)."""
    import torch
    from torchvision.models.detection import fasterrcnn_mobilenet_v3_large_320_fpn

    torch.manual_seed(0)
    model = fasterrcnn_mobilenet_v3_large_320_fpn(weights=None, weights_backbone=None, num_classes=91)
    with torch.no_grad():
        model.roi_heads.box_predictor.cls_score.bias[CAT] = 8.0
    tmp = folder / "weights.pth"
    torch.save(model.state_dict(), tmp)
    digest = hashlib.sha256(tmp.read_bytes()).hexdigest()
    path = folder / f"fasterrcnn_mobilenet_v3_large_320_fpn-{digest[:8]}.pth"
    tmp.rename(path)
    return path
