"""Envelope encryption: a KEK per writer and master key, a DEK per file.

Key hierarchy (as Parquet Modular Encryption with double wrapping):

* a **master key** lives in a KMS (or :class:`~sealio.LocalKeyring`) and
  never leaves it; it wraps
* a **KEK** (32 random bytes), made once per writer and master key and
  reused for many files until ``kek_ttl`` expires; the KEK wraps, locally
  with AES-256-GCM,
* a **DEK** (32 random bytes), one per file, from which the file's keys
  are derived (:func:`sealio.format.header.derive_keys`).

So sealing or opening 10,000 files costs one KMS call per master key and
TTL period, not one per file. KEKs and DEKs never appear in reprs,
exceptions, logs or pickles.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from sealio.errors import IntegrityError, KmsError, SealioError
from sealio.format import header as H
from sealio.hazmat import AesGcm

__all__ = ["DEFAULT_KEK_TTL", "DekSlot", "KeyManager"]

DEFAULT_KEK_TTL = 600.0  # seconds, as PME's cache_lifetime default


class _Kek(NamedTuple):
    kek_id: bytes
    wrapped: str
    key: bytes
    expires: float

    def __repr__(self) -> str:
        return f"_Kek(kek_id={self.kek_id.hex()})"


class DekSlot(NamedTuple):
    """The key-slot fields of a header (all public)."""

    kek_id: bytes
    master_key_id: str
    wrapped_kek: str
    dek_nonce: bytes
    wrapped_dek: bytes


class KeyManager:
    """Envelope encryption over a :class:`KmsClient` with KEK caches.

    Writers reuse one KEK per master key until ``kek_ttl`` seconds pass;
    readers cache unwrapped KEKs for ``cache_ttl`` seconds keyed by
    (master key id, wrapped KEK). Thread-safe. ``clear()`` drops both
    caches (e.g. after revoking a master key). A writer KEK is also
    replaced after ``kek_max_wraps`` DEK wraps: DEK nonces are random
    96-bit values, so one KEK must not wrap more than 2**32 DEKs.
    """

    kek_max_wraps: int = 1 << 32

    def __init__(self, kms: Any, *, kek_ttl: float = DEFAULT_KEK_TTL, cache_ttl: float = DEFAULT_KEK_TTL,
                 default_master_key: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if not (callable(getattr(kms, "wrap_key", None)) and callable(getattr(kms, "unwrap_key", None))):
            raise TypeError("kms must have wrap_key(key_bytes, master_key_identifier) and "
                            "unwrap_key(wrapped_key, master_key_identifier)")
        self.kms = kms
        self.kek_ttl = float(kek_ttl)
        self.cache_ttl = float(cache_ttl)
        self._default = default_master_key
        self._clock = clock
        self._lock = threading.Lock()
        self._writer_keks: dict[str, _Kek] = {}
        self._kek_wraps: dict[str, int] = {}  # DEKs wrapped under the current writer KEK
        self._reader_keks: dict[tuple[str, str], tuple[bytes, float]] = {}

    @property
    def default_master_key(self) -> str | None:
        return self._default or getattr(self.kms, "default", None)

    def clear(self) -> None:
        with self._lock:
            self._writer_keks.clear()
            self._kek_wraps.clear()
            self._reader_keks.clear()

    def _random(self, n: int) -> bytes:
        """All randomness of the envelope and header (a seam for test vectors)."""
        return os.urandom(n)

    def _writer_kek(self, master_key_id: str, *, wrap: bool = False) -> _Kek:
        """The current writer KEK (a new one after ``kek_ttl`` or
        ``kek_max_wraps``); ``wrap=True`` counts one DEK wrap under it."""
        now = self._clock()
        with self._lock:
            kek = self._writer_keks.get(master_key_id)
            uses = self._kek_wraps.get(master_key_id, 0)
            if kek is None or now >= kek.expires or uses >= self.kek_max_wraps:
                key, kek_id = self._random(H.KEY_SIZE), self._random(H.KEK_ID_SIZE)
                wrapped = _kms_wrap(self.kms, key, master_key_id)
                kek = _Kek(kek_id, wrapped, key, now + self.kek_ttl)
                self._writer_keks[master_key_id] = kek
                self._reader_keks[(master_key_id, wrapped)] = (key, now + self.cache_ttl)
                uses = 0
            self._kek_wraps[master_key_id] = uses + 1 if wrap else uses
            return kek

    def _reader_kek(self, master_key_id: str, wrapped: str) -> bytes:
        now = self._clock()
        with self._lock:
            hit = self._reader_keks.get((master_key_id, wrapped))
            if hit is not None and now < hit[1]:
                return hit[0]
            key = _kms_unwrap(self.kms, wrapped, master_key_id)
            self._reader_keks[(master_key_id, wrapped)] = (key, now + self.cache_ttl)
            return key

    def wrap_dek(self, dek: bytes, master_key_id: str) -> DekSlot:
        """Wrap ``dek`` under the current KEK of ``master_key_id``.

        The DEK nonce is random: with a KEK rotated every ``kek_ttl`` seconds,
        far fewer than 2**32 DEKs are wrapped under one KEK."""
        if not isinstance(master_key_id, str):
            raise TypeError("master key identifier must be a str")
        if len(master_key_id.encode("utf-8")) > H.MASTER_KEY_ID_MAX:
            raise ValueError(f"master key identifier is longer than {H.MASTER_KEY_ID_MAX} bytes")
        kek = self._writer_kek(master_key_id, wrap=True)
        dek_nonce = self._random(H.DEK_NONCE_SIZE)
        wrapped_dek = AesGcm(kek.key).encrypt(dek_nonce, dek, H.dek_wrap_aad(kek.kek_id))
        return DekSlot(kek.kek_id, master_key_id, kek.wrapped, dek_nonce, wrapped_dek)

    def seal_header(self, master_key_id: str, segment_log2: int, aad: bytes | None) -> tuple[H.Header, bytes]:
        """A new file's authenticated header and its segment key K_seg.

        Randomness is drawn in this order (test vectors rely on it): KEK (32)
        and KEK id (16) when a new KEK is made, DEK (32), DEK nonce (12),
        salt (32), nonce prefix (7)."""
        if not H.MIN_SEGMENT_LOG2 <= segment_log2 <= H.MAX_SEGMENT_LOG2:
            raise ValueError("segment_log2 out of range")
        self._writer_kek(master_key_id)
        dek = self._random(H.KEY_SIZE)
        slot = self.wrap_dek(dek, master_key_id)
        salt, prefix = self._random(H.SALT_SIZE), self._random(H.PREFIX_SIZE)
        header = _header_with_slot(segment_log2, salt, prefix, slot)  # version 1.1
        keys = H.derive_keys(dek, header, aad)
        header = header.replace(commitment=keys.commitment)
        return header.replace(mac=H.compute_mac(keys.k_hdr, header.body())), keys.k_seg

    def _authenticate(self, data: bytes | memoryview, aad: bytes | None,
                      require_commitment: bool) -> tuple[H.Header, bytes, H.FileKeys]:
        """Parse (FormatError family; a 1.0 header refused before any KMS call
        when ``require_commitment``), KEK (KMS), DEK (IntegrityError), derive,
        key commitment (1.1, constant time), header MAC (IntegrityError)."""
        header = H.parse(data, require_commitment=require_commitment)
        dek = self.unwrap_dek(header)
        keys = H.derive_keys(dek, header, aad)
        H.verify_commitment(keys, header)  # before the MAC is trusted and any segment is opened
        H.verify_mac(keys.k_hdr, header)
        return header, dek, keys

    def open_header(self, data: bytes | memoryview, aad: bytes | None, *,
                    require_commitment: bool = False) -> tuple[H.Header, bytes]:
        """Parse and authenticate a header; returns it and K_seg.

        Order: parse (FormatError family), KEK (KMS), DEK (IntegrityError),
        derive, key commitment (1.1), header MAC (IntegrityError).
        ``require_commitment`` refuses version 1.0 (UnsupportedFormatError)."""
        header, _, keys = self._authenticate(data, aad, require_commitment)
        return header, keys.k_seg

    def rewrap_header(self, data: bytes | memoryview, aad: bytes | None, *, new_keys: KeyManager | None = None,
                      new_master_key: str | None = None, require_commitment: bool = False) -> bytes:
        """Authenticate a header, then re-wrap its DEK under ``new_master_key``
        (default: the same name, i.e. its newest version) via ``new_keys``
        (default: this manager) and recompute the MAC. Segments are unchanged
        because the DEK, salt and prefix are; so is the minor version (1.0
        stays 1.0: upgrading changes K_seg, i.e. needs re-encryption) and a
        1.1 commitment (it depends on neither the KEK nor the key slot)."""
        header, dek, keys = self._authenticate(data, aad, require_commitment)
        target = new_keys or self
        slot = target.wrap_dek(dek, new_master_key or header.master_key_id)
        fresh = _header_with_slot(header.segment_log2, header.salt, header.nonce_prefix, slot).replace(
            minor_version=header.minor_version, commitment=header.commitment)
        return fresh.replace(mac=H.compute_mac(keys.k_hdr, fresh.body())).pack()

    def unwrap_dek(self, header: H.Header) -> bytes:
        """The DEK of a parsed header (KEK from cache or KMS)."""
        kek = self._reader_kek(header.master_key_id, header.wrapped_kek)
        try:
            return AesGcm(kek).decrypt(header.dek_nonce, header.wrapped_dek, H.dek_wrap_aad(header.kek_id))
        except IntegrityError:
            raise IntegrityError("sealed file key slot failed authentication "
                                 "(tampered header or wrong master key)") from None

    def __repr__(self) -> str:
        return f"KeyManager(kms={type(self.kms).__name__}, kek_ttl={self.kek_ttl})"

    def __reduce__(self) -> Any:
        raise TypeError("KeyManager caches key material and cannot be pickled")


def _header_with_slot(segment_log2: int, salt: bytes, prefix: bytes, slot: DekSlot) -> H.Header:
    return H.Header(segment_log2=segment_log2, salt=salt, nonce_prefix=prefix, kek_id=slot.kek_id,
                    master_key_id=slot.master_key_id, wrapped_kek=slot.wrapped_kek,
                    dek_nonce=slot.dek_nonce, wrapped_dek=slot.wrapped_dek)


def _kms_wrap(kms: Any, key: bytes, master_key_id: str) -> str:
    try:
        wrapped = kms.wrap_key(key, master_key_id)
    except SealioError:
        raise
    except Exception as e:  # the KEK was an argument: report only the type
        raise KmsError(f"KMS wrap_key failed for master key {master_key_id!r} ({type(e).__name__})") from None
    if isinstance(wrapped, bytes):
        wrapped = wrapped.decode("ascii", "replace")
    # KEKs are cached across files and written into 1.1 headers: the shorter bound
    if not isinstance(wrapped, str) or not 1 <= len(wrapped) <= H.WRAPPED_KEK_MAX_COMMITTED or \
            not all(" " <= c <= "~" for c in wrapped):
        raise KmsError(f"KMS wrap_key must return 1..{H.WRAPPED_KEK_MAX_COMMITTED} printable ASCII characters "
                       f"(a format 1.0 header held {H.WRAPPED_KEK_MAX}; 1.1 keeps {H.COMMIT_SIZE} bytes "
                       "of that room for the key commitment)")
    return wrapped


def _kms_unwrap(kms: Any, wrapped: str, master_key_id: str) -> bytes:
    try:
        key = kms.unwrap_key(wrapped, master_key_id)
    except SealioError:
        raise
    except Exception as e:
        raise KmsError(f"KMS unwrap_key failed for master key {master_key_id!r}: "
                       f"{type(e).__name__}: {e}") from None
    if not isinstance(key, (bytes, bytearray)) or len(key) != H.KEY_SIZE:
        raise IntegrityError("KMS returned a KEK that is not 32 bytes (wrong master key?)")
    return bytes(key)
