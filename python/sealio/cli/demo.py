"""``sealio demo [simple-query]``: guided walkthroughs, kept out of the
library core. The round trip drives the CLI through its own entry point
(handed in by the parser, so this module never imports the package that
registers it); the Spark SimpleQuery walkthrough is
:func:`sealio.spark.simple_query.simple_query`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from sealio.cli._common import EXIT_FAIL, EXIT_OK, JAVA_HINT, MissingPart, java_home

Main = Callable[[Sequence[str]], int]


def cmd_demo(args: argparse.Namespace, *, main: Main) -> int:
    """Show the whole round trip in a temporary directory."""
    if getattr(args, "which", None) == "simple-query":  # the Spark walkthrough (needs sealio[spark])
        check_spark("sealio demo simple-query")
        from sealio.spark.simple_query import simple_query

        with quiet_pyspark_pandas_warning():
            return simple_query(args.rows, args.seed, args.keep)
    return round_trip(args.keep, main)


@contextlib.contextmanager
def quiet_pyspark_pandas_warning() -> Iterator[None]:
    """Without PySpark 4's FutureWarning about pandas >= 3, which it gives
    whenever a SparkContext starts, pandas used or not (converting the
    first JVM argument imports ``pyspark.testing.utils``, which checks the
    pandas version). sealio's Spark paths are tested with pandas 3, and
    the ``dataframes`` extra needs it (chained ``sealio::`` URLs)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"PySpark does not yet fully support pandas >= 3",
                                category=FutureWarning)
        yield


def check_spark(what: str) -> None:
    """Before any work: pyspark importable and a Java for it to start, else
    one sentence saying what to install (not a traceback, nor Spark's
    ``JAVA_GATEWAY_EXITED`` after the data is made)."""
    try:
        import pyspark  # noqa: F401
    except ModuleNotFoundError:
        raise MissingPart(f"{what} needs pyspark, which is not installed: pip install 'sealio[spark]'") from None
    if java_home() is None:
        raise MissingPart(f"{what} needs Java for Spark, and none was found: {JAVA_HINT}")


def round_trip(keep_dir: str | None, main: Main) -> int:
    """Keyring, CSV and Parquet files, then encrypt, inspect, verify,
    decrypt, compare, read the sealed Parquet with pyarrow, and show that a
    flipped bit fails verification; each step printed as the command it is."""
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    import sealio

    keep = Path(keep_dir).resolve() if keep_dir else None
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
    import tempfile  # here, not at the top: every command imports this module to register "demo"

    work = Path(tempfile.mkdtemp(prefix="sealio-demo-", dir=keep))
    cwd = os.getcwd()

    def say(text: str) -> None:
        print(text, flush=True)

    def run(*argv: str) -> int:
        say("$ sealio " + " ".join(argv))
        rc = main(list(argv))
        if rc != 0:
            raise SystemExit(f"demo step failed with exit status {rc}")
        return rc

    try:
        os.chdir(work)
        say(f"# working in {work}")
        (Path("data")).mkdir()
        with open("data/people.csv", "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "name", "city"])
            for i, (n, c) in enumerate([("Ada", "London"), ("Grace", "New York"), ("Alan", "Wilmslow")]):
                w.writerow([i, n, c])
        table = pa.table({"id": list(range(10_000)), "value": [i * 0.5 for i in range(10_000)]})
        pq.write_table(table, "data/values.parquet")
        say("# wrote data/people.csv (3 rows) and data/values.parquet (10,000 rows)")
        run("keygen", "--keyring", "keyring.json", "demo-key")
        run("encrypt", "--keyring", "keyring.json", "--master-key", "demo-key", "--quiet", "data", "sealed")
        run("inspect", "sealed/people.csv")
        run("verify", "--keyring", "keyring.json", "sealed")
        run("decrypt", "--keyring", "keyring.json", "--quiet", "sealed", "restored")
        for name in ("people.csv", "values.parquet"):
            same = Path("data", name).read_bytes() == Path("restored", name).read_bytes()
            say(f"# restored/{name} {'matches' if same else 'DIFFERS FROM'} data/{name}")
            if not same:
                return EXIT_FAIL
        kr = sealio.LocalKeyring("keyring.json")
        with sealio.open("sealed/values.parquet", "rb", keys=kr) as f:
            back = pq.read_table(f)
            say(f"# pyarrow read the sealed Parquet directly: {back.num_rows} rows, "
                f"{f.segments_decrypted} of {f.segment_count} segments decrypted, equal: {back.equals(table)}")
        raw = bytearray(Path("sealed/people.csv").read_bytes())
        raw[-5] ^= 1
        Path("sealed/people.csv").write_bytes(raw)
        say("# flipped one bit of sealed/people.csv; verify must now fail:")
        say("$ sealio verify --keyring keyring.json sealed/people.csv")
        rc = main(["verify", "--keyring", "keyring.json", "sealed/people.csv"])
        say(f"# exit status {rc} (1 = integrity failure, as expected)")
        say("# done: every step above is a command you can run yourself")
        return EXIT_OK if rc == EXIT_FAIL else EXIT_FAIL
    finally:
        os.chdir(cwd)
        if keep is None:
            import shutil

            shutil.rmtree(work, ignore_errors=True)


def register(sub: argparse._SubParsersAction, main: Main) -> None:
    """Add demo to ``sub``; ``main`` runs each step of the round trip."""
    sp = sub.add_parser("demo", help="a guided round trip in a temporary directory",
                        description="Create a keyring, a CSV and a Parquet file, then encrypt, "
                                    "inspect, verify, decrypt and compare them, printing each command.")
    sp.add_argument("--keep", metavar="DIR", help="work under DIR and keep the files")
    sp.add_argument("which", nargs="?", choices=["simple-query"], metavar="{simple-query}",
                    help="simple-query: SimpleQuery on encrypted people.csv with Spark local[2] (sealio[spark])")
    sp.add_argument("--rows", type=int, default=20_000, help="simple-query: rows of people.csv")
    sp.add_argument("--seed", type=int, default=1, help="simple-query: random seed for people.csv")
    sp.set_defaults(func=functools.partial(cmd_demo, main=main))
