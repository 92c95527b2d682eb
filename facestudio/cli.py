"""The `facestudio` command: gui (default), fix, batch, identity.

Each subcommand's arguments and work live in its own module (gui.app, batch, identity), imported
only when that subcommand runs, so `facestudio --help` loads neither Qt nor torch. User errors
(a bad file, a missing checkpoint, an unavailable device) print one line on stderr and exit with
a non-zero code; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from facestudio import __version__

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130
DEVICE_HELP = "where the models run: auto (CUDA when available, the default), cpu, cuda or cuda:N"


@dataclass(frozen=True)
class Command:
    """A subcommand: its help line and the module:function pair that adds its arguments / runs it."""

    help: str
    module: str
    add_arguments: str
    run: str
    takes_device: bool


COMMANDS: dict[str, Command] = {
    "gui": Command("open the editor (the default command)", "facestudio.cli", "add_gui_arguments", "run_gui", True),
    "fix": Command(
        "fix photos: fill what hides each face, write OUTDIR/<name>.png and <name>.mask.png",
        "facestudio.batch",
        "add_fix_arguments",
        "run_fix",
        True,
    ),
    "batch": Command(
        "process a folder into a mirrored output folder with a report",
        "facestudio.batch",
        "add_batch_arguments",
        "run_batch",
        True,
    ),
    "identity": Command(
        "compare the people in two photos (identity distance)",
        "facestudio.identity",
        "add_cli_arguments",
        "run_cli",
        False,
    ),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line `argv` (default sys.argv[1:]); returns the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["--selftest"]:  # the installed app and the bundle check themselves the same way
        from facestudio.selftest import main as selftest_main

        return selftest_main(arguments[1:])
    arguments = _with_default_command(arguments)
    command = arguments[0] if arguments and arguments[0] in COMMANDS else None
    from facestudio.logs import setup_logging

    setup_logging()
    try:
        parser = build_parser(command)
    except ImportError as error:
        print(f"facestudio {command}: not available in this installation ({_one_line(error)})", file=sys.stderr)
        return EXIT_USER_ERROR
    args = parser.parse_args(arguments)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        print(f"facestudio {command}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        if not isinstance(error, _user_error_types()):
            raise
        print(f"facestudio {command}: {_one_line(error)}", file=sys.stderr)
        return EXIT_USER_ERROR


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only `command`'s arguments are filled in (that imports its module)."""
    parser = argparse.ArgumentParser(
        prog="facestudio",
        description="Find faces in photos, segment what hides them, and paint the hidden part back.",
        epilog="Run 'facestudio COMMAND --help' for a command's options. Without a command: gui. 'facestudio --selftest [--method telea]' checks the installation on the built-in sample.",
    )
    parser.add_argument("--version", action="version", version=f"facestudio {__version__}")
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, spec in COMMANDS.items():
        # "resolve": a delegate that defines its own --device replaces the common one.
        subparser = subcommands.add_parser(name, help=spec.help, description=spec.help, conflict_handler="resolve")
        if name != command:
            continue
        if spec.takes_device:
            add_device_argument(subparser)
        module = importlib.import_module(spec.module)
        getattr(module, spec.add_arguments)(subparser)
        subparser.set_defaults(run=getattr(module, spec.run))
    return parser


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """The common --device option (None when not given: $FACESTUDIO_DEVICE, else auto)."""
    parser.add_argument("--device", type=_device_name, default=None, metavar="{auto,cpu,cuda}", help=DEVICE_HELP)


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    from facestudio.faces import DETECTOR_CHOICES

    parser.add_argument("image", nargs="?", default=None, metavar="IMAGE", help="photo to open (default: the sample)")
    parser.add_argument("--auto-fix", action="store_true", help="run auto-fix on the photo once it is open")
    parser.add_argument(
        "--screenshot", metavar="OUT.png", default=None, help="save a screenshot of the window and exit"
    )
    parser.add_argument("--detector", choices=DETECTOR_CHOICES, default="auto",
                        help="face detector for Auto-fix: auto (learned when the weights have detector.pt, "
                             "else haar), learned, or haar")


def run_gui(args: argparse.Namespace) -> int:
    """Open the editor (Qt is imported here, not before)."""
    device = None
    if args.device is not None:
        from facestudio.devices import resolve_device

        device = resolve_device(args.device)
    try:
        from facestudio.gui.app import run
    except ImportError as error:
        print(f"facestudio gui: the editor cannot start ({_one_line(error)})", file=sys.stderr)
        return EXIT_USER_ERROR
    return run(args.image, auto_fix=args.auto_fix, screenshot=args.screenshot, device=device,
               detector=args.detector)


def _with_default_command(arguments: list[str]) -> list[str]:
    """Prepend "gui" when no command is named: `facestudio`, `facestudio photo.jpg`, `facestudio --auto-fix`."""
    if not arguments:
        return ["gui"]
    first = arguments[0]
    if first in COMMANDS or first in ("-h", "--help", "--version"):
        return arguments
    if first.startswith("-") or Path(first).is_file():
        return ["gui", *arguments]
    return arguments  # an unknown word: let argparse say which commands exist


def _device_name(text: str) -> str:
    name = text.strip().lower()
    prefix, _, index = name.partition(":")
    if name in ("auto", "cpu", "cuda") or (prefix == "cuda" and index.isdigit()):
        return name
    raise argparse.ArgumentTypeError(f"unknown device {text!r}: use auto, cpu, cuda or cuda:N")


def _user_error_types() -> tuple[type[BaseException], ...]:
    """Exception classes that describe a user's mistake, from the modules already imported
    (a class from a module never imported cannot have been raised)."""
    known: list[tuple[str, str]] = [
        ("facestudio.imageio", "ImageReadError"),
        ("facestudio.imageio", "ImageWriteError"),
        ("facestudio.devices", "DeviceError"),
        ("facestudio.models.checkpoint", "CheckpointError"),
    ]
    found: list[type[BaseException]] = []
    for module_name, class_name in known:
        module = sys.modules.get(module_name)
        error_type = getattr(module, class_name, None) if module else None
        if isinstance(error_type, type) and issubclass(error_type, BaseException):
            found.append(error_type)
    return tuple(found)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return text or type(error).__name__
