"""Where the default corpus (the articles served out of the box) lives."""

from pathlib import Path

DEFAULT_CORPUS_DIR = Path(__file__).resolve().parent / "articles"
