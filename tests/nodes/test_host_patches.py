"""The hooks on ComfyUI's server (``queue_updated``, ``send_sync``, the root-logger filter) exist only
while streams run (or a prompt of ours still has to be cleaned up), are installed once however
many streams run, and leave the server as it was."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from trickle_live.nodes.comfy_host import CLIENT_ID, ComfyHost


class Queue:
    def __init__(self) -> None:
        self.mutex = threading.RLock()
        self.history: dict[str, Any] = {}
        self.running: list[tuple[int, str]] = []  # ComfyUI's items: (number, prompt id, ...)
        self.queued: list[tuple[int, str]] = []

    def get_current_queue_volatile(self) -> tuple[list[Any], list[Any]]:
        with self.mutex:
            return list(self.running), list(self.queued)


class Server:
    """PromptServer's surface: the two methods the host wraps, as class methods."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.prompt_queue = Queue()
        self.sockets: dict[str, object] = {}
        self.number = 0
        self.updates = 0
        self.sent: list[Any] = []

    def queue_updated(self) -> None:
        self.updates += 1

    def send_sync(self, event: Any, data: Any, sid: Any = None) -> None:
        self.sent.append((event, sid))


class Execution:
    async def validate_prompt(self, prompt_id: Any, prompt: Any, partial: Any) -> Any:
        return (True, None, [], {})


def untouched(server: Server, host: ComfyHost) -> bool:
    return (
        "queue_updated" not in vars(server)
        and "send_sync" not in vars(server)
        and host.log_filter not in logging.getLogger().filters
    )


async def test_installed_by_the_first_stream_once_and_undone_after_the_last() -> None:
    server = Server(asyncio.get_running_loop())
    host = ComfyHost(server, Execution(), {})
    assert untouched(server, host)  # a host alone (e.g. validating a workflow) changes nothing
    assert host.patches() == {
        "queue_updated": False, "send_sync": False, "log_filter": False, "installs": 0,
    }  # fmt: skip
    one, two = (lambda: None), (lambda: None)
    host.add_listener(one)
    wrapper = server.queue_updated
    assert wrapper is host.coalescer and server.send_sync is host.quiet
    host.add_listener(two)  # a second stream: nothing installed twice
    assert server.queue_updated is wrapper and host.installs == 1
    assert host.coalescer.patch.original == Server.queue_updated.__get__(server)
    assert logging.getLogger().filters.count(host.log_filter) == 1
    server.send_sync("executing", {}, CLIENT_ID)
    assert server.sent == [] and host.quiet is not None and host.quiet.dropped == 1
    host.remove_listener(one)
    assert server.queue_updated is wrapper  # one stream still runs
    host.remove_listener(two)
    assert untouched(server, host)
    server.queue_updated()
    server.send_sync("executing", {}, CLIENT_ID)
    assert server.updates == 2 and server.sent == [("executing", CLIENT_ID)]  # the final + ours
    host.add_listener(one)  # the next stream installs them again, over ComfyUI's own methods
    assert host.installs == 2
    assert host.coalescer.patch.original == Server.queue_updated.__get__(server)
    host.remove_listener(one)
    assert untouched(server, host)


async def test_kept_until_a_prompt_of_ours_is_cleaned_up() -> None:
    server = Server(asyncio.get_running_loop())
    host = ComfyHost(server, Execution(), {})
    keeper = lambda: None  # noqa: E731
    host.add_listener(keeper, stream=False)
    server.prompt_queue.running = [(1, "trickle-lease-1")]
    host.forget("trickle-lease-1")  # still running: its history entry comes later
    host.remove_listener(keeper, stream=False)
    assert server.queue_updated is host.coalescer  # needed to drop that entry
    server.prompt_queue.running = []
    server.prompt_queue.history["trickle-lease-1"] = {}
    server.queue_updated()  # ComfyUI's task_done
    assert server.prompt_queue.history == {}
    assert untouched(server, host)


async def test_a_prompt_taken_out_of_the_queue_is_not_waited_for() -> None:
    """A stream that ends while its lease is still queued: the lease takes the prompt back and
    forgets it. It never runs, so it never gets a history entry; on 31bd3d5 the host waited for
    one and kept its patches for good (a CI run saw them stay 20 s after the stream)."""
    server = Server(asyncio.get_running_loop())
    host = ComfyHost(server, Execution(), {})
    keeper = lambda: None  # noqa: E731
    host.add_listener(keeper, stream=False)
    server.prompt_queue.queued = [(1, "trickle-lease-2")]
    with server.prompt_queue.mutex:  # cancel_queued, as ComfyUI's delete_queue_item does it
        server.prompt_queue.queued = []
    host.forget("trickle-lease-2")
    host.remove_listener(keeper, stream=False)
    assert untouched(server, host)
    host.add_listener(keeper, stream=False)  # a queued one is still waited for
    server.prompt_queue.queued = [(2, "trickle-lease-3")]
    host.forget("trickle-lease-3")
    host.remove_listener(keeper, stream=False)
    assert server.queue_updated is host.coalescer
    server.prompt_queue.queued = []
    server.prompt_queue.history["trickle-lease-3"] = {}
    server.queue_updated()  # it ran and finished: its entry goes, and the patches with it
    assert untouched(server, host)


async def test_a_wrapper_installed_over_ours_is_kept() -> None:
    server = Server(asyncio.get_running_loop())
    host = ComfyHost(server, Execution(), {})
    host.add_listener(lambda: None, stream=False)
    ours = server.queue_updated
    calls: list[str] = []

    def other_pack() -> None:
        calls.append("other")
        ours()

    server.queue_updated = other_pack  # type: ignore[method-assign]
    host.remove_listener(host.coalescer.listeners[0], stream=False)
    assert server.queue_updated is other_pack  # taking ours out would drop theirs
    server.queue_updated()
    assert calls == ["other"] and server.updates == 1  # ours passes the call through
