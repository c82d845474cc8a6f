#!/usr/bin/python3
"""Entry point of the training pipeline: /usr/bin/python3 training/train.py {prepare-data,run,evaluate,export,
check-teacher} --help. See docs/training.md."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from slimtrain.threads import set_thread_variables, use_retaining_allocator  # noqa: E402  (no torch yet)

if __name__ == "__main__":
    use_retaining_allocator([os.path.abspath(__file__)] + sys.argv[1:])
    # OpenMP, OpenBLAS and MKL read their thread counts once, when torch loads: set them first, or their threads
    # fight each other and whatever runs on the other core (docs/training.md).
    set_thread_variables(sys.argv[1:])
    from slimtrain.cli import main
    sys.exit(main())
