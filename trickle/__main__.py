"""``python -m trickle serve|publish|subscribe|runner|demo`` — run from the repository root."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .cli import COMMANDS


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, object]]:
    parser = argparse.ArgumentParser(
        prog="python -m trickle",
        description="trickle-live's command-line tools (run from the repository root): a runner, "
        "a demo stream, and trickle channel tools.",
    )
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    sub = parser.add_subparsers(dest="command", required=True)
    modules: dict[str, object] = {}
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".cli.{name}", __package__)
        except ModuleNotFoundError as exc:
            if exc.name and exc.name.endswith(f"cli.{name}"):
                continue  # command not built yet
            raise
        modules[name] = module
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    parser, modules = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(modules[args.command].run(args))  # type: ignore[attr-defined]
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
