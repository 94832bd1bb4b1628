import sys

from bt.cli import main

sys.exit(main())
