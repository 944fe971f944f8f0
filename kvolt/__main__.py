import sys

from kvolt.cli import main

sys.exit(main())
