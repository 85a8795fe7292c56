/*
 * Internal declarations shared by the kernel files. Not installed.
 * Licensed under the Apache License, Version 2.0.
 */
#ifndef SEALIO_INTERNAL_H
#define SEALIO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "sealio.h"

/*
 * SEALIO_X86: the x86 kernels (AES-NI, VAES) are compiled. Elsewhere, or
 * when SEALIO_NO_X86 forces the portable build (ffi_build.py sets it for
 * SEALIO_PORTABLE=1, so this path is testable on x86 too), only the
 * portable parts are built: no kernel is available, every keyed
 * constructor returns SEALIO_ERR_UNSUPPORTED, and the Python package runs
 * on its `cryptography` backend. Kernel TUs and <immintrin.h> are
 * guarded by this one macro.
 */
#if (defined(__x86_64__) || defined(__i386__) || defined(_M_X64)) && \
    !defined(SEALIO_NO_X86)
#define SEALIO_X86 1
#else
#define SEALIO_X86 0
#endif

#define SEALIO_MAX_ROUNDS 14
#define SEALIO_GHASH_POWERS 16 /* H^1..H^16 for aggregated reduction */

/* Expanded AES key: rounds+1 round keys of 16 bytes, 16-byte aligned. */
typedef struct aes_schedule {
    _Alignas(64) uint8_t rk[SEALIO_MAX_ROUNDS + 1][16];
    unsigned rounds; /* 10, 12 or 14 */
} aes_schedule;

struct sealio_gcm {
    aes_schedule enc;
    /*
     * Powers of the hash key in the POLYVAL (byte-reflected, Montgomery)
     * domain: htab[i] represents H^(16-i). See gcm_common.h for the math.
     */
    _Alignas(64) uint8_t htab[SEALIO_GHASH_POWERS][16];
    /* hkara[i] = both halves of htab[i] XORed (its 64-bit words swapped
     * and XORed in): the middle factor of a Karatsuba product. */
    _Alignas(64) uint8_t hkara[SEALIO_GHASH_POWERS][16];
    int kernel;
};

struct sealio_cbc {
    aes_schedule enc;
    aes_schedule dec; /* AESIMC-transformed, reversed order for AESDEC */
    int kernel;
};

/* 1 on success, 0 on a bad key length. Needs AES-NI (checked by callers). */
int sealio_aes_expand_enc(aes_schedule *s, const uint8_t *key, size_t len);
void sealio_aes_expand_dec(aes_schedule *dec, const aes_schedule *enc);
/* Encrypt one block with AES-NI. */
void sealio_aes_encrypt_block(const aes_schedule *s, const uint8_t in[16],
                              uint8_t out[16]);

/* Resolve SEALIO_KERNEL_AUTO and check availability: kernel id or <0. */
int sealio_kernel_resolve(int kernel);

/* Constant-time equality of two byte strings: 1 if equal. */
int sealio_ct_equal(const uint8_t *a, const uint8_t *b, size_t len);

/*
 * Zeroed, page-aligned allocation for key contexts, on pages of their own
 * that are excluded from core dumps where the OS allows (see util.c);
 * freed (wiped first) with sealio_free_wiped and the same size.
 */
void *sealio_alloc_aligned(size_t size);
void sealio_free_wiped(void *p, size_t size);

/* 1 if [p, p+len) is empty or a range of addresses that does not wrap. */
int sealio_range_ok(const void *p, size_t len);
/* 1 if [a, a+alen) and [b, b+blen) share a byte (empty ranges never do). */
int sealio_overlaps(const void *a, size_t alen, const void *b, size_t blen);
/* 1 if an output overlaps an input other than by starting at its address. */
int sealio_bad_overlap(const void *out, size_t out_len, const void *in,
                       size_t in_len);

/*
 * The shared start of every keyed constructor: check the key length,
 * resolve `kernel` into *resolved, allocate an aligned context of `size`
 * bytes and expand the encryption schedule into the aes_schedule member
 * at `enc_offset`. Returns the context (status SEALIO_OK) or NULL with
 * *status set; `status` may be NULL.
 */
void *sealio_keyed_new(size_t size, size_t enc_offset, const uint8_t *key,
                       size_t key_len, int kernel, int *resolved,
                       int *status);

/*
 * GCM kernels. `j0` is the pre-counter block (nonce || BE32(1)). They
 * process the whole message: ctr blocks from inc32(j0), GHASH over
 * aad || data || lengths, and write the unmasked tag (S xor E(J0)).
 * For decryption `in` is ciphertext and GHASH runs over it.
 */
typedef void gcm_kernel_fn(const struct sealio_gcm *ctx, const uint8_t j0[16],
                           const uint8_t *aad, size_t aad_len,
                           const uint8_t *in, size_t len, uint8_t *out,
                           uint8_t tag[16], int decrypt);
gcm_kernel_fn sealio_gcm_crypt_aesni;
gcm_kernel_fn sealio_gcm_crypt_vaes;

/* Compute htab and hkara from the hash key (runs on AES-NI + PCLMULQDQ). */
void sealio_gcm_init_htab(struct sealio_gcm *ctx);

/* CBC kernels (AES-NI). len is a multiple of 16. */
void sealio_cbc_enc_aesni(const aes_schedule *s, const uint8_t iv[16],
                          const uint8_t *in, size_t len, uint8_t *out);
void sealio_cbc_dec_aesni(const aes_schedule *dec, const uint8_t iv[16],
                          const uint8_t *in, size_t len, uint8_t *out);
void sealio_cbc_dec_vaes(const aes_schedule *dec, const uint8_t iv[16],
                         const uint8_t *in, size_t len, uint8_t *out);

#endif
