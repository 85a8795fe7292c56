/*
 * AES-GCM kernel for AES-NI + PCLMULQDQ + SSE4.1 (128-bit registers).
 *
 * Needs: AES-NI, PCLMULQDQ, SSSE3/SSE4.1 (checked by cpu.c before use).
 * Design: 8 counter blocks per iteration, their AESENC rounds interleaved
 * so the 4-cycle AESENC latency is hidden behind 8 independent blocks.
 * GHASH is stitched into the AES rounds in program order (gcm_stitch8):
 * decryption hashes the iteration's own ciphertext, encryption the
 * previous iteration's, one block per round, with Karatsuba products (3
 * PCLMULQDQ a block, the middle factors precomputed in hkara) and one
 * aggregated reduction per 8 blocks (H^8..H^1, see gcm_common.h). Left to
 * the out-of-order core (AES of 8 blocks, then their GHASH), the two
 * halves overlapped too little: 0.90x OpenSSL's stitched AVX loop at
 * 1 MiB on Zen 3, against ~1.17x stitched. The kernel keeps the legacy SSE
 * encoding so it runs on every AES-NI CPU (Westmere has no AVX): a VEX
 * build of the same loop measured only ~2% faster. This file also builds
 * the GHASH key tables for both kernels.
 *
 * Constant time: the key schedule, counters, tags and data never select a
 * branch or an address.
 *
 * Licensed under the Apache License, Version 2.0.
 */
#include "internal.h"

#if SEALIO_X86 /* the whole file; nohw.c stands in elsewhere */
#if defined(__clang__) /* clang ignores #pragma GCC target */
#pragma clang attribute push(__attribute__((target("aes,pclmul,sse4.1"))), apply_to = function)
#else
#pragma GCC target("aes,pclmul,sse4.1")
#endif

#include "gcm_common.h"

#define STRIDE 8 /* blocks per bulk iteration */

static inline void aes_round8(__m128i b[STRIDE], const aes_schedule *s,
                              unsigned r) {
    const __m128i k = _mm_load_si128((const __m128i *)s->rk[r]);
    _Pragma("GCC unroll 8")
    for (int i = 0; i < STRIDE; i++) b[i] = _mm_aesenc_si128(b[i], k);
}

/*
 * One bulk iteration: CTR-encrypt the 8 blocks at `in` into `out` and, if
 * `hash` is set, GHASH the 8 ciphertext blocks at `hsrc` into *acc,
 * one block's products issued after each of AES rounds 1..8 and the
 * reduction after round 9 (every key size has at least 9 full rounds).
 * Stitched in program order like this, the multiplier and AES units are
 * busy together instead of one after the other; the two chains share no
 * registers. For decryption hsrc is `in` itself: every block is hashed
 * (loaded) before the stores at the end, so exact in-place works; for
 * encryption it is the previous iteration's output.
 */
static inline void gcm_stitch8(const struct sealio_gcm *ctx, __m128i *ctr,
                               __m128i *acc, int hash, const uint8_t *hsrc,
                               const uint8_t *in, uint8_t *out) {
    const aes_schedule *s = &ctx->enc;
    const unsigned nr = s->rounds;
    const __m128i mask = gcm_ctr_mask();
    const __m128i k0 = _mm_load_si128((const __m128i *)s->rk[0]);
    __m128i b[STRIDE];
    _Pragma("GCC unroll 8")
    for (int i = 0; i < STRIDE; i++) {
        const __m128i c = _mm_add_epi32(*ctr, _mm_setr_epi32(0, 0, 0, i + 1));
        b[i] = _mm_xor_si128(_mm_shuffle_epi8(c, mask), k0);
    }
    *ctr = _mm_add_epi32(*ctr, _mm_setr_epi32(0, 0, 0, STRIDE));
    if (hash) {
        const size_t base = SEALIO_GHASH_POWERS - STRIDE;
        __m128i lo = _mm_setzero_si128(), mi = lo, hi = lo;
        _Pragma("GCC unroll 8")
        for (int j = 0; j < STRIDE; j++) {
            aes_round8(b, s, (unsigned)j + 1);
            __m128i x = gcm_bswap(
                _mm_loadu_si128((const __m128i *)(hsrc + 16 * j)));
            if (j == 0) x = _mm_xor_si128(x, *acc);
            const __m128i xk = _mm_xor_si128(x, _mm_shuffle_epi32(x, 0x4e));
            const size_t t = base + (size_t)j;
            lo = _mm_xor_si128(lo, _mm_clmulepi64_si128(x, htab_load(ctx, t), 0x00));
            hi = _mm_xor_si128(hi, _mm_clmulepi64_si128(x, htab_load(ctx, t), 0x11));
            mi = _mm_xor_si128(mi, _mm_clmulepi64_si128(
                                       xk, _mm_load_si128((const __m128i *)ctx->hkara[t]),
                                       0x00));
            /* Sum each block's products now: left alone, gcc reassociates
             * the XORs into one tree after the last block and spills the
             * 32 products it keeps alive until then. */
            __asm__("" : "+x"(lo), "+x"(mi), "+x"(hi));
        }
        aes_round8(b, s, STRIDE + 1);
        mi = _mm_xor_si128(mi, _mm_xor_si128(lo, hi)); /* Karatsuba */
        *acc = gf_reduce(lo, mi, hi);
    } else {
        _Pragma("GCC unroll 9")
        for (unsigned r = 1; r <= STRIDE + 1; r++) aes_round8(b, s, r);
    }
    for (unsigned r = STRIDE + 2; r < nr; r++) aes_round8(b, s, r);
    const __m128i kl = _mm_load_si128((const __m128i *)s->rk[nr]);
    _Pragma("GCC unroll 8")
    for (int i = 0; i < STRIDE; i++) {
        const __m128i c = _mm_loadu_si128((const __m128i *)(in + 16 * i));
        _mm_storeu_si128((__m128i *)(out + 16 * i),
                         _mm_xor_si128(c, _mm_aesenclast_si128(b[i], kl)));
    }
}

