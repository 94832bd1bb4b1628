"""The guests bundled with bt (built from guests/ by guests/build.py)."""
import os

_DIR = os.path.dirname(__file__)


def path(name):
    """File path of the bundled guest ``name`` (e.g. "hello")."""
    p = os.path.join(_DIR, name + ".elf")
    if not os.path.exists(p):
        from bt.machine import BtError
        raise BtError(f"no bundled guest named {name!r} (looked for {p})")
    return p


def names():
    return sorted(f[:-4] for f in os.listdir(_DIR) if f.endswith(".elf"))
