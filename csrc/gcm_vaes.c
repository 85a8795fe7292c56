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
 * VAES latency at two issues per cycle). GHASH is stitched into the AES
 * rounds in program order (vaes_stitch16), as in the AES-NI kernel: one
 * YMM pair of blocks is multiplied after each of rounds 1..8 with H^16..H^1
 * (pairs of adjacent table entries load as one YMM), Karatsuba products (3
 * VPCLMULQDQ a pair, the middle factors from hkara, also loaded as pairs),
 * and the products are folded to 128 bits and reduced once after round 9.
 * Decryption hashes the iteration's own ciphertext, encryption the
 * previous iteration's. Unstitched (16 blocks' AES, then their GHASH) the
 * loop ran 0.156 ns/B for AES-256 at 64 KiB on Zen 3; stitched 0.124.
 * Message tails (< 256 bytes) use the shared 128-bit code compiled here
 * with VEX encoding.
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

static inline __m256i bcast_rk(const aes_schedule *s, unsigned r) {
    return bcast(_mm_load_si128((const __m128i *)s->rk[r]));
}

static inline __m128i fold256(__m256i v) {
    return _mm_xor_si128(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

static inline void aes_round16(__m256i b[8], const aes_schedule *s,
                               unsigned r) {
    const __m256i k = bcast_rk(s, r);
    _Pragma("GCC unroll 8")
    for (int j = 0; j < 8; j++) b[j] = _mm256_aesenc_epi128(b[j], k);
}

/*
 * One bulk iteration: CTR-encrypt the 16 blocks at `in` into `out` and,
 * if `hash` is set, GHASH the 16 ciphertext blocks at `hsrc` into *acc,
 * one YMM pair's products issued after each of AES rounds 1..8 and the
 * reduction after round 9 (every key size has at least 9 full rounds), as
 * gcm_stitch8 in gcm_aesni.c. Pair j is multiplied by htab[2j], htab[2j+1]
 * (H^(16-2j), H^(15-2j)) loaded as one YMM, with Karatsuba products whose
 * middle factors hkara[2j], hkara[2j+1] load the same way: 3 VPCLMULQDQ a
 * pair. For decryption hsrc is `in` itself, read before the stores at the
 * end, so exact in-place works; for encryption it is the previous
 * iteration's output. *cv holds the counter pair (c+1, c+2) of the next
 * two blocks in little-endian counter-word form.
 */
static inline void vaes_stitch16(const struct sealio_gcm *ctx, __m256i *cv,
                                 __m128i *acc, int hash, const uint8_t *hsrc,
                                 const uint8_t *in, uint8_t *out) {
    const aes_schedule *s = &ctx->enc;
    const unsigned nr = s->rounds;
    const __m256i cmask = bcast(gcm_ctr_mask());
    const __m256i two = _mm256_setr_epi32(0, 0, 0, 2, 0, 0, 0, 2);
    const __m256i k0 = bcast_rk(s, 0);
    __m256i b[8];
    _Pragma("GCC unroll 8")
    for (int j = 0; j < 8; j++) {
        b[j] = _mm256_xor_si256(_mm256_shuffle_epi8(*cv, cmask), k0);
        *cv = _mm256_add_epi32(*cv, two);
    }
    if (hash) {
        /* Hide where hsrc points: for encryption gcc would otherwise keep
         * the previous iteration's 8 output registers alive (to skip the
         * reloads) and spill them. */
        __asm__("" : "+r"(hsrc));
        const __m256i rmask = bcast(_mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8,
                                                  7, 6, 5, 4, 3, 2, 1, 0));
        __m256i lo = _mm256_setzero_si256(), mi = lo, hi = lo;
        _Pragma("GCC unroll 8")
        for (int j = 0; j < 8; j++) {
            aes_round16(b, s, (unsigned)j + 1);
            __m256i x = _mm256_shuffle_epi8(
                _mm256_loadu_si256((const __m256i *)(hsrc + 32 * j)), rmask);
            if (j == 0) x = _mm256_xor_si256(x, _mm256_zextsi128_si256(*acc));
            const __m256i xk = _mm256_xor_si256(x, _mm256_shuffle_epi32(x, 0x4e));
            const __m256i h =
                _mm256_load_si256((const __m256i *)ctx->htab[2 * j]);
            const __m256i hk =
                _mm256_load_si256((const __m256i *)ctx->hkara[2 * j]);
            lo = _mm256_xor_si256(lo, _mm256_clmulepi64_epi128(x, h, 0x00));
            hi = _mm256_xor_si256(hi, _mm256_clmulepi64_epi128(x, h, 0x11));
            mi = _mm256_xor_si256(mi, _mm256_clmulepi64_epi128(xk, hk, 0x00));
            /* Sum each pair's products now (see gcm_stitch8): otherwise gcc
             * keeps all 24 products alive to the end and spills. */
            __asm__("" : "+x"(lo), "+x"(mi), "+x"(hi));
        }
        aes_round16(b, s, 9);
        mi = _mm256_xor_si256(mi, _mm256_xor_si256(lo, hi)); /* Karatsuba */
        *acc = gf_reduce(fold256(lo), fold256(mi), fold256(hi));
    } else {
        _Pragma("GCC unroll 9")
        for (unsigned r = 1; r <= 9; r++) aes_round16(b, s, r);
    }
    /* 10, 12 or 14 rounds: branches on the key size only. */
    if (nr > 10) {
        aes_round16(b, s, 10);
        aes_round16(b, s, 11);
        if (nr > 12) {
            aes_round16(b, s, 12);
            aes_round16(b, s, 13);
        }
    }
    const __m256i kl = bcast_rk(s, nr);
    _Pragma("GCC unroll 8")
    for (int j = 0; j < 8; j++) {
        const __m256i c = _mm256_loadu_si256((const __m256i *)(in + 32 * j));
        _mm256_storeu_si256((__m256i *)(out + 32 * j),
                            _mm256_xor_si256(c, _mm256_aesenclast_epi128(b[j], kl)));
    }
}

static size_t gcm_bulk_vaes(const struct sealio_gcm *ctx, __m128i *ctr,
                            __m128i *acc, const uint8_t *in, size_t len,
                            uint8_t *out, int decrypt) {
    if (len < VSTRIDE) return 0;
    __m256i cv = _mm256_add_epi32(bcast(*ctr),
                                  _mm256_setr_epi32(0, 0, 0, 1, 0, 0, 0, 2));
    __m128i a = *acc; /* a local: stays in a register across iterations */
    size_t done = 0;
    if (decrypt) {
        for (; len - done >= VSTRIDE; done += VSTRIDE)
            vaes_stitch16(ctx, &cv, &a, 1, in + done, in + done, out + done);
    } else {
        /* Encryption hashes each iteration's output during the next one,
         * and the last iteration's after the loop. */
        vaes_stitch16(ctx, &cv, &a, 0, NULL, in, out);
        for (done = VSTRIDE; len - done >= VSTRIDE; done += VSTRIDE)
            vaes_stitch16(ctx, &cv, &a, 1, out + done - VSTRIDE, in + done,
                          out + done);
        __m128i x[16];
        _Pragma("GCC unroll 16")
        for (int j = 0; j < 16; j++)
            x[j] = gcm_bswap(_mm_loadu_si128(
                (const __m128i *)(out + done - VSTRIDE + 16 * j)));
        a = ghash_n(ctx, a, x, 16);
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
