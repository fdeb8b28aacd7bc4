import sys
from pathlib import Path

# tests import helpers (badfleets, lab fixtures) as top-level modules
sys.path.insert(0, str(Path(__file__).parent))