static size_t gcm_bulk_aesni(const struct sealio_gcm *ctx, __m128i *ctr,
                             __m128i *acc, const uint8_t *in, size_t len,
                             uint8_t *out, int decrypt) {
    const size_t stride = STRIDE * GCM_BLOCK;
    size_t done = 0;
    if (len < stride) return 0;
    if (decrypt) {
        for (; len - done >= stride; done += stride)
            gcm_stitch8(ctx, ctr, acc, 1, in + done, in + done, out + done);
        return done;
    }
    /* Encryption hashes each iteration's output during the next one. */
    gcm_stitch8(ctx, ctr, acc, 0, NULL, in, out);
    for (done = stride; len - done >= stride; done += stride)
        gcm_stitch8(ctx, ctr, acc, 1, out + done - stride, in + done,
                    out + done);
    __m128i x[STRIDE];
    _Pragma("GCC unroll 8")
    for (int j = 0; j < STRIDE; j++)
        x[j] = gcm_bswap(_mm_loadu_si128(
            (const __m128i *)(out + done - stride + 16 * j)));
    *acc = ghash_n(ctx, *acc, x, STRIDE);
    return done;
}

void sealio_gcm_crypt_aesni(const struct sealio_gcm *ctx, const uint8_t j0[16],
                            const uint8_t *aad, size_t aad_len,
                            const uint8_t *in, size_t len, uint8_t *out,
                            uint8_t tag[16], int decrypt) {
    gcm_crypt_flow(ctx, j0, aad, aad_len, in, len, out, tag, decrypt,
                   gcm_bulk_aesni);
}

void sealio_gcm_init_htab(struct sealio_gcm *ctx) {
    uint8_t h[16] = {0};
    sealio_aes_encrypt_block(&ctx->enc, h, h);
    const __m128i hr = gcm_bswap(_mm_loadu_si128((const __m128i *)h));
    sealio_wipe(h, sizeof h);
    /* K1 = mulX(rev(H)): shift left one bit, fold x^128 back with p(x). */
    uint64_t lo = (uint64_t)_mm_cvtsi128_si64(hr);
    uint64_t hi = (uint64_t)_mm_extract_epi64(hr, 1);
    const uint64_t carry = 0 - (hi >> 63);
    hi = ((hi << 1) | (lo >> 63)) ^ (carry & 0xc200000000000000ULL);
    lo = (lo << 1) ^ (carry & 1);
    const __m128i k1 = _mm_set_epi64x((long long)hi, (long long)lo);
    __m128i k = k1;
    _mm_store_si128((__m128i *)ctx->htab[SEALIO_GHASH_POWERS - 1], k);
    for (size_t i = 2; i <= SEALIO_GHASH_POWERS; i++) {
        k = gf_dot(k, k1);
        _mm_store_si128((__m128i *)ctx->htab[SEALIO_GHASH_POWERS - i], k);
    }
    for (size_t i = 0; i < SEALIO_GHASH_POWERS; i++) {
        k = htab_load(ctx, i);
        _mm_store_si128((__m128i *)ctx->hkara[i],
                        _mm_xor_si128(k, _mm_shuffle_epi32(k, 0x4e)));
    }
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif /* SEALIO_X86 */
