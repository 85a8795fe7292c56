"""BigDL common format: sealio's paths against peers measured in the same run.

Lines (median of N trials, MB/s of plaintext, and the ratio to the peer):

* write 8 parts: ``common.encrypt_parts`` (multi-buffer CBC, streamed
  from files, atomic outputs) vs ``CommonWriter`` one part after another
  (one serial CBC chain at a time, also through the C core) vs the
  ``cryptography`` reference (tests/bigdl_xref.py style, whole files).
* read 1 part: ``open_common`` (MAC pass + decrypting pass that re-checks
  each chunk) vs ``cryptography`` CBC + hmac over the same bytes in memory.
* SimpleQuery over a BigDL CSV directory: ``bigdl.open_dataset`` (the
  read-only pyarrow filesystem) and ``csv_batch_reader`` vs pyarrow reading
  the same CSV parts in plaintext (the ratio is the cost of BigDL's format).

Reports only; exits 0 whatever the speed. ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import os
import statistics
import tempfile
import time
import warnings
from pathlib import Path

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from sealio.bigdl import common
from sealio.bigdl.keys import DataKeyText

warnings.simplefilter("ignore")


def _timeit(fn, trials: int) -> float:
    times = []
    for _ in range(trials):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--parts", type=int, default=8)
    ap.add_argument("--mib", type=int, default=16, help="MiB per part")
    args = ap.parse_args()
    mib = 2 if args.quick else args.mib
    trials = 3 if args.quick else 5
    keys = DataKeyText("0123456789abcdefQRSTUVWXYZabcdef")
    key = keys.decrypt_data_key("")
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        srcs = []
        for i in range(args.parts):
            p = d / f"in{i}"
            p.write_bytes(os.urandom(mib << 20))
            srcs.append(p)
        total = args.parts * (mib << 20)

        def multi() -> None:
            hs = [open(p, "rb") for p in srcs]
            try:
                common.encrypt_parts([(h, mib << 20, d / f"m{i}.cbc") for i, h in enumerate(hs)], keys)
            finally:
                for h in hs:
                    h.close()

        def serial() -> None:
            for i, p in enumerate(srcs):
                with open(p, "rb") as fin, open(d / f"s{i}.cbc", "wb") as fout:
                    w = common.CommonWriter(fout, keys)
                    while chunk := fin.read(1 << 20):
                        w.write(chunk)
                    w.close()

        def reference() -> None:
            for i, p in enumerate(srcs):
                iv = os.urandom(16)
                pad = padding.PKCS7(128).padder()
                enc = Cipher(algorithms.AES(key.aes_key(16)), modes.CBC(iv)).encryptor()
                ct = enc.update(pad.update(p.read_bytes()) + pad.finalize()) + enc.finalize()
                (d / f"r{i}.cbc").write_bytes(common.build_header("e" * 44, iv) + ct
                                              + hmac.new(key.hmac_key, ct, hashlib.sha256).digest())

        t_multi, t_serial, t_ref = (_timeit(f, trials) for f in (multi, serial, reference))
        print(f"write {args.parts} x {mib} MiB parts (MB/s, median of {trials}):")
        print(f"  encrypt_parts (multi-buffer)  {total / t_multi / 1e6:8.0f}")
        print(f"  CommonWriter, serial          {total / t_serial / 1e6:8.0f}   multi/serial {t_serial / t_multi:.2f}x")
        print(f"  cryptography reference        {total / t_ref / 1e6:8.0f}   multi/ref    {t_ref / t_multi:.2f}x")

        part = d / "m0.cbc"

        def read_sealio() -> None:
            with common.open_common(part, keys) as f:
                while f.read(1 << 20):
                    pass

        def read_ref() -> None:
            blob = part.read_bytes()
            ct = blob[400:-32]
            assert hmac.compare_digest(hmac.new(key.hmac_key, ct, hashlib.sha256).digest(), blob[-32:])
            dec = Cipher(algorithms.AES(key.aes_key(16)), modes.CBC(blob[52:68])).decryptor()
            dec.update(ct)

        t_read, t_rref = _timeit(read_sealio, trials), _timeit(read_ref, trials)
        n = mib << 20
        print(f"read 1 x {mib} MiB part (MB/s):")
        print(f"  open_common (2 passes, C core) {n / t_read / 1e6:8.0f}")
        print(f"  cryptography, in memory        {n / t_rref / 1e6:8.0f}   sealio/ref {t_rref / t_read:.2f}x")
        _simple_query(d, keys, rows=200_000 if args.quick else 2_000_000, trials=trials)


def _simple_query(d: Path, keys: DataKeyText, *, rows: int, trials: int) -> None:
    """SimpleQuery (developers aged 20..40) over 4 CSV parts, sealed as
    BigDL writes them and in plaintext, read the same way."""
    import random

    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    from sealio import bigdl

    rng = random.Random(1)
    plain_dir, bigdl_dir = d / "plain", d / "people.bigdl"
    plain_dir.mkdir()
    bigdl_dir.mkdir()
    parts, per = 4, rows // 4
    texts = []
    for i in range(parts):
        lines = [f"{''.join(rng.choices('abcdefghijklmnopqrstuvwxyz', k=rng.randint(3, 7)))},"
                 f"{rng.randint(18, 60)},{rng.choice(('Developer', 'Engineer', 'Researcher'))}\n" for _ in range(per)]
        texts.append(("name,age,job\n" + "".join(lines)).encode())
        (plain_dir / f"part-{i:05d}.csv").write_bytes(texts[-1])
    for i, blob in enumerate(bigdl.encrypt_many(texts, keys)):
        (bigdl_dir / f"part-{i:05d}.csv.cbc").write_bytes(blob)
    query = (pc.field("job") == "Developer") & (pc.field("age") >= 20) & (pc.field("age") <= 40)
    counts: dict[str, int] = {}

    def plain() -> None:
        counts["plain"] = ds.dataset(str(plain_dir), format="csv").to_table(filter=query).num_rows

    def sealed_fs() -> None:
        counts["fs"] = bigdl.open_dataset(str(bigdl_dir), keys=keys).to_table(filter=query).num_rows

    def batches() -> None:
        reader = bigdl.csv_batch_reader(bigdl_dir, bigdl.Opener("common", keys=keys))
        counts["batches"] = ds.dataset(reader).to_table(filter=query).num_rows

    t_plain, t_fs, t_batches = (_timeit(f, trials) for f in (plain, sealed_fs, batches))
    assert counts["plain"] == counts["fs"] == counts["batches"] > 0
    mb = sum(len(t) for t in texts) / 1e6
    print(f"SimpleQuery over {rows:,} rows in {parts} CSV parts ({mb:.0f} MB; seconds, median of {trials}):")
    print(f"  pyarrow, plaintext parts        {t_plain:8.3f}")
    print(f"  bigdl.open_dataset (filesystem) {t_fs:8.3f}   BigDL/plain {t_fs / t_plain:.2f}x")
    print(f"  csv_batch_reader (one stream)   {t_batches:8.3f}   BigDL/plain {t_batches / t_plain:.2f}x")


if __name__ == "__main__":
    main()
