/*
 * sealio C core: AES-GCM and AES-CBC kernels for x86-64 (AES-NI + PCLMULQDQ,
 * VAES + VPCLMULQDQ), chosen once per process from CPUID/XGETBV. On other
 * targets (or built with SEALIO_NO_X86) the same API compiles without
 * kernels: none is available and every keyed constructor returns
 * SEALIO_ERR_UNSUPPORTED, so callers use another backend.
 *
 * Contract for every entry point:
 *   - No global mutable state apart from the one-time CPU probe: every call is
 *     thread-safe, and callers (the cffi binding) run them without the GIL.
 *   - Lengths are explicit size_t; a NULL pointer is allowed only with length 0.
 *   - An output buffer may start at the same address as the input it
 *     replaces (exact in-place); any other overlap of an output with an
 *     input (data, AAD, nonce, IV, tag, prefix) or with another output is
 *     refused with SEALIO_ERR_OVERLAP before anything is written.
 *   - Key contexts are opaque, page-aligned, excluded from core dumps
 *     where the OS allows (Linux: MADV_DONTDUMP), and wiped when freed.
 *   - Failing decryptions (bad tag, bad padding) zero the whole output range
 *     before returning, so no unauthenticated plaintext is released.
 *
 * Licensed under the Apache License, Version 2.0.
 */
#ifndef SEALIO_H
#define SEALIO_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define SEALIO_WUR __attribute__((warn_unused_result))
#else
#define SEALIO_WUR
#endif

/* Bumped whenever a declaration below changes; the binding checks it. */
#define SEALIO_ABI_VERSION 2
#define SEALIO_AES_BLOCK_BYTES 16
#define SEALIO_GCM_NONCE_BYTES 12
#define SEALIO_GCM_TAG_BYTES 16
#define SEALIO_STREAM_PREFIX_BYTES 7
/* GCM with a 96-bit nonce: at most 2^32 - 2 blocks per message. */
#define SEALIO_GCM_MAX_BYTES ((((uint64_t)1) << 36) - 32)

/* Status codes: 0 is success, everything else is negative. */
enum {
    SEALIO_OK = 0,
    SEALIO_ERR_AUTH = -1,        /* GCM tag mismatch */
    SEALIO_ERR_PADDING = -2,     /* CBC PKCS#7 padding invalid */
    SEALIO_ERR_ARG = -3,         /* bad length, NULL pointer, overflow */
    SEALIO_ERR_UNSUPPORTED = -4, /* kernel not available on this CPU */
    SEALIO_ERR_NOMEM = -5,
    SEALIO_ERR_THREAD = -6,      /* could not start a worker thread */
    SEALIO_ERR_OVERLAP = -7      /* buffers overlap other than exactly in place */
};

/* Kernels; SEALIO_KERNEL_AUTO picks the best the CPU supports. */
enum {
    SEALIO_KERNEL_AUTO = 0,
    SEALIO_KERNEL_AESNI = 1, /* AES-NI + PCLMULQDQ + SSE4.1, 128-bit */
    SEALIO_KERNEL_VAES = 2   /* VAES + VPCLMULQDQ + AVX2, 256-bit */
};

/* CPU feature bits reported by sealio_cpu_features(). */
enum {
    SEALIO_CPU_AESNI = 1u << 0,
    SEALIO_CPU_PCLMUL = 1u << 1,
    SEALIO_CPU_SSE41 = 1u << 2,
    SEALIO_CPU_AVX = 1u << 3, /* includes OS support (XGETBV) */
    SEALIO_CPU_AVX2 = 1u << 4,
    SEALIO_CPU_VAES = 1u << 5,
    SEALIO_CPU_VPCLMULQDQ = 1u << 6,
    SEALIO_CPU_AVX512F = 1u << 7, /* reported only; no kernel uses it yet */
    SEALIO_CPU_AVX512VL = 1u << 8
};

/* SEALIO_ABI_VERSION of the compiled library. */
int sealio_abi_version(void);

/* Features detected once per process (CPUID + XGETBV). */
unsigned sealio_cpu_features(void);
/* 1 if `kernel` can run here, else 0. */
int sealio_kernel_available(int kernel);
/* The kernel SEALIO_KERNEL_AUTO resolves to, or 0 if none (no AES-NI). */
int sealio_kernel_best(void);
/* "aesni", "vaes", "auto" or "unknown". */
const char *sealio_kernel_name(int kernel);

