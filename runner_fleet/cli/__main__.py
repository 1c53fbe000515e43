import sys

from runner_fleet.cli import main

sys.exit(main())
