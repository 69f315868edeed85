#!/usr/bin/env python3
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(__file__))))
from fake import main  # noqa: E402

main(os.path.basename(sys.argv[0]), sys.argv[1:])
