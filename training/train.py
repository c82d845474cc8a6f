#!/usr/bin/python3
"""Entry point of the training pipeline: /usr/bin/python3 training/train.py {prepare-data,run,evaluate,export,
check-teacher} --help. See docs/training.md."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slimtrain.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
