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
from typing import Any

from ..config import RunnerConfig
from ..errors import ValidationError
from ..runner.app import MOUNTED_KEY, RunnerServer, build_app
from ..session.processors import PROCESSORS
from ..session.workflow_spec import resolve

HELP = "serve the live-video-to-video runner API without ComfyUI (passthrough or invert)"

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--processor", choices=sorted(PROCESSORS), default=None, help="default passthrough"
    )
    parser.add_argument(
        "--workflow",
        default=None,
        help="default workflow: passthrough|invert, a bundled workflow name or an API-format JSON"
        " file (ComfyStream's LoadImage/LoadTensor -> [ImageInvert] -> SaveImage/PreviewImage/"
        "SaveTensor shapes too; other nodes need ComfyUI) (env TRICKLE_WORKFLOW)",
    )
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
    parser.add_argument(
        "--live-runner-port",
        type=int,
        default=None,
        help="also serve the go-livepeer live-runner app on this port (its own port; 0 = any;"
        " env TRICKLE_LR_PORT; see docs/liverunner.md)",
    )


def config_from_args(args: argparse.Namespace) -> RunnerConfig:
    overrides = {
        name: value
        for name, value in (
            ("token", args.token),
            ("model_id", args.model_id),
            ("capacity", args.capacity),
            ("workflow", args.workflow),
        )
        if value is not None
    }
    return RunnerConfig.from_env(**overrides)


def processor_from(args: argparse.Namespace, config: RunnerConfig) -> tuple[str, str]:
    """(processor name, what chose it): ``--processor``, else the workflow, else passthrough."""
    if args.processor and config.workflow:
        raise ValidationError("--processor", "either --processor or --workflow", args.processor)
    if args.processor:
        return args.processor, f"processor {args.processor}"
    if config.workflow:
        return resolve(config.workflow)
    return "passthrough", "processor passthrough"


async def serve(args: argparse.Namespace, config: RunnerConfig, processor: str) -> None:
    public = args.public_url or f"http://{args.host}:{args.port}"
    server = RunnerServer(build_app(config, processor, public_url=public), args.host, args.port)
    url = await server.start()
    sys.stdout.write(
        f"trickle-live runner on {url} ({args.chosen}, model_id {config.model_id},"
        f" capacity {config.capacity}, token {'on' if config.token else 'off'})\n"
        f'  aiModels.json: {{"pipeline": "live-video-to-video", "model_id": "{config.model_id}",'
        f' "url": "{public}"}}\n  status: {url}/trickle/status   (Ctrl-C stops)\n'
    )
    live = await start_live_runner(args, server, processor)
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
        if live is not None:
            await live.close()
        await server.close()


async def start_live_runner(
    args: argparse.Namespace, server: RunnerServer, processor: str = "passthrough"
) -> Any:
    """The live-runner app on its own port, sharing the runner's StreamManager (or None)."""
    from ..liverunner.config import LiveRunnerConfig
    from ..liverunner.service import LiveRunnerService
    from ..session.processors import processor_schema

    overrides = {"host": args.host}
    if args.live_runner_port is not None:
        overrides["port"] = args.live_runner_port
    cfg = LiveRunnerConfig.from_env(**overrides)
    if args.live_runner_port is None and cfg.port == 0:
        return None
    schema = processor_schema(processor)
    service = LiveRunnerService(cfg, server.api.manager, describe=lambda: schema)
    await service.start(port=cfg.port)
    mounted = server.app[MOUNTED_KEY]
    if mounted.pack is not None:
        mounted.pack.sections["live_runner"] = service.status
    sys.stdout.write(
        f"  live runner: {service.runner_url} (app {cfg.app};"
        f" {'registering with the orchestrator' if cfg.dynamic else 'static registration:'})\n"
    )
    if not cfg.dynamic:
        sys.stdout.write(f"    {service.registration()['register_command']}\n")
    return service


def run(args: argparse.Namespace) -> int:
    try:
        config = config_from_args(args)
        processor, args.chosen = processor_from(args, config)
    except ValidationError as exc:
        sys.stderr.write(f"configuration error: {exc}\n")
        return 2
    try:
        asyncio.run(serve(args, config, processor))
    except OSError as exc:
        sys.stderr.write(f"cannot listen on {args.host}:{args.port}: {exc}\n")
        return 1
    return 0
