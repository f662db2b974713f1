"""The docs' code blocks run in the test suite (pytest-markdown-docs); TFDS
builds the embedded datasets in a temporary folder, never in the home one."""

import os
import tempfile

os.environ.setdefault("TFDS_DATA_DIR", tempfile.mkdtemp(prefix="oversample-docs-tfds-"))

collect_ignore = ["hooks.py"]  # MkDocs loads it; it needs the docs extra
