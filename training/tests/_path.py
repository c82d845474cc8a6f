"""Puts training/ on sys.path for the unit tests (run: /usr/bin/python3 -m unittest discover -s training/tests)."""
import os
import sys

kTrainingDir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if kTrainingDir not in sys.path:
    sys.path.insert(0, kTrainingDir)
