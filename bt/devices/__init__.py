"""Device models and the buses that route guest I/O to them."""
from bt.devices.bus import PortBus

__all__ = ["PortBus"]
