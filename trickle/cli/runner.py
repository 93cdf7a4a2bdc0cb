"""``python -m trickle runner``: the runner, BYOC and pack routes without ComfyUI.

Lets an operator check orchestrator wiring (aiModels.json ``url``, token, BYOC registration) on a
machine with no GPU: frames are passed through or inverted by plain Python.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from ..config import RunnerConfig
from ..errors import ValidationError
from ..runner.app import RunnerServer, build_app
from ..session.processors import PROCESSORS

HELP = "serve the live-video-to-video runner API without ComfyUI (passthrough or invert)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument("--processor", choices=sorted(PROCESSORS), default="passthrough")
    parser.add_argument(
        "--token", default=None, help="require 'Authorization: Bearer TOKEN' (env TRICKLE_TOKEN)"
    )
    parser.add_argument(
        "--model-id", default=None, help="model_id reported by /version (env TRICKLE_MODEL_ID)"
    )
    parser.add_argument(
        "--capacity", type=int, default=None, help="concurrent streams (env TRICKLE_CAPACITY)"
    )
    parser.add_argument(
        "--public-url", default="", help="URL a BYOC orchestrator reaches this runner at"
    )


def config_from_args(args: argparse.Namespace) -> RunnerConfig:
    overrides = {
        name: value
        for name, value in (
            ("token", args.token),
            ("model_id", args.model_id),
            ("capacity", args.capacity),
        )
        if value is not None
    }
    return RunnerConfig.from_env(**overrides)


async def serve(args: argparse.Namespace, config: RunnerConfig) -> None:
    public = args.public_url or f"http://{args.host}:{args.port}"
    server = RunnerServer(
        build_app(config, args.processor, public_url=public), args.host, args.port
    )
    url = await server.start()
    sys.stdout.write(
        f"trickle-live runner on {url} (processor {args.processor}, model_id {config.model_id},"
        f" capacity {config.capacity}, token {'on' if config.token else 'off'})\n"
        f'  aiModels.json: {{"pipeline": "live-video-to-video", "model_id": "{config.model_id}",'
        f' "url": "{public}"}}\n  status: {url}/trickle/status   (Ctrl-C stops)\n'
    )
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not on this platform / thread
            pass
    try:
        await stop.wait()
    finally:
        await server.close()


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
    except ValidationError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 2
    try:
        asyncio.run(serve(args, config))
    except OSError as exc:
        sys.stderr.write(f"cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    return 0
