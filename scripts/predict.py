#!/usr/bin/env python
"""Batch prediction; the same as ``bonenet predict`` (see ``--help``)."""

import sys

from bonenet.cli import main

if __name__ == "__main__":
    sys.exit(main(["predict", *sys.argv[1:]]))
