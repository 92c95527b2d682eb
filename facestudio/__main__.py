"""`python -m facestudio`: the same as the `facestudio` command."""

import sys

from facestudio.cli import main

if __name__ == "__main__":
    sys.exit(main())
