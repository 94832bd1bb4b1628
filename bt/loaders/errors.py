from bt.machine import BtError


class LoaderError(BtError):
    """A bad image: the message names the problem and, where it applies, the file offset."""
