/*
 * GHASH arithmetic and the GCM message flow shared by the kernels.
 *
 * Included by gcm_aesni.c and gcm_vaes.c after each sets its own
 * `#pragma GCC target`, so every helper here is compiled once per kernel
 * with that kernel's instruction set (no SSE/AVX transitions, full inlining).
 *
 * The GHASH math (derived once here, used everywhere):
 *
 * GCM's field is GF(2^128) mod g(x) = x^128 + x^7 + x^2 + x + 1 with a
 * bit-reflected byte order. Byte-reversing a block (PSHUFB) turns it into
 * POLYVAL's order (RFC 8452): a little-endian 128-bit integer whose bit i is
 * the coefficient of x^i, modulo p(x) = x^128 + x^127 + x^126 + x^121 + 1.
 * In that domain PCLMULQDQ multiplies directly, and
 *
 *     GHASH(H, X1..Xn) = rev(POLYVAL(mulX(rev(H)), rev(X1)..rev(Xn)))
 *
 * where POLYVAL's step is acc = dot(acc ^ Xi, K), dot(a, b) = a*b*x^-128.
 * dot is a 256-bit carry-less product (LO + MI*x^64 + HI*x^128) followed by
 * a Montgomery reduction by x^128 in two 64-bit folds. Since
 * 1 = x^64 * (x^64 + x^63 + x^62 + x^57) mod p, a 64-bit low word L0
 * satisfies L0 = x^64 * (L0*x^64 + L0*(x^63 + x^62 + x^57)); so
 *
 *     MI ^= swap64(LO) ^ clmul(LO.lo, 0xc200000000000000)
 *     HI ^= swap64(MI) ^ clmul(MI.lo, 0xc200000000000000)  -> result HI.
 *
 * K1 = mulX(rev(H)) and K(i+1) = dot(K(i), K1) represent H^i, so a batch
 * of n blocks is hashed as sum(X_m * H^(n-m)) with the three partial
 * products summed over the batch and ONE reduction (aggregated reduction).
 * The table keeps H^16..H^1 in descending order (htab[i] = H^(16-i)), so
 * a batch of n blocks uses htab[16-n .. 15] and pairs of adjacent entries
 * load straight into 256-bit registers.
 *
 * Constant time: no branch or memory index depends on keys, data or tags.
 *
 * Licensed under the Apache License, Version 2.0.
 */
#ifndef SEALIO_GCM_COMMON_H
#define SEALIO_GCM_COMMON_H

#include <string.h>

#include "internal.h"

#if !SEALIO_X86
#error "gcm_common.h holds x86 kernels: include it only under SEALIO_X86"
#endif
#include <immintrin.h>

#define GCM_BLOCK 16

static inline __m128i gcm_bswap(__m128i x) {
    return _mm_shuffle_epi8(
        x, _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
}

/* Swap the byte order of the counter word only (bytes 12..15), so the
 * counter can be advanced with a 32-bit add; the shuffle is an involution. */
static inline __m128i gcm_ctr_mask(void) {
    return _mm_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 15, 14, 13, 12);
}

static inline __m128i gf_reduce(__m128i lo, __m128i mi, __m128i hi) {
    const __m128i poly =
        _mm_set_epi64x((long long)0xc200000000000000ULL, 1);
    __m128i t = _mm_clmulepi64_si128(lo, poly, 0x10);
    mi = _mm_xor_si128(mi, _mm_xor_si128(_mm_shuffle_epi32(lo, 0x4e), t));
    t = _mm_clmulepi64_si128(mi, poly, 0x10);
    return _mm_xor_si128(hi, _mm_xor_si128(_mm_shuffle_epi32(mi, 0x4e), t));
}

static inline void gf_mul_acc(__m128i x, __m128i k, __m128i *lo, __m128i *mi,
                              __m128i *hi) {
    *lo = _mm_xor_si128(*lo, _mm_clmulepi64_si128(x, k, 0x00));
    *hi = _mm_xor_si128(*hi, _mm_clmulepi64_si128(x, k, 0x11));
    *mi = _mm_xor_si128(*mi, _mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x01),
                                           _mm_clmulepi64_si128(x, k, 0x10)));
}

