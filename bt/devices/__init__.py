"""Device models and the buses that route guest I/O to them."""
from bt.devices.base import Device
from bt.devices.bus import MmioBus, PortBus
from bt.devices.misc import DebugConsole, ExitPort, PostPort
from bt.devices.kbc import Kbc8042
from bt.devices.pic import PicPair
from bt.devices.pit import Pit8254
from bt.devices.rtc import CmosRtc
from bt.devices.uart import Uart16550

__all__ = ["Device", "PortBus", "MmioBus", "Uart16550", "ExitPort", "PostPort", "DebugConsole",
           "PicPair", "Pit8254", "CmosRtc", "Kbc8042"]
