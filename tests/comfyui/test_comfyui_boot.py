"""The test harness's ComfyUI start (``conftest.boot``): a port chosen free can be taken by
another test's server before ComfyUI binds it. The harness must then not hand out the other
server as "this ComfyUI" (a CI run once streamed at a live-runner port nobody listened on: the
ComfyUI port answered for another test's ComfyUI), and must try again on other ports."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from . import conftest
from .conftest import boot


class _Impostor(BaseHTTPRequestHandler):
    """Answers ``/system_stats`` like a ComfyUI started from another base directory."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        body = json.dumps({"system": {"argv": ["main.py", "--base-directory", "/elsewhere"]}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def impostor() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_taken_ports_are_tried_again_and_this_comfyui_is_the_one_handed_out(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Try 1: ComfyUI's port is held by another server that answers /system_stats. Try 2: the
    live runner's port is held by a listening socket. Try 3: free ports; that ComfyUI is
    handed out, its live runner up."""
    with impostor() as taken_http, socket.socket() as taken_lr:
        taken_lr.bind(("127.0.0.1", 0))
        taken_lr.listen()
        taken_lr_port = int(taken_lr.getsockname()[1])
        real_free_port = conftest._free_port
        ports = iter([taken_http, real_free_port(), real_free_port(), taken_lr_port])
        monkeypatch.setattr(conftest, "_free_port", lambda: next(ports, None) or real_free_port())
        with boot(
            tmp_path_factory, "comfy-boot", skip_reason="COMFYUI_PATH is not set: boots ComfyUI"
        ) as comfy:
            assert comfy.url != f"http://127.0.0.1:{taken_http}"
            assert comfy.lr_port != taken_lr_port
            stats = comfy.get("/system_stats")
            assert str(comfy.base) in stats["system"]["argv"]
            live = comfy.get("/trickle/status")["live_runner"]
            assert live["error"] == "" and live["enabled"], live
    assert next(ports, None) is None  # all three tries were made
