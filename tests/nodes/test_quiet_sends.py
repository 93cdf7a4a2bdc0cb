"""Messages for the private stream client id are dropped before they wake the server loop."""

from __future__ import annotations

from typing import Any

from trickle_live.nodes.comfy_host import CLIENT_ID, _QuietSends


class _Server:
    def __init__(self) -> None:
        self.sockets: dict[str, object] = {"editor-tab": object()}
        self.sent: list[tuple[Any, Any, Any]] = []

    def send_sync(self, event: Any, data: Any, sid: Any = None) -> None:
        self.sent.append((event, data, sid))


def test_stream_client_messages_are_dropped_others_pass() -> None:
    server = _Server()
    quiet = _QuietSends(server)
    quiet.patch.install()
    server.send_sync("executing", {"node": "1"}, CLIENT_ID)
    server.send_sync("progress_state", {"nodes": {}}, CLIENT_ID)
    server.send_sync("status", {"status": {}})  # broadcast
    server.send_sync("executing", {"node": "2"}, "editor-tab")
    assert quiet.dropped == 2
    assert [e for e, _, _ in server.sent] == ["status", "executing"]


def test_a_socket_with_the_stream_client_id_still_gets_them() -> None:
    server = _Server()
    server.sockets[CLIENT_ID] = object()
    quiet = _QuietSends(server)
    quiet.patch.install()
    server.send_sync("executing", {"node": "1"}, CLIENT_ID)
    assert quiet.dropped == 0 and len(server.sent) == 1