/* ------------------------------------------------------------------ GCM */

typedef struct sealio_gcm sealio_gcm;

/*
 * Expand a 16-, 24- or 32-byte key for `kernel`. Returns NULL and sets
 * *status (may be NULL) on a bad key length, an unavailable kernel or OOM.
 */
sealio_gcm *sealio_gcm_new(const uint8_t *key, size_t key_len, int kernel,
                           int *status) SEALIO_WUR;
/* Wipe and free; NULL is ignored. */
void sealio_gcm_free(sealio_gcm *ctx);
/* The kernel the context runs. */
int sealio_gcm_kernel(const sealio_gcm *ctx);
/*
 * 1 if this build asks the OS to leave key contexts out of core dumps
 * (Linux: MADV_DONTDUMP on their pages), else 0. The request may still
 * fail at run time (old kernel); contexts work either way.
 */
int sealio_contexts_dontdump(void);

/*
 * One-shot GCM with a 12-byte nonce. `len` <= SEALIO_GCM_MAX_BYTES.
 * encrypt: out[0..len) = ciphertext, tag[0..16) = tag.
 * decrypt: verifies `tag` in constant time; on mismatch zeroes out[0..len)
 *          and returns SEALIO_ERR_AUTH.
 */
int sealio_gcm_encrypt(const sealio_gcm *ctx, const uint8_t *nonce,
                       const uint8_t *aad, size_t aad_len, const uint8_t *in,
                       size_t len, uint8_t *out, uint8_t *tag);
int sealio_gcm_decrypt(const sealio_gcm *ctx, const uint8_t *nonce,
                       const uint8_t *aad, size_t aad_len, const uint8_t *in,
                       size_t len, const uint8_t *tag,
                       uint8_t *out) SEALIO_WUR;

/*
 * The same with the tag next to the data, as most AEAD APIs lay it out,
 * and every length checked here (added in ABI 2 without changing any
 * declaration above, so the version stays 2; bindings probe for them):
 *   seal: out[0..len+16) = ciphertext || tag; needs nonce_len == 12 and
 *         out_cap >= len + 16.
 *   open: in[0..in_len) = ciphertext || tag (in_len >= 16); writes
 *         in_len - 16 bytes of plaintext (out_cap must hold them), zeroed
 *         with SEALIO_ERR_AUTH on a bad tag.
 * SEALIO_ERR_ARG for a bad length; the overlap rule is as above (the tag
 * counts as part of the output of seal and of the input of open).
 */
int sealio_gcm_seal(const sealio_gcm *ctx, const uint8_t *nonce,
                    size_t nonce_len, const uint8_t *aad, size_t aad_len,
                    const uint8_t *in, size_t len, uint8_t *out,
                    size_t out_cap);
int sealio_gcm_open(const sealio_gcm *ctx, const uint8_t *nonce,
                    size_t nonce_len, const uint8_t *aad, size_t aad_len,
                    const uint8_t *in, size_t in_len, uint8_t *out,
                    size_t out_cap) SEALIO_WUR;

/*
 * Segment batch (STREAM). K consecutive segments of one stream:
 *
 *   plaintext:  seg_0 | seg_1 | ... | seg_{K-1}      (each segment_size bytes,
 *               the last one 0..segment_size bytes)
 *   ciphertext: ct_0 tag_0 | ct_1 tag_1 | ... | ct_{K-1} tag_{K-1}
 *
 * K is ceil(plain_len / segment_size), at least 1 (an empty final segment).
 * Segment i of the batch uses nonce
 *     nonces + 12*i                                  if nonces != NULL, else
 *     prefix[0..7) || BE32(first_index + i) || last  (Tink / age STREAM rule)
 * where last = 1 only for the batch's last segment and only if `final`.
 * A short last segment is allowed only when `final` is set. AAD (may be
 * empty) is the same for every segment. `threads` > 1 splits the batch
 * across that many threads (the calling one included, at most 64 run);
 * 0 or 1 is serial. In place (out == in) both calls run serially: sealing
 * moves each segment to its place from the last one back, opening
 * compacts them from the first one forward.
 */
typedef struct sealio_segments {
    size_t segment_size;     /* plaintext bytes per full segment, > 0 */
    const uint8_t *nonces;   /* K*12 bytes, or NULL to derive */
    const uint8_t *prefix;   /* SEALIO_STREAM_PREFIX_BYTES, if nonces NULL */
    uint32_t first_index;    /* index of the batch's first segment */
    int final;               /* the batch ends the stream */
    const uint8_t *aad;
    size_t aad_len;
    unsigned threads;
} sealio_segments;

