"""Test session settings: the machine's pseudonym key lives in a temporary config folder, not the user's."""

import os
import tempfile

os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="transitmap-test-config-")
