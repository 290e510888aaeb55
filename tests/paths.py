"""Where the checkout and its trained model are, for every tier that needs the paths.

Kept apart from tests/e2e/servers.py so that the evaluation guard can find the model without
importing the code that starts servers.
"""

from __future__ import annotations

from pathlib import Path

#: The repository root (the directory holding pyproject.toml).
ROOT = Path(__file__).resolve().parent.parent
#: The model `make train` writes (the end-to-end and evaluation tiers use it).
MODEL = ROOT / "models" / "relais.tar.gz"
