#!/usr/bin/env python3
"""SimpleQuery on encrypted data with Spark local[2] (see docs/SPARK.md).

    pip install -e '.[spark]' && python examples/simple_query.py --rows 100000 --seed 7

Same as ``sealio demo simple-query``.
"""

import sys

from sealio.spark.simple_query import main

if __name__ == "__main__":
    sys.exit(main())
