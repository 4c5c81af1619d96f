import sys

from blockprov_engine.cli import main

sys.exit(main())
