import sys

from nwbsyn.cli import main

sys.exit(main())
