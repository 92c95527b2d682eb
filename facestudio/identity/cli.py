"""`facestudio identity A B [--backend encoder|deepface] [--json]` (dispatched by facestudio.cli)."""

from __future__ import annotations

import argparse
import json
import sys

from facestudio.identity.compare import BACKENDS, compare_files
from facestudio.identity.errors import IdentityError

EXIT_USER_ERROR = 2


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """The `identity` subcommand's arguments."""
    parser.add_argument("image_a", metavar="A", help="first face photo (a tight crop or a photo with a face)")
    parser.add_argument("image_b", metavar="B", help="second face photo")
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="deepface (DeepFace 'Dlib', offline) or encoder (FaceStudio's own); default: deepface when installed",
    )
    parser.add_argument(
        "--json", action="store_true", help='print one JSON object: {"distance", "threshold", "same", "backend"}'
    )


def run_cli(args: argparse.Namespace) -> int:
    """Compare the two files and print the distance, threshold and verdict; 0, or 2 on a user error."""
    from facestudio.imageio import ImageReadError

    try:
        result = compare_files(args.image_a, args.image_b, backend=args.backend)
    except (ImageReadError, IdentityError) as error:
        print(f"facestudio identity: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_USER_ERROR
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        verdict = "same person" if result.same else "different person"
        print(f"distance:  {result.distance:.4f}")
        print(f"threshold: {result.threshold:.4f}")
        print(f"verdict:   {verdict} ({result.backend})")
    return 0
