/*
 * AES-GCM kernel for AES-NI + PCLMULQDQ + SSE4.1 (128-bit registers).
 *
 * Needs: AES-NI, PCLMULQDQ, SSSE3/SSE4.1 (checked by cpu.c before use).
 * Design: 8 counter blocks per iteration, their AESENC rounds interleaved
 * so the 4-cycle AESENC latency is hidden behind 8 independent blocks; the
 * 8 ciphertext blocks are hashed with the H^8..H^1 table and one reduction
 * (see gcm_common.h). GHASH of iteration i overlaps with the AES rounds of
 * iteration i+1 in the out-of-order core because the two share no
 * registers. This file also builds the GHASH key table for both kernels.
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

static size_t gcm_bulk_aesni(const struct sealio_gcm *ctx, __m128i *ctr,
                             __m128i *acc, const uint8_t *in, size_t len,
                             uint8_t *out, int decrypt) {
    size_t done = 0;
    while (len - done >= 8 * GCM_BLOCK) {
        gcm_blocks_128(ctx, ctr, acc, in + done, 8, out + done, decrypt);
        done += 8 * GCM_BLOCK;
    }
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
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif /* SEALIO_X86 */
