import sys

from . import main

if __name__ == "__main__":
    result = main()
    sys.exit(0 if result is not None else 1)
