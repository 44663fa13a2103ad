import sys

from erpbi.cli import main

sys.exit(main())
