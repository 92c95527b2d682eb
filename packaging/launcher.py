"""Entry script of the FaceStudio bundle: `FaceStudio [--selftest [OPTIONS] | COMMAND ...]`.

The bundle's executable is the `facestudio` command (gui by default); `--selftest` is answered here
directly, so the installed app can always check itself whatever the command line offers.
"""

from __future__ import annotations

import multiprocessing
import sys

SELFTEST_FLAG = "--selftest"


def main() -> int:
    """Dispatch the command line: the self-test, or the `facestudio` CLI."""
    # A child process (the identity backend's) started by this executable runs its own code, not the CLI.
    multiprocessing.freeze_support()
    arguments = sys.argv[1:]
    if arguments[:1] == [SELFTEST_FLAG]:
        from facestudio.selftest import main as selftest_main

        return selftest_main(arguments[1:])
    from facestudio.cli import main as cli_main

    return cli_main(arguments)


if __name__ == "__main__":
    sys.exit(main())
