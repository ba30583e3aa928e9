"""Imported first by every ``bench/bench_*.py``: puts the repository root on ``sys.path`` so that ``bench.*`` imports
work when a script is run as ``python bench/bench_reads.py`` (Python then only puts ``bench/`` itself there)."""

import sys
from pathlib import Path

ROOT = str(Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
