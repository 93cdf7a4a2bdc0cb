"""Command-line tools. Each module ``trickle/cli/<command>.py`` defines:

- ``HELP: str`` — one line for ``--help``;
- ``add_arguments(parser: argparse.ArgumentParser) -> None``;
- ``run(args: argparse.Namespace) -> int`` — the exit status.
"""

COMMANDS = ("serve", "publish", "subscribe", "runner", "demo")
