#!/usr/bin/env python3
"""qapi-gen.py: generate C code from blockd's QAPI schema (see scripts/qapi/)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from qapi.main import main  # noqa: E402

if __name__ == '__main__':
    sys.exit(main())
