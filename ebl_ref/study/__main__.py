"""``python -m ebl_ref.study ...``: the same as ``python run.py study ...``."""
import sys

from .cli import main

sys.exit(main())
