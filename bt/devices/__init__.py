"""Device models and the buses that route guest I/O to them."""
from bt.devices.base import Device
from bt.devices.bus import MmioBus, PortBus
from bt.devices.misc import DebugConsole, ExitPort, PostPort
from bt.devices.uart import Uart16550

__all__ = ["Device", "PortBus", "MmioBus", "Uart16550", "ExitPort", "PostPort", "DebugConsole"]
