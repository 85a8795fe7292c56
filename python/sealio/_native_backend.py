"""The C core behind the primitives. cffi releases the GIL around every
call, so these methods run in parallel from Python threads."""

from __future__ import annotations

from sealio import _kernel
from sealio.errors import IntegrityError, KernelUnavailableError

TAG = 16


def _raise_status(status: int, what: str) -> None:
    ffi, lib = _kernel.native()  # type: ignore[misc]
    if status == lib.SEALIO_ERR_UNSUPPORTED:
        raise KernelUnavailableError(f"{what}: kernel not supported on this CPU")
    if status == lib.SEALIO_ERR_NOMEM:
        raise MemoryError(what)
    if status == lib.SEALIO_ERR_THREAD:
        raise RuntimeError(f"{what}: could not start worker threads")
    raise ValueError(f"{what}: invalid arguments (status {status})")


class NativeGcm:
    __slots__ = ("_ctx", "kernel")

    def __init__(self, key: memoryview, kernel: str) -> None:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        status = ffi.new("int *")
        ctx = lib.sealio_gcm_new(ffi.from_buffer(key), key.nbytes, _kernel.native_id(kernel), status)
        if ctx == ffi.NULL:
            _raise_status(status[0], "AES-GCM key setup")
        self._ctx = ffi.gc(ctx, lib.sealio_gcm_free)
        self.kernel = kernel

    def encrypt(self, nonce: memoryview, aad: memoryview, src: memoryview, out: memoryview) -> None:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        n = src.nbytes
        o = ffi.from_buffer(out, require_writable=True)
        rc = lib.sealio_gcm_encrypt(
            self._ctx, ffi.from_buffer(nonce), ffi.from_buffer(aad), aad.nbytes,
            ffi.from_buffer(src), n, o, o + n,
        )
        if rc != 0:
            _raise_status(rc, "AES-GCM encrypt")

    def decrypt(self, nonce: memoryview, aad: memoryview, src: memoryview, out: memoryview) -> None:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        n = src.nbytes - TAG
        s = ffi.from_buffer(src)
        rc = lib.sealio_gcm_decrypt(
            self._ctx, ffi.from_buffer(nonce), ffi.from_buffer(aad), aad.nbytes,
            s, n, s + n, ffi.from_buffer(out, require_writable=True),
        )
        if rc == lib.SEALIO_ERR_AUTH:
            raise IntegrityError("AES-GCM authentication failed")
        if rc != 0:
            _raise_status(rc, "AES-GCM decrypt")

    def _params(self, segment_size: int, prefix: memoryview | None, nonces: memoryview | None,
                first_index: int, final: bool, aad: memoryview, threads: int):
        ffi, _ = _kernel.native()  # type: ignore[misc]
        p = ffi.new("sealio_segments *")
        keep = []
        p.segment_size = segment_size
        if nonces is not None:
            keep.append(ffi.from_buffer(nonces))
            p.nonces = keep[-1]
        else:
            keep.append(ffi.from_buffer(prefix))
            p.prefix = keep[-1]
        p.first_index = first_index
        p.final = 1 if final else 0
        keep.append(ffi.from_buffer(aad))
        p.aad = keep[-1]
        p.aad_len = aad.nbytes
        p.threads = threads
        return p, keep

    def seal_segments(self, src: memoryview, out: memoryview, segment_size: int, *,
                      prefix: memoryview | None, nonces: memoryview | None,
                      first_index: int, final: bool, aad: memoryview, threads: int) -> int:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        p, _keep = self._params(segment_size, prefix, nonces, first_index, final, aad, threads)
        need = lib.sealio_segments_sealed_len(src.nbytes, segment_size)
        rc = lib.sealio_gcm_seal_segments(
            self._ctx, p, ffi.from_buffer(src), src.nbytes,
            ffi.from_buffer(out, require_writable=True), out.nbytes,
        )
        if rc != 0:
            _raise_status(rc, "AES-GCM segment encryption")
        return int(need)

    def open_segments(self, src: memoryview, out: memoryview, segment_size: int, *,
                      prefix: memoryview | None, nonces: memoryview | None,
                      first_index: int, final: bool, aad: memoryview, threads: int) -> int:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        p, _keep = self._params(segment_size, prefix, nonces, first_index, final, aad, threads)
        plain_len = ffi.new("size_t *")
        bad = ffi.new("size_t *")
        rc = lib.sealio_gcm_open_segments(
            self._ctx, p, ffi.from_buffer(src), src.nbytes,
            ffi.from_buffer(out, require_writable=True), out.nbytes, plain_len, bad,
        )
        if rc == lib.SEALIO_ERR_AUTH:
            raise IntegrityError(f"segment {first_index + bad[0]} failed authentication")
        if rc != 0:
            _raise_status(rc, "AES-GCM segment decryption")
        return int(plain_len[0])


