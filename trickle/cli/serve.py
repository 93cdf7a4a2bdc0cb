"""``python -m trickle serve``: run a standalone trickle server (go-livepeer semantics)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import ssl
import sys

from ..protocol.server import TrickleServer
from ._common import fail

HELP = "run a trickle server on this machine (for debugging publishers and subscribers)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=3389, help="port (default 3389)")
    parser.add_argument(
        "--base-path", default="/", help="URL prefix, e.g. /ai/trickle/ (default /)"
    )
    parser.add_argument(
        "--autocreate", action="store_true", help="create channels on first publish or POST /<ch>"
    )
    parser.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="NAME",
        help="create a channel (repeatable)",
    )
    parser.add_argument("--idle-timeout", type=float, default=300.0, help="seconds (default 300)")
    parser.add_argument("--certfile", help="serve https with this certificate (PEM)")
    parser.add_argument("--keyfile", help="private key of --certfile (PEM)")


def run(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        return fail(f"--port must be 0..65535, got {args.port}", 2)
    if args.keyfile and not args.certfile:
        return fail("--keyfile needs --certfile", 2)
    context = None
    if args.certfile:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        try:
            context.load_cert_chain(args.certfile, args.keyfile)
        except (OSError, ssl.SSLError) as exc:
            return fail(f"cannot load certificate {args.certfile}: {exc}", 2)
    try:
        return asyncio.run(_serve(args, context))
    except OSError as exc:
        return fail(f"cannot listen on {args.host}:{args.port}: {exc}")


async def _serve(args: argparse.Namespace, context: ssl.SSLContext | None) -> int:
    server = TrickleServer(
        args.base_path, autocreate=args.autocreate, idle_timeout=args.idle_timeout
    )
    for name in args.channel:
        server.create_channel(name)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    try:
        url = await server.serve(args.host, args.port, ssl_context=context)
        sys.stdout.write(
            f"trickle server on {url} (autocreate {'on' if args.autocreate else 'off'})\n"
        )
        sys.stdout.flush()
        await stop.wait()
    finally:
        await server.close()
    return 0
