"""`cryocc_relion_driver`: the fn_exe RELION runs for every cryocc job."""

import sys

from ._runtime import main as _main


def main() -> None:
    sys.exit(_main())


if __name__ == "__main__":
    main()