class NativeCbc:
    __slots__ = ("_ctx", "kernel")

    def __init__(self, key: memoryview, kernel: str) -> None:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        status = ffi.new("int *")
        ctx = lib.sealio_cbc_new(ffi.from_buffer(key), key.nbytes, _kernel.native_id(kernel), status)
        if ctx == ffi.NULL:
            _raise_status(status[0], "AES-CBC key setup")
        self._ctx = ffi.gc(ctx, lib.sealio_cbc_free)
        self.kernel = kernel

    def encrypt(self, iv: memoryview, src: memoryview, out: memoryview, padding: bool) -> int:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        o = ffi.from_buffer(out, require_writable=True)
        if padding:
            n = ffi.new("size_t *")
            rc = lib.sealio_cbc_encrypt_pad(self._ctx, ffi.from_buffer(iv), ffi.from_buffer(src),
                                            src.nbytes, o, out.nbytes, n)
            written = int(n[0])
        else:
            rc = lib.sealio_cbc_encrypt(self._ctx, ffi.from_buffer(iv), ffi.from_buffer(src), src.nbytes, o)
            written = src.nbytes
        if rc != 0:
            _raise_status(rc, "AES-CBC encrypt")
        return written

    def decrypt(self, iv: memoryview, src: memoryview, out: memoryview, padding: bool) -> int:
        ffi, lib = _kernel.native()  # type: ignore[misc]
        o = ffi.from_buffer(out, require_writable=True)
        if padding:
            n = ffi.new("size_t *")
            rc = lib.sealio_cbc_decrypt_pad(self._ctx, ffi.from_buffer(iv), ffi.from_buffer(src),
                                            src.nbytes, o, out.nbytes, n)
            written = int(n[0])
        else:
            rc = lib.sealio_cbc_decrypt(self._ctx, ffi.from_buffer(iv), ffi.from_buffer(src), src.nbytes, o)
            written = src.nbytes
        if rc == lib.SEALIO_ERR_PADDING:
            raise IntegrityError("AES-CBC padding is invalid")
        if rc != 0:
            _raise_status(rc, "AES-CBC decrypt")
        return written


def cbc_encrypt_many(jobs: list[tuple[NativeCbc, memoryview, memoryview, memoryview]],
                     padding: bool) -> list[int]:
    """Encrypt independent chains interleaved; each job is (ctx, iv, src, out)."""
    ffi, lib = _kernel.native()  # type: ignore[misc]
    arr = ffi.new("sealio_cbc_job[]", len(jobs))
    keep = []
    for i, (cbc, iv, src, out) in enumerate(jobs):
        slot = arr[i]
        bufs = (ffi.from_buffer(iv), ffi.from_buffer(src), ffi.from_buffer(out, require_writable=True))
        keep.append(bufs)
        slot.ctx = cbc._ctx
        slot.iv = bufs[0]
        setattr(slot, "in", bufs[1])  # "in" is a Python keyword
        slot.len = src.nbytes
        slot.out = bufs[2]
        slot.out_cap = out.nbytes
    rc = lib.sealio_cbc_encrypt_multi(arr, len(jobs), 1 if padding else 0)
    if rc != 0:
        _raise_status(rc, "multi-buffer AES-CBC encrypt")
    return [int(arr[i].out_len) for i in range(len(jobs))]
