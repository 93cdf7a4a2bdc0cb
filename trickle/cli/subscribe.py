"""``python -m trickle subscribe URL``: read a channel, one file per segment or all to stdout."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import BinaryIO

from ..errors import TrickleError
from ..protocol.subscriber import Segment, TrickleSubscriber
from ._common import channel_url, fail, start_seq

HELP = "read a trickle channel; each segment to a file in --out, or all of them to stdout"
EXTENSIONS = {"video/mp2t": ".ts", "application/json": ".json", "application/jsonl": ".jsonl"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", type=channel_url, help="channel URL, e.g. http://127.0.0.1:3389/ch")
    parser.add_argument(
        "--from",
        dest="start",
        type=start_seq,
        default=-1,
        help="-1 next segment (default), -2 current segment, or a segment number",
    )
    parser.add_argument("--out", type=Path, help="directory for the segments (default: stdout)")
    parser.add_argument("--count", type=int, default=0, help="stop after this many segments")
    parser.add_argument(
        "--timeout", type=float, default=None, help="give up when no segment starts in this time"
    )
    parser.add_argument("--verify-tls", action="store_true", help="check https certificates")


def run(args: argparse.Namespace) -> int:
    if args.out is not None:
        if args.out.exists() and not args.out.is_dir():
            return fail(f"--out {args.out} is not a directory", 2)
        args.out.mkdir(parents=True, exist_ok=True)
    if args.count < 0:
        return fail("--count must be >= 0", 2)
    try:
        return asyncio.run(_subscribe(args))
    except TrickleError as exc:
        return fail(str(exc))


async def _subscribe(args: argparse.Namespace) -> int:
    count = 0
    ext = ".bin"
    async with TrickleSubscriber(
        args.url, start_seq=args.start, verify_tls=args.verify_tls, first_byte_timeout=args.timeout
    ) as sub:
        while (segment := await sub.next_segment()) is not None:
            mime = segment.content_type.split(";")[0].strip().lower()
            ext = EXTENSIONS.get(mime, ext if not mime else ".bin")  # empty segments carry no type
            size = await _save(segment, args.out, ext)
            sys.stderr.write(f"segment {segment.seq}: {size} bytes\n")
            count += 1
            if args.count and count >= args.count:
                break
        if sub.skipped:
            sys.stderr.write(f"skipped {sub.skipped} segments (subscriber fell behind)\n")
        if sub.end_reason:
            sys.stderr.write(f"channel ended ({sub.end_reason}) after {count} segments\n")
    if count or sub.end_reason != "not_found":
        return 0
    return fail(
        f"channel not found: {args.url} (never created, or already deleted: a publisher DELETEs "
        "its channel when it ends; `serve --channel NAME` creates one that waits for publishers)"
    )


async def _save(segment: Segment, out: Path | None, ext: str) -> int:
    size = 0
    if out is None:
        stream: BinaryIO = sys.stdout.buffer
        async for data in segment.chunks():
            stream.write(data)
            size += len(data)
        stream.flush()
        return size
    with (out / f"{segment.seq:06d}{ext}").open("wb") as f:
        async for data in segment.chunks():
            f.write(data)
            size += len(data)
    return size
