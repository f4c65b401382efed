import sys

from graphspec.cli.main import main

sys.exit(main())
