"""``python -m trickle publish URL FILE...``: publish each file as one segment of a channel."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from ..errors import TrickleError
from ..protocol.publisher import TricklePublisher
from ._common import channel_url, fail

HELP = "publish files to a trickle channel, one file per segment"
CHUNK = 64 * 1024


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", type=channel_url, help="channel URL, e.g. http://127.0.0.1:3389/ch")
    parser.add_argument("files", nargs="+", type=Path, metavar="FILE", help="one file per segment")
    parser.add_argument("--mime", default="video/mp2t", help="Content-Type (default video/mp2t)")
    parser.add_argument(
        "--reset", action="store_true", help="take over a live channel (start at /next, Reset)"
    )
    parser.add_argument("--keep", action="store_true", help="do not DELETE the channel at the end")
    parser.add_argument("--interval", type=float, default=0.0, help="seconds between segments")
    parser.add_argument("--verify-tls", action="store_true", help="check https certificates")


def run(args: argparse.Namespace) -> int:
    bad = [str(f) for f in args.files if not f.is_file()]
    if bad:
        return fail(f"not a readable file: {', '.join(bad)}", 2)
    try:
        return asyncio.run(_publish(args))
    except TrickleError as exc:
        return fail(str(exc))


async def _publish(args: argparse.Namespace) -> int:
    pub = TricklePublisher(args.url, args.mime, reset=args.reset, verify_tls=args.verify_tls)
    try:
        for index, path in enumerate(args.files):
            if index and args.interval > 0:
                await asyncio.sleep(args.interval)
            writer = await pub.next_segment()
            with path.open("rb") as f:
                while data := f.read(CHUNK):
                    await writer.write(data)
            await writer.close()
            sys.stdout.write(f"{args.url}/{writer.seq}: {path} ({writer.sent} bytes)\n")
    finally:
        await pub.close(delete=not args.keep)
    return 0
