"""bt: a user-space hypervisor for IA-32 guests built on dynamic binary translation."""
import os as _os

# bt uses numpy only as a byte array: keep OpenBLAS from starting a thread pool
# whose idle spinning costs a short run about a third of its CPU time
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from bt.machine import BtError, Exit, ExitKind, Machine, STRATEGIES  # noqa: E402

__all__ = ["Machine", "Exit", "ExitKind", "BtError", "STRATEGIES"]
__version__ = "0.1.0"