static inline __m128i gf_dot(__m128i a, __m128i b) {
    __m128i lo = _mm_setzero_si128(), mi = lo, hi = lo;
    gf_mul_acc(a, b, &lo, &mi, &hi);
    return gf_reduce(lo, mi, hi);
}

static inline __m128i htab_load(const struct sealio_gcm *ctx, size_t i) {
    return _mm_load_si128((const __m128i *)ctx->htab[i]);
}

/* acc' = (acc ^ xs[0])*H^n ^ xs[1]*H^(n-1) ^ ... ^ xs[n-1]*H, 1 <= n <= 16;
 * xs are byte-reflected blocks. */
static inline __m128i ghash_n(const struct sealio_gcm *ctx, __m128i acc,
                              const __m128i *xs, size_t n) {
    __m128i lo = _mm_setzero_si128(), mi = lo, hi = lo;
    const size_t base = SEALIO_GHASH_POWERS - n;
    gf_mul_acc(_mm_xor_si128(acc, xs[0]), htab_load(ctx, base), &lo, &mi, &hi);
    _Pragma("GCC unroll 16")
    for (size_t m = 1; m < n; m++)
        gf_mul_acc(xs[m], htab_load(ctx, base + m), &lo, &mi, &hi);
    return gf_reduce(lo, mi, hi);
}

/* GHASH arbitrary bytes, zero-padding the last partial block (for AAD). */
static inline __m128i ghash_bytes(const struct sealio_gcm *ctx, __m128i acc,
                                  const uint8_t *p, size_t len) {
    __m128i xs[SEALIO_GHASH_POWERS];
    while (len >= GCM_BLOCK) {
        size_t n = len / GCM_BLOCK;
        if (n > SEALIO_GHASH_POWERS) n = SEALIO_GHASH_POWERS;
        _Pragma("GCC unroll 8")
        for (size_t i = 0; i < n; i++)
            xs[i] = gcm_bswap(_mm_loadu_si128((const __m128i *)(p + 16 * i)));
        acc = ghash_n(ctx, acc, xs, n);
        p += 16 * n;
        len -= 16 * n;
    }
    if (len) {
        uint8_t tmp[GCM_BLOCK] = {0};
        memcpy(tmp, p, len);
        xs[0] = gcm_bswap(_mm_loadu_si128((const __m128i *)tmp));
        acc = ghash_n(ctx, acc, xs, 1);
    }
    return acc;
}

/* Encrypt n (<= 8) blocks in place, rounds interleaved across blocks. */
static inline void aes_enc_n(const aes_schedule *s, __m128i *b, size_t n) {
    __m128i k = _mm_load_si128((const __m128i *)s->rk[0]);
    _Pragma("GCC unroll 8")
    for (size_t i = 0; i < n; i++) b[i] = _mm_xor_si128(b[i], k);
    for (unsigned r = 1; r < s->rounds; r++) {
        k = _mm_load_si128((const __m128i *)s->rk[r]);
        _Pragma("GCC unroll 8")
        for (size_t i = 0; i < n; i++) b[i] = _mm_aesenc_si128(b[i], k);
    }
    k = _mm_load_si128((const __m128i *)s->rk[s->rounds]);
    _Pragma("GCC unroll 8")
    for (size_t i = 0; i < n; i++) b[i] = _mm_aesenclast_si128(b[i], k);
}

/*
 * A kernel's bulk loop: processes a prefix of the message that is a
 * multiple of its stride, advancing *ctr (counter word in little-endian,
 * last value used) and *acc. Returns the bytes it processed.
 */
typedef size_t gcm_bulk_fn(const struct sealio_gcm *ctx, __m128i *ctr,
                           __m128i *acc, const uint8_t *in, size_t len,
                           uint8_t *out, int decrypt);

