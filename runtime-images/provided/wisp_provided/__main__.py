import sys

from wisp_provided.main import main

sys.exit(main(sys.argv[1:]))
