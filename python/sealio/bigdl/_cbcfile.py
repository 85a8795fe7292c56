"""A verified, seekable plaintext view of one BigDL CBC ciphertext.

Every BigDL format is "a header, one AES-CBC/PKCS5 ciphertext, maybe an
HMAC-SHA256 of the ciphertext". CBC decrypts any block from the block
before it, so random access is cheap; the work is making sure that every
released byte was authenticated.

At open, one streaming pass hashes the whole ciphertext and compares the
HMAC before any plaintext exists (fail closed). That pass also keeps, per
chunk, the HMAC state at the chunk's start, the digest at its end and its
last ciphertext block (the next chunk's IV). A later read of a chunk
re-hashes just that chunk from its saved state: a file changed after the
check fails at the changed chunk, *before* its plaintext is released, in
whatever order chunks are read. The plaintext size comes from the padding
of the authenticated final block, so it is exact and no padding oracle is
exposed. Memory is bounded: at most :data:`MAX_CHUNKS` saved states (the
chunk grows for very large files).

BigDL's writers computed the MAC over three different messages, read
from its sources (docs/BIGDL.md): the ciphertext (:data:`MAC_CIPHERTEXT`,
the common format), the 25-byte legacy header and the ciphertext
(:data:`MAC_HEADER_CIPHERTEXT`, ``FernetEncrypt``), and the ciphertext
without its last ``pad`` bytes (:data:`MAC_UNPADDED`, the legacy streaming
writer). A reader names the ones its format may use; the first that
matches wins. The last leaves up to 16 bytes of the final block outside
the MAC and warns.

Formats without a MAC (native), and the ``verify_mac=False`` salvage
opt-out, read the same way without the checks and warn
(:class:`~sealio.errors.UnauthenticatedWarning`).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import os
import threading
import warnings
from collections.abc import Callable
from typing import IO, Any

from sealio.errors import IntegrityError, UnauthenticatedWarning
from sealio.hazmat import AesCbc

__all__ = ["CHUNK", "MAC_CIPHERTEXT", "MAC_HEADER_CIPHERTEXT", "MAC_UNPADDED", "MAX_CHUNKS", "CbcFile", "open_source",
           "opened", "read_exact"]

BLOCK = 16
CHUNK = 1 << 20
MAX_CHUNKS = 4096  # saved HMAC states per file: bounds memory for any file size

MAC_CIPHERTEXT = "ciphertext"
MAC_HEADER_CIPHERTEXT = "header+ciphertext"
MAC_UNPADDED = "ciphertext-without-padding"


def read_exact(f: IO[bytes], view: memoryview, short: Callable[[], Exception] | None = None) -> None:
    """Fill ``view`` from ``f``; a file that ends first raises ``short()``
    (default: an :class:`IntegrityError`, the file was truncated)."""
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])  # type: ignore[attr-defined]
        if not n:
            raise short() if short else IntegrityError("the file is shorter than its layout says "
                                                       "(truncated while reading)")
        got += n


def open_source(file: str | os.PathLike[str] | IO[bytes]) -> tuple[IO[bytes], bool]:
    """(binary file object, whether we opened it). The ``open_*_stream``
    functions close a file they opened; ``owns=True`` hands them a file
    object to close as well."""
    if isinstance(file, (str, os.PathLike)):
        return open(file, "rb"), True  # noqa: SIM115 - closed by the reader
    return file, False


def opened(file: str | os.PathLike[str] | IO[bytes], name: str | None,
           owns: bool | None) -> tuple[IO[bytes], bool, int, str]:
    """What every format's ``open_*_stream`` starts with: the file object,
    whether the reader closes it, its size, and its name for messages."""
    f, was_opened = open_source(file)
    owns = was_opened if owns is None else owns
    size = f.seek(0, os.SEEK_END)
    f.seek(0)
    if name is None:
        name = str(getattr(f, "name", file if isinstance(file, (str, os.PathLike)) else "file"))
    return f, owns, size, name


def _chunk_size(ct_len: int, chunk: int) -> int:
    chunk = max(BLOCK, chunk - chunk % BLOCK)
    floor = -(-ct_len // MAX_CHUNKS)
    return max(chunk, -(-floor // BLOCK) * BLOCK)


class CbcFile(io.RawIOBase):
    """Plaintext of the CBC ciphertext ``f[start:end]`` under ``iv``: a
    seekable, thread-safe raw binary stream.

    With ``mac_key`` and ``tag``, HMAC-SHA256(mac_key, m) must equal
    ``tag`` for the message ``m`` of one of ``macs`` (``header`` is the
    header bytes that :data:`MAC_HEADER_CIPHERTEXT` covers), or
    :class:`IntegrityError` is raised from the constructor; ``mac_variant``
    names the one that matched. ``verify_mac=False`` (salvage) skips the
    checks and warns; so does a format without a MAC (``mac_key=None``).
    ``owns``: close ``f`` with this stream.
    """

    def __init__(self, f: IO[bytes], owns: bool, start: int, end: int, iv: bytes, aes: AesCbc, *,
                 mac_key: bytes | None, tag: bytes | None, verify_mac: bool = True,
                 macs: tuple[str, ...] = (MAC_CIPHERTEXT,), header: bytes = b"",
                 what: str = "file", chunk: int = CHUNK) -> None:
        super().__init__()
        self._f, self._owns, self._what = f, owns, what
        self._lock = threading.RLock()  # close() may come from the same thread (io's __del__)
        self._start, self._ct_len, self._aes = start, end - start, aes
        self._chunk = _chunk_size(self._ct_len, chunk)
        self._n_chunks = -(-self._ct_len // self._chunk)
        self._ivs: list[bytes] = [bytes(iv)]
        self._states: list[Any] | None = None  # HMAC state at each chunk's start
        self._ends: list[bytes] = []  # HMAC digest at each chunk's end
        self._mac_len = end - start  # ciphertext bytes the MAC covers
        self._final = b""  # the authenticated final block, compared again whenever it is read
        self.mac_variant: str | None = None
        self._pos = 0
        self._loaded = -1
        self._ct = bytearray(min(self._chunk, self._ct_len) + BLOCK)
        self._pt = bytearray(min(self._chunk, self._ct_len))
        self._pt_len = 0
        self.chunks_decrypted = 0  # for tests and benchmarks
        try:
            if self._ct_len % BLOCK or (self._ct_len == 0 and tag is not None):
                raise IntegrityError(f"{what}: the ciphertext is not a whole number of AES blocks (truncated?)")
            if self._ct_len == 0:  # BigDL writes an empty partition as a 0-byte file
                self._size = 0
                return
            if mac_key is not None and tag is not None and verify_mac:
                final_iv, final = self._authenticate(mac_key, bytes(tag), macs, bytes(header))
            else:
                reason = "verify_mac=False" if mac_key is not None else "the format has no MAC"
                warnings.warn(f"{what}: plaintext is not integrity-checked ({reason})",
                              UnauthenticatedWarning, stacklevel=4)
                final_iv, final = self._final_blocks_unverified()
            self._size = self._ct_len - BLOCK + self._final_length(final_iv, final)
        except BaseException:
            self.close()
            raise

    @classmethod
    def empty(cls, f: IO[bytes], owns: bool, what: str = "file") -> CbcFile:
        """The reader of a 0-byte part: BigDL's Spark writer leaves an empty
        partition as a 0-byte file in every format, and BigDL reads it as
        empty. Only exactly 0 bytes qualify; every format refuses 1..N bytes
        that are too short for its layout."""
        return cls(f, owns, 0, 0, bytes(BLOCK), AesCbc(bytes(16)), mac_key=None, tag=None, what=what)

    # -- opening

    def _authenticate(self, mac_key: bytes, tag: bytes, macs: tuple[str, ...],
                      header: bytes) -> tuple[bytes, bytes]:
        """One hashing pass per message prefix (none, then the header) until
        a variant in ``macs`` matches; keeps that pass's chunk states."""
        unknown = set(macs) - {MAC_CIPHERTEXT, MAC_HEADER_CIPHERTEXT, MAC_UNPADDED}
        if unknown:
            raise ValueError(f"unknown MAC variants {sorted(unknown)}")
        passes = [(b"", [m for m in (MAC_CIPHERTEXT, MAC_UNPADDED) if m in macs]),
                  (header, [MAC_HEADER_CIPHERTEXT] if MAC_HEADER_CIPHERTEXT in macs else [])]
        for prefix, variants in passes:
            if variants and self._hash_pass(mac_key, tag, prefix, variants):
                if self.mac_variant == MAC_UNPADDED:
                    uncovered = self._ct_len - self._mac_len
                    warnings.warn(f"{self._what}: BigDL's MAC for this file leaves out its last {uncovered} "
                                  "ciphertext bytes, so the final 16-byte block is not fully authenticated; "
                                  "migrate the data to sealed files", UnauthenticatedWarning, stacklevel=5)
                return self._final_iv, self._final
        raise IntegrityError(f"{self._what}: BigDL HMAC mismatch: the file was modified, truncated, "
                             "or the key is wrong")

    def _hash_pass(self, mac_key: bytes, tag: bytes, prefix: bytes, variants: list[str]) -> bool:
        mac = hmac.new(mac_key, prefix, digestmod=hashlib.sha256)
        states: list[Any] = []
        ends: list[bytes] = []
        ivs = self._ivs[:1]
        view = memoryview(self._ct)
        self._f.seek(self._start)
        last = self._n_chunks - 1
        n = 0
        for i in range(self._n_chunks):
            n = self._chunk_len(i)
            read_exact(self._f, view[:n])
            states.append(mac.copy())
            mac.update(view[:n])
            ends.append(mac.digest())
            if i < last:
                ivs.append(bytes(view[n - BLOCK:n]))
        final_iv = ivs[last] if n == BLOCK else bytes(view[n - 2 * BLOCK:n - BLOCK])
        final = bytes(view[n - BLOCK:n])
        mac_len = self._ct_len
        matched = None
        full = MAC_CIPHERTEXT in variants or MAC_HEADER_CIPHERTEXT in variants
        if full and hmac.compare_digest(ends[last], tag):
            matched = variants[0]
        if matched is None and MAC_UNPADDED in variants:
            # The writer hashed only as many ciphertext bytes as there were plaintext bytes, so
            # the tag covers all but the last `pad` (1..16) bytes. Every candidate is tried, in
            # the same work whatever the data, before any padding is looked at: no padding oracle.
            base = states[last].copy()
            base.update(view[:n - BLOCK])
            hits = []
            for covered in range(BLOCK):
                h = base.copy()
                h.update(view[n - BLOCK:n - BLOCK + covered])
                if hmac.compare_digest(h.digest(), tag):
                    hits.append((BLOCK - covered, h.digest()))
            if len(hits) == 1:
                pad, digest = hits[0]
                try:
                    plain_len = self._aes.decrypt_into(final_iv, final, bytearray(BLOCK), padding=True)
                except IntegrityError:
                    plain_len = -1
                if plain_len == BLOCK - pad:  # the authenticated length agrees with the padding
                    matched, mac_len, ends[last] = MAC_UNPADDED, self._ct_len - pad, digest
        if matched is None:
            return False
        self._states, self._ends, self._ivs, self._mac_len = states, ends, ivs, mac_len
        self._final_iv, self._final, self.mac_variant = final_iv, final, matched
        return True

    def _final_blocks_unverified(self) -> tuple[bytes, bytes]:
        if self._ct_len == BLOCK:
            self._f.seek(self._start)
            buf = bytearray(BLOCK)
            read_exact(self._f, memoryview(buf))
            return self._ivs[0], bytes(buf)
        self._f.seek(self._start + self._ct_len - 2 * BLOCK)
        buf = bytearray(2 * BLOCK)
        read_exact(self._f, memoryview(buf))
        return bytes(buf[:BLOCK]), bytes(buf[BLOCK:])

    def _final_length(self, iv: bytes, block: bytes) -> int:
        out = bytearray(BLOCK)
        try:
            return self._aes.decrypt_into(iv, block, out, padding=True)
        except IntegrityError:
            why = ("the MAC matched, so the AES key or format version is wrong" if self._states is not None
                   else "wrong key or a damaged file")
            raise IntegrityError(f"{self._what}: bad CBC padding ({why})") from None

    # -- reading

    def _chunk_len(self, i: int) -> int:
        return min(self._chunk, self._ct_len - i * self._chunk)

    def _decrypt_chunk(self, i: int, out: memoryview) -> int:
        """Chunk ``i``'s plaintext into ``out`` (checked against the saved
        HMAC state first, when authenticated); returns its length."""
        states = self._states  # one decision per chunk, even if close() runs meanwhile
        n = self._chunk_len(i)
        offset = self._start + i * self._chunk
        if states is not None or i == 0:
            ct = memoryview(self._ct)[:n]
            self._f.seek(offset)
            read_exact(self._f, ct)
            iv = self._ivs[0] if states is None else self._ivs[i]
        else:  # unauthenticated: the IV is the previous ciphertext block, read with the chunk
            both = memoryview(self._ct)[:n + BLOCK]
            self._f.seek(offset - BLOCK)
            read_exact(self._f, both)
            iv, ct = bytes(both[:BLOCK]), both[BLOCK:]
        last = i == self._n_chunks - 1
        if states is not None:
            h = states[i].copy()
            h.update(ct[:min(n, self._mac_len - i * self._chunk)])
            if not hmac.compare_digest(h.digest(), self._ends[i]) or \
                    (last and not hmac.compare_digest(bytes(ct[n - BLOCK:n]), self._final)):
                raise IntegrityError(f"{self._what}: the ciphertext changed after it was authenticated")
        self.chunks_decrypted += 1
        got = self._aes.decrypt_into(iv, ct, out, padding=last)
        if got != (self._size - i * self._chunk if last else n):  # unauthenticated files can change too
            raise IntegrityError(f"{self._what}: the file changed while it was being read")
        return got

    def readinto(self, buffer: Any) -> int:
        out = memoryview(buffer).cast("B")
        with self._lock:
            self._check_open()
            if self._pos >= self._size or not len(out):
                return 0
            i, off = divmod(self._pos, self._chunk)
            if i != self._loaded:
                if off == 0 and i < self._n_chunks - 1 and len(out) >= self._chunk:
                    n = self._decrypt_chunk(i, out)  # whole chunk straight into the caller's buffer
                    self._pos += n
                    return n
                self._pt_len = self._decrypt_chunk(i, memoryview(self._pt))
                self._loaded = i
            n = min(len(out), self._pt_len - off)
            out[:n] = memoryview(self._pt)[off:off + n]
            self._pos += n
            return n

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes, short only at the end (unlike a raw read,
        which may stop at a chunk boundary): Arrow treats a short read as EOF."""
        with self._lock:
            self._check_open()
            left = max(0, self._size - self._pos)
        n = left if size is None or size < 0 else min(size, left)
        buf = bytearray(n)
        got = self.readinto_full(buf)
        del buf[got:]
        return bytes(buf)

    def readinto_full(self, buffer: Any) -> int:
        """Fill ``buffer`` (or stop at the end of the plaintext)."""
        view = memoryview(buffer).cast("B")
        got = 0
        while got < len(view):
            n = self.readinto(view[got:])
            if not n:
                break
            got += n
        return got

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = os.SEEK_SET) -> int:
        with self._lock:
            self._check_open()
            base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}.get(whence)
            if base is None:
                raise ValueError(f"invalid whence {whence}")
            if base + pos < 0:
                raise ValueError("negative seek position")
            self._pos = base + pos
            return self._pos

    def tell(self) -> int:
        self._check_open()
        return self._pos

    @property
    def size(self) -> int:
        """The exact plaintext size (known once the file is opened)."""
        return self._size

    @property
    def authenticated(self) -> bool:
        return self._states is not None or self._ct_len == 0

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")

    def close(self) -> None:
        with self._lock:  # never in the middle of a read
            if not self.closed:
                self._states = None
                if self._owns:
                    self._f.close()
            super().close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._what!r}>"

    def __reduce__(self) -> Any:
        raise TypeError("a BigDL reader holds key material and cannot be pickled")
