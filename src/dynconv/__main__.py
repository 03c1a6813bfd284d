"""``python -m dynconv`` is the ``dynconv`` command."""
import sys

from dynconv.cli import main

if __name__ == "__main__":
    sys.exit(main())
