"""`python -m voice_client`: the terminal client (see voice_client.cli)."""

import sys

from voice_client.cli import main

if __name__ == "__main__":
    sys.exit(main())
