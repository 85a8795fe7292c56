"""cffi (out-of-line, API mode) build of ``sealio._native`` from ``csrc/``.

The cdef repeats the public declarations of ``csrc/include/sealio.h``;
``SEALIO_ABI_VERSION`` is compared at import so a stale build is caught.
"""

from __future__ import annotations

import os
import pathlib

from cffi import FFI

HERE = pathlib.Path(__file__).resolve().parent

CDEF = """
#define SEALIO_ABI_VERSION 2
#define SEALIO_GCM_NONCE_BYTES 12
#define SEALIO_GCM_TAG_BYTES 16
#define SEALIO_STREAM_PREFIX_BYTES 7
#define SEALIO_OK 0
#define SEALIO_ERR_AUTH -1
#define SEALIO_ERR_PADDING -2
#define SEALIO_ERR_ARG -3
#define SEALIO_ERR_UNSUPPORTED -4
#define SEALIO_ERR_NOMEM -5
#define SEALIO_ERR_THREAD -6
#define SEALIO_ERR_OVERLAP -7
#define SEALIO_KERNEL_AUTO 0
#define SEALIO_KERNEL_AESNI 1
#define SEALIO_KERNEL_VAES 2

int sealio_abi_version(void);
unsigned sealio_cpu_features(void);
int sealio_kernel_available(int kernel);
int sealio_kernel_best(void);
const char *sealio_kernel_name(int kernel);

typedef struct sealio_gcm sealio_gcm;
sealio_gcm *sealio_gcm_new(const uint8_t *key, size_t key_len, int kernel,
                           int *status);
void sealio_gcm_free(sealio_gcm *ctx);
int sealio_gcm_kernel(const sealio_gcm *ctx);
int sealio_contexts_dontdump(void);
int sealio_gcm_encrypt(const sealio_gcm *ctx, const uint8_t *nonce,
                       const uint8_t *aad, size_t aad_len, const uint8_t *in,
                       size_t len, uint8_t *out, uint8_t *tag);
int sealio_gcm_decrypt(const sealio_gcm *ctx, const uint8_t *nonce,
                       const uint8_t *aad, size_t aad_len, const uint8_t *in,
                       size_t len, const uint8_t *tag, uint8_t *out);

typedef struct sealio_segments {
    size_t segment_size;
    const uint8_t *nonces;
    const uint8_t *prefix;
    uint32_t first_index;
    int final;
    const uint8_t *aad;
    size_t aad_len;
    unsigned threads;
} sealio_segments;
size_t sealio_segments_sealed_len(size_t plain_len, size_t segment_size);
int sealio_gcm_seal_segments(const sealio_gcm *ctx, const sealio_segments *p,
                             const uint8_t *in, size_t plain_len, uint8_t *out,
                             size_t out_cap);
int sealio_gcm_open_segments(const sealio_gcm *ctx, const sealio_segments *p,
                             const uint8_t *in, size_t in_len, uint8_t *out,
                             size_t out_cap, size_t *plain_len,
                             size_t *bad_segment);

typedef struct sealio_cbc sealio_cbc;
sealio_cbc *sealio_cbc_new(const uint8_t *key, size_t key_len, int kernel,
                           int *status);
void sealio_cbc_free(sealio_cbc *ctx);
int sealio_cbc_encrypt(const sealio_cbc *ctx, const uint8_t *iv,
                       const uint8_t *in, size_t len, uint8_t *out);
int sealio_cbc_decrypt(const sealio_cbc *ctx, const uint8_t *iv,
                       const uint8_t *in, size_t len, uint8_t *out);
int sealio_cbc_encrypt_pad(const sealio_cbc *ctx, const uint8_t *iv,
                           const uint8_t *in, size_t len, uint8_t *out,
                           size_t out_cap, size_t *out_len);
int sealio_cbc_decrypt_pad(const sealio_cbc *ctx, const uint8_t *iv,
                           const uint8_t *in, size_t len, uint8_t *out,
                           size_t out_cap, size_t *out_len);
typedef struct sealio_cbc_job {
    const sealio_cbc *ctx;
    const uint8_t *iv;
    const uint8_t *in;
    size_t len;
    uint8_t *out;
    size_t out_cap;
    size_t out_len;
} sealio_cbc_job;
int sealio_cbc_encrypt_multi(sealio_cbc_job *jobs, size_t n_jobs, int pad);
void sealio_wipe(void *p, size_t len);
"""

SOURCES = sorted(str(p.relative_to(HERE.parent)) for p in HERE.glob("*.c"))


def _flags() -> tuple[list[str], list[str]]:
    """Compiler and linker flags. No ``-m`` ISA flags, on purpose: each x86
    kernel selects its instruction set per file or function (``#pragma GCC
    target`` / ``target`` attributes), so the portable code (dispatch, CPU
    probe, threads) stays runnable on any CPU of the target, and non-x86
    targets compile only the portable parts (``SEALIO_X86`` in internal.h).
    ``SEALIO_PORTABLE=1`` forces that portable build on x86 too, which is
    how the non-x86 path is tested here (tests/test_packaging.py)."""
    cflags = ["-O3", "-std=gnu11", "-fvisibility=hidden", "-pthread"]
    ldflags = ["-pthread"]
    if os.environ.get("SEALIO_PORTABLE", "") not in ("", "0"):
        cflags.append("-DSEALIO_NO_X86")
    if os.environ.get("SEALIO_SANITIZE"):
        san = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=undefined", "-O1", "-g"]
        cflags += san
        ldflags += san
    return cflags, ldflags


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
_cflags, _ldflags = _flags()
ffibuilder.set_source(
    "sealio._native",
    '#include "sealio.h"',
    sources=SOURCES,
    include_dirs=[str(HERE / "include"), str(HERE)],
    extra_compile_args=_cflags,
    extra_link_args=_ldflags,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
