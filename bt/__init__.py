"""bt: a user-space hypervisor for IA-32 guests built on dynamic binary translation."""
from bt.machine import BtError, Exit, ExitKind, Machine, STRATEGIES

__all__ = ["Machine", "Exit", "ExitKind", "BtError", "STRATEGIES"]
__version__ = "0.1.0"