/* CTR + GHASH on up to 8 whole blocks with 128-bit instructions. */
static inline void gcm_blocks_128(const struct sealio_gcm *ctx, __m128i *ctr,
                                  __m128i *acc, const uint8_t *in, size_t n,
                                  uint8_t *out, int decrypt) {
    const __m128i one = _mm_setr_epi32(0, 0, 0, 1), mask = gcm_ctr_mask();
    __m128i b[8] = {0}, x[8] = {0}; /* zeroed: silences -Wmaybe-uninitialized */
    _Pragma("GCC unroll 8")
    for (size_t i = 0; i < n; i++) {
        *ctr = _mm_add_epi32(*ctr, one);
        b[i] = _mm_shuffle_epi8(*ctr, mask);
    }
    aes_enc_n(&ctx->enc, b, n);
    _Pragma("GCC unroll 8")
    for (size_t i = 0; i < n; i++) {
        const __m128i c = _mm_loadu_si128((const __m128i *)(in + 16 * i));
        const __m128i p = _mm_xor_si128(c, b[i]);
        _mm_storeu_si128((__m128i *)(out + 16 * i), p);
        x[i] = gcm_bswap(decrypt ? c : p);
    }
    *acc = ghash_n(ctx, *acc, x, n);
}

/* The whole GCM message: AAD, bulk, tail blocks, partial block, lengths. */
static inline void gcm_crypt_flow(const struct sealio_gcm *ctx,
                                  const uint8_t j0[16], const uint8_t *aad,
                                  size_t aad_len, const uint8_t *in,
                                  size_t len, uint8_t *out, uint8_t tag[16],
                                  int decrypt, gcm_bulk_fn *bulk) {
    __m128i acc = ghash_bytes(ctx, _mm_setzero_si128(), aad, aad_len);
    const __m128i j0v = _mm_loadu_si128((const __m128i *)j0);
    __m128i ctr = _mm_shuffle_epi8(j0v, gcm_ctr_mask());
    size_t done = bulk ? bulk(ctx, &ctr, &acc, in, len, out, decrypt) : 0;
    while (len - done >= GCM_BLOCK) {
        size_t n = (len - done) / GCM_BLOCK;
        if (n > 8) n = 8;
        gcm_blocks_128(ctx, &ctr, &acc, in + done, n, out + done, decrypt);
        done += 16 * n;
    }
    if (done < len) {
        const size_t r = len - done;
        uint8_t buf[GCM_BLOCK] = {0};
        memcpy(buf, in + done, r);
        ctr = _mm_add_epi32(ctr, _mm_setr_epi32(0, 0, 0, 1));
        __m128i ks = _mm_shuffle_epi8(ctr, gcm_ctr_mask());
        aes_enc_n(&ctx->enc, &ks, 1);
        const __m128i c = _mm_loadu_si128((const __m128i *)buf);
        _mm_storeu_si128((__m128i *)buf, _mm_xor_si128(c, ks));
        memcpy(out + done, buf, r);
        /* GHASH sees the ciphertext zero-padded to a block. */
        if (decrypt)
            _mm_storeu_si128((__m128i *)buf, c);
        else
            memset(buf + r, 0, GCM_BLOCK - r);
        __m128i x = gcm_bswap(_mm_loadu_si128((const __m128i *)buf));
        acc = ghash_n(ctx, acc, &x, 1);
        sealio_wipe(buf, sizeof buf);
        ks = _mm_setzero_si128();
    }
    /* Length block BE64(bits(A)) || BE64(bits(C)), byte-reflected. */
    __m128i lens = _mm_set_epi64x((long long)((uint64_t)aad_len * 8),
                                  (long long)((uint64_t)len * 8));
    acc = ghash_n(ctx, acc, &lens, 1);
    __m128i ek = j0v;
    aes_enc_n(&ctx->enc, &ek, 1);
    _mm_storeu_si128((__m128i *)tag, _mm_xor_si128(gcm_bswap(acc), ek));
}

#endif
