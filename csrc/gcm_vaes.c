/*
 * AES-GCM kernel for VAES + VPCLMULQDQ on 256-bit registers (AVX2).
 *
 * Needs: AVX2 with OS YMM support, VAES, VPCLMULQDQ, plus AES-NI/PCLMULQDQ
 * for the 128-bit tail (cpu.c checks all). Runs on Intel Ice Lake and later
 * and on AMD Zen 3 and later; it deliberately avoids AVX-512 so the same
 * code runs on Zen 3 (which this project's machines are) — a 512-bit
 * variant is the next step for Sapphire Rapids / Zen 4.
 *
 * Design: 16 blocks per iteration in 8 YMM registers of 2 counter blocks
 * each; every VAESENC round is applied to all 8 registers before the next,
 * so 8 independent 2-block AES computations are in flight (enough to cover
 * VAES latency at two issues per cycle). The 16 blocks are hashed with
 * H^16..H^1 (pairs of adjacent table entries load as one YMM), the three
 * 256-bit partial products are summed, folded to 128 bits and reduced once
 * per iteration. Message tails (< 256 bytes) use the shared 128-bit code
 * compiled here with VEX encoding.
 *
 * Constant time: as the AES-NI kernel.
 *
 * Licensed under the Apache License, Version 2.0.
 */
#include "internal.h"

#if SEALIO_X86 /* the whole file; nohw.c stands in elsewhere */
#if defined(__clang__) /* clang ignores #pragma GCC target */
#pragma clang attribute push(__attribute__((target("avx2,vaes,vpclmulqdq,aes,pclmul,sse4.1"))), apply_to = function)
#else
#pragma GCC target("avx2,vaes,vpclmulqdq,aes,pclmul,sse4.1")
#endif

#include "gcm_common.h"

#define VSTRIDE (16 * GCM_BLOCK)

static inline __m256i bcast(__m128i x) { return _mm256_broadcastsi128_si256(x); }

static inline void clmul_acc256(__m256i x, __m256i k, __m256i *lo, __m256i *mi,
                                __m256i *hi) {
    *lo = _mm256_xor_si256(*lo, _mm256_clmulepi64_epi128(x, k, 0x00));
    *hi = _mm256_xor_si256(*hi, _mm256_clmulepi64_epi128(x, k, 0x11));
    *mi = _mm256_xor_si256(*mi,
                           _mm256_xor_si256(_mm256_clmulepi64_epi128(x, k, 0x01),
                                            _mm256_clmulepi64_epi128(x, k, 0x10)));
}

static inline __m128i fold256(__m256i v) {
    return _mm_xor_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

static size_t gcm_bulk_vaes(const struct sealio_gcm *ctx, __m128i *ctr,
                            __m128i *acc, const uint8_t *in, size_t len,
                            uint8_t *out, int decrypt) {
    if (len < VSTRIDE) return 0;
    const aes_schedule *s = &ctx->enc;
    const unsigned nr = s->rounds;
    const __m256i cmask = bcast(gcm_ctr_mask());
    const __m256i rmask = bcast(
        _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
    const __m256i two = _mm256_setr_epi32(0, 0, 0, 2, 0, 0, 0, 2);
    /* Counter pair for the next two blocks: (c+1, c+2). */
    __m256i cv = _mm256_add_epi32(bcast(*ctr),
                                  _mm256_setr_epi32(0, 0, 0, 1, 0, 0, 0, 2));
    __m128i a = *acc;
    size_t done = 0;
    while (len - done >= VSTRIDE) {
        __m256i b[8];
        const __m256i k0 = bcast(_mm_load_si128((const __m128i *)s->rk[0]));
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) {
            b[j] = _mm256_xor_si256(_mm256_shuffle_epi8(cv, cmask), k0);
            cv = _mm256_add_epi32(cv, two);
        }
        for (unsigned r = 1; r < nr; r++) {
            const __m256i k = bcast(_mm_load_si128((const __m128i *)s->rk[r]));
            _Pragma("GCC unroll 8")
            for (int j = 0; j < 8; j++) b[j] = _mm256_aesenc_epi128(b[j], k);
        }
        const __m256i kl = bcast(_mm_load_si128((const __m128i *)s->rk[nr]));
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) b[j] = _mm256_aesenclast_epi128(b[j], kl);

        __m256i lo = _mm256_setzero_si256(), mi = lo, hi = lo;
        const uint8_t *ip = in + done;
        uint8_t *op = out + done;
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) {
            const __m256i c = _mm256_loadu_si256((const __m256i *)(ip + 32 * j));
            const __m256i p = _mm256_xor_si256(c, b[j]);
            _mm256_storeu_si256((__m256i *)(op + 32 * j), p);
            __m256i x = _mm256_shuffle_epi8(decrypt ? c : p, rmask);
            if (j == 0) x = _mm256_xor_si256(x, _mm256_zextsi128_si256(a));
            const __m256i k =
                _mm256_load_si256((const __m256i *)ctx->htab[2 * j]);
            clmul_acc256(x, k, &lo, &mi, &hi);
        }
        a = gf_reduce(fold256(lo), fold256(mi), fold256(hi));
        done += VSTRIDE;
    }
    *acc = a;
    *ctr = _mm_add_epi32(*ctr, _mm_setr_epi32(0, 0, 0, (int)(done / GCM_BLOCK)));
    return done;
}

void sealio_gcm_crypt_vaes(const struct sealio_gcm *ctx, const uint8_t j0[16],
                           const uint8_t *aad, size_t aad_len,
                           const uint8_t *in, size_t len, uint8_t *out,
                           uint8_t tag[16], int decrypt) {
    gcm_crypt_flow(ctx, j0, aad, aad_len, in, len, out, tag, decrypt,
                   gcm_bulk_vaes);
}

#if defined(__clang__)
#pragma clang attribute pop
#endif
#endif /* SEALIO_X86 */