/* Ciphertext bytes for plain_len bytes of plaintext in a batch. */
size_t sealio_segments_sealed_len(size_t plain_len, size_t segment_size);

/* out_cap >= sealio_segments_sealed_len(plain_len, ...). */
int sealio_gcm_seal_segments(const sealio_gcm *ctx, const sealio_segments *p,
                             const uint8_t *in, size_t plain_len, uint8_t *out,
                             size_t out_cap);
/*
 * in_len must be a whole number of sealed segments (the last may be short
 * if final). Writes plaintext to out (out_cap >= plaintext length) and its
 * length to *plain_len. On a bad tag returns SEALIO_ERR_AUTH, sets
 * *bad_segment (may be NULL) to the batch-relative index of the first
 * failing segment, and zeroes the whole output range.
 */
int sealio_gcm_open_segments(const sealio_gcm *ctx, const sealio_segments *p,
                             const uint8_t *in, size_t in_len, uint8_t *out,
                             size_t out_cap, size_t *plain_len,
                             size_t *bad_segment) SEALIO_WUR;

/* ------------------------------------------------------------------ CBC */

typedef struct sealio_cbc sealio_cbc;

/* Expand both encryption and decryption schedules; as sealio_gcm_new. */
sealio_cbc *sealio_cbc_new(const uint8_t *key, size_t key_len, int kernel,
                           int *status) SEALIO_WUR;
void sealio_cbc_free(sealio_cbc *ctx);

/*
 * Raw CBC over whole blocks: len % 16 == 0, iv is 16 bytes and non-NULL.
 * Encryption is one serial chain; decryption interleaves blocks. `out`
 * may equal `in` (in place); any other overlap of out with in or iv is
 * refused with SEALIO_ERR_OVERLAP, as in every CBC entry point below.
 */
int sealio_cbc_encrypt(const sealio_cbc *ctx, const uint8_t *iv,
                       const uint8_t *in, size_t len, uint8_t *out);
int sealio_cbc_decrypt(const sealio_cbc *ctx, const uint8_t *iv,
                       const uint8_t *in, size_t len, uint8_t *out);

/*
 * CBC with PKCS#7 padding. Encrypt writes len/16*16 + 16 bytes
 * (out_cap must hold them) and sets *out_len. Decrypt needs len > 0,
 * len % 16 == 0; it checks the padding in constant time, sets *out_len
 * to the unpadded length, and on bad padding zeroes out[0..len), sets
 * *out_len to 0 and returns SEALIO_ERR_PADDING. Which padding byte was
 * wrong is not revealed (no padding oracle beyond the status itself).
 */
int sealio_cbc_encrypt_pad(const sealio_cbc *ctx, const uint8_t *iv,
                           const uint8_t *in, size_t len, uint8_t *out,
                           size_t out_cap, size_t *out_len);
int sealio_cbc_decrypt_pad(const sealio_cbc *ctx, const uint8_t *iv,
                           const uint8_t *in, size_t len, uint8_t *out,
                           size_t out_cap, size_t *out_len) SEALIO_WUR;

/*
 * Multi-buffer CBC encryption: N independent chains, each with its own key
 * and IV, interleaved across lanes so their AES rounds overlap. With
 * `pad` set each job is PKCS#7-padded (out holds len/16*16 + 16 bytes);
 * otherwise len % 16 == 0. Returns SEALIO_ERR_ARG (nothing written) if any
 * job is malformed, SEALIO_ERR_OVERLAP if any output overlaps another
 * job's input, IV or output (or its own other than exactly in place), and
 * SEALIO_ERR_NOMEM if the scratch space for that check is unavailable.
 */
typedef struct sealio_cbc_job {
    const sealio_cbc *ctx;
    const uint8_t *iv; /* 16 bytes */
    const uint8_t *in;
    size_t len;
    uint8_t *out;
    size_t out_cap;
    size_t out_len; /* set on success */
} sealio_cbc_job;

int sealio_cbc_encrypt_multi(sealio_cbc_job *jobs, size_t n_jobs, int pad);

/* ------------------------------------------------------------- helpers */

/* Zero `len` bytes in a way the compiler cannot elide. */
void sealio_wipe(void *p, size_t len);

#ifdef __cplusplus
}
#endif
#endif /* SEALIO_H */
