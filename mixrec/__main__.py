"""``python -m mixrec COMMAND ...``: the command line for ratings files (``cli.py``)."""
import sys

from mixrec.cli import main

if __name__ == "__main__":
    sys.exit(main())
