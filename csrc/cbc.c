/*
 * AES-CBC for x86-64: single-chain encryption, interleaved decryption, and
 * multi-buffer encryption of independent chains, with PKCS#7 padding.
 *
 * Variants and the CPU features each one needs
 * --------------------------------------------
 *   sealio_cbc_enc_aesni   AES-NI + SSE4.1.  One serial chain, 128-bit.
 *   sealio_cbc_dec_aesni   AES-NI + SSE4.1.  8 blocks interleaved in XMM.
 *   sealio_cbc_dec_vaes    VAES + AVX2 (+ AES-NI for the tail).  16 blocks
 *                          per iteration, 2 blocks in each of 8 YMM.
 *   multi-buffer encrypt   AES-NI: 8 chains, one per XMM.
 *                          VAES:  16 chains, two per YMM, used when every
 *                          job's context was built for the VAES kernel and
 *                          a pass (key size) has more than 8 jobs.
 * No variant needs AVX-512; the VAES code uses only 256-bit registers, so
 * it runs on AMD Zen 3 as well as on Intel Ice Lake and later.  Each
 * function carries its own target attribute and the file is compiled
 * without -march; the kernel is fixed in the context by sealio_cbc_new and
 * selected here with one comparison per call.
 *
 * Design
 * ------
 * CBC encryption of one chain is inherently serial: block i+1 cannot start
 * before block i has left the last round, so it runs at AESENC latency
 * (about 4 cycles per round).  The loop keeps the whole schedule in
 * registers and folds the next plaintext block and round key 0 into the
 * last-round key (AESENCLAST(x, k_last ^ p_next ^ k_0) yields the next
 * chain input directly), so the critical path is exactly `rounds` AES
 * instructions per block.  Throughput comes from elsewhere:
 *
 *   - Decryption has no dependency between blocks (P_i = D(C_i) ^ C_{i-1}),
 *     so 8 (AES-NI) or 16 (VAES) blocks go through each round together,
 *     enough independent work to cover the AES latency on both AES pipes.
 *     The chaining XOR is folded into the AESDECLAST key.  To allow
 *     in-place operation, each group's ciphertext is loaded before any of
 *     its plaintext is stored, and plaintext is written from the last block
 *     of the group to the first, so every C_{i-1} is re-read from the input
 *     before that input block is overwritten.
 *
 *   - Multi-buffer encryption runs independent chains in lanes, each with
 *     its own key and IV.  A lane's round keys are copied into a
 *     round-major table on the stack, so one aligned load (or memory
 *     operand) feeds a whole YMM lane pair with two different keys; when
 *     every job of a pass uses the same context, a second kernel loads each
 *     round key once per step for all lanes (per-lane key loads otherwise
 *     bound the speed on the load ports).  The lanes advance in lock step
 *     for as many blocks as the shortest active chain has left; then
 *     finished lanes take the next job from the list (or switch to their
 *     PKCS#7 final block, built in a per-lane buffer when the job starts).
 *     Lanes with nothing to do encrypt a scratch buffer, which costs little
 *     because a step is bounded by AES latency, not by the number of lanes.
 *     Jobs go through three passes, one per key size, so every lane of a
 *     step runs the same number of rounds; a pass with at most 8 jobs uses
 *     the AES-NI kernel even for VAES contexts (same step time, no idle
 *     half).  A new job may start a few cache lines late (bounded by 1/16 of
 *     its length) so that lanes do not all hit one L1 set: equally sized
 *     buffers tend to sit at the same page offset, and 16-32 streams in an
 *     8-way set made the lock step 2-4x slower.  Every job is validated
 *     before anything is written, including that no output meets another
 *     job's buffers (outputs sorted in a malloc'ed table, O(n log n)).
 *
 * Constant time
 * -------------
 * All AES work uses AES-NI / VAES instructions: no table lookups, no
 * secret-dependent branches or addresses.  Lane scheduling depends only on
 * public data: job lengths, key sizes, buffer addresses and which jobs
 * share a context object (never key contents).  The PKCS#7 check reads all 16
 * bytes of the last block and combines them with masks; only the final
 * valid/invalid outcome is branched on, which the caller learns anyway.  On
 * bad padding the whole output range is zeroed.  Explicit stack copies of
 * round keys, chaining values and padding blocks are wiped before
 * returning; registers the compiler spills cannot be, as in any C code.
 *
 * Licensed under the Apache License, Version 2.0.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* The kernels below are x86 only (SEALIO_X86, internal.h); the entry
 * points, padding and lane scheduling are portable. */
#if SEALIO_X86
#include <immintrin.h>

#define TARGET_AESNI __attribute__((target("aes,sse4.1")))
#define TARGET_VAES __attribute__((target("vaes,avx2,aes,sse4.1")))
#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")
#endif

#define BLK 16

/* ---------------------------------------------------------------- helpers */

/* Padded ciphertext length, or 0 on overflow. */
static size_t padded_len(size_t len) {
    if (len > SIZE_MAX - BLK) return 0;
    return len / BLK * BLK + BLK;
}

/* Last plaintext block with PKCS#7 padding: rem (0..15) data bytes. */
static void pad_block(uint8_t blk[BLK], const uint8_t *tail, size_t rem) {
    if (rem) memcpy(blk, tail, rem);
    memset(blk + rem, (int)(BLK - rem), BLK - rem);
}

#if SEALIO_X86
/* ------------------------------------------------- single-chain encrypt */

TARGET_AESNI INLINE __m128i ld(const uint8_t *p) {
    return _mm_loadu_si128((const __m128i *)p);
}
TARGET_AESNI INLINE void st(uint8_t *p, __m128i v) {
    _mm_storeu_si128((__m128i *)p, v);
}
TARGET_AESNI INLINE __m128i rk128(const aes_schedule *s, unsigned r) {
    return _mm_load_si128((const __m128i *)s->rk[r]);
}

TARGET_AESNI INLINE void enc_chain(const aes_schedule *s, const uint8_t *iv,
                                   const uint8_t *in, size_t nb, uint8_t *out,
                                   const unsigned nr) {
    __m128i k[SEALIO_MAX_ROUNDS + 1];
    UNROLL
    for (unsigned r = 0; r <= nr; r++) k[r] = rk128(s, r);
    const __m128i k0 = k[0], kl = k[nr];
    /* x is the input of round 1: P_0 ^ IV ^ k0. */
    __m128i x = _mm_xor_si128(_mm_xor_si128(ld(iv), ld(in)), k0);
    for (size_t i = 0; i + 1 < nb; i++) {
        /* Next plaintext ^ k0, off the critical path. */
        const __m128i pn = _mm_xor_si128(ld(in + BLK * (i + 1)), k0);
        UNROLL
        for (unsigned r = 1; r < nr; r++) x = _mm_aesenc_si128(x, k[r]);
        /* y = C_i ^ P_{i+1} ^ k0, the next chain input. */
        const __m128i y = _mm_aesenclast_si128(x, _mm_xor_si128(kl, pn));
        st(out + BLK * i, _mm_xor_si128(y, pn));
        x = y;
    }
    UNROLL
    for (unsigned r = 1; r < nr; r++) x = _mm_aesenc_si128(x, k[r]);
    st(out + BLK * (nb - 1), _mm_aesenclast_si128(x, kl));
}

TARGET_AESNI void sealio_cbc_enc_aesni(const aes_schedule *s,
                                       const uint8_t iv[16], const uint8_t *in,
                                       size_t len, uint8_t *out) {
    const size_t nb = len / BLK;
    if (nb == 0) return;
    switch (s->rounds) {
    case 10: enc_chain(s, iv, in, nb, out, 10); break;
    case 12: enc_chain(s, iv, in, nb, out, 12); break;
    default: enc_chain(s, iv, in, nb, out, 14); break;
    }
}

/* ------------------------------------------------------ decrypt, AES-NI */

/*
 * Decrypt n (constant) consecutive blocks; prev is C_{-1} (the IV or the
 * last ciphertext block of the previous group). Returns this group's last
 * ciphertext block, read before anything is stored.
 */
TARGET_AESNI INLINE __m128i dec_group_x(const aes_schedule *d, __m128i prev,
                                        const uint8_t *in, uint8_t *out,
                                        const int n, const unsigned nr) {
    __m128i b[8];
    const __m128i k0 = rk128(d, 0);
    UNROLL
    for (int j = 0; j < n; j++) b[j] = _mm_xor_si128(ld(in + BLK * j), k0);
    const __m128i next = ld(in + BLK * (n - 1));
    UNROLL
    for (unsigned r = 1; r < nr; r++) {
        const __m128i k = rk128(d, r);
        UNROLL
        for (int j = 0; j < n; j++) b[j] = _mm_aesdec_si128(b[j], k);
    }
    const __m128i kl = rk128(d, nr);
    /* Last block first: C_{j-1} is still intact in the input. */
    UNROLL
    for (int j = n - 1; j > 0; j--)
        st(out + BLK * j,
           _mm_aesdeclast_si128(b[j], _mm_xor_si128(kl, ld(in + BLK * (j - 1)))));
    st(out, _mm_aesdeclast_si128(b[0], _mm_xor_si128(kl, prev)));
    return next;
}

/* Up to 7 trailing blocks as groups of 4, 2 and 1. */
TARGET_AESNI INLINE void dec_tail_x(const aes_schedule *d, __m128i prev,
                                    const uint8_t *in, size_t nb, uint8_t *out,
                                    const unsigned nr) {
    if (nb & 4) {
        prev = dec_group_x(d, prev, in, out, 4, nr);
        in += 4 * BLK, out += 4 * BLK;
    }
    if (nb & 2) {
        prev = dec_group_x(d, prev, in, out, 2, nr);
        in += 2 * BLK, out += 2 * BLK;
    }
    if (nb & 1) (void)dec_group_x(d, prev, in, out, 1, nr);
}

TARGET_AESNI INLINE void dec_aesni(const aes_schedule *d, const uint8_t *iv,
                                   const uint8_t *in, size_t nb, uint8_t *out,
                                   const unsigned nr) {
    __m128i prev = ld(iv);
    for (; nb >= 8; nb -= 8, in += 8 * BLK, out += 8 * BLK)
        prev = dec_group_x(d, prev, in, out, 8, nr);
    dec_tail_x(d, prev, in, nb, out, nr);
}

TARGET_AESNI void sealio_cbc_dec_aesni(const aes_schedule *dec,
                                       const uint8_t iv[16], const uint8_t *in,
                                       size_t len, uint8_t *out) {
    const size_t nb = len / BLK;
    switch (dec->rounds) {
    case 10: dec_aesni(dec, iv, in, nb, out, 10); break;
    case 12: dec_aesni(dec, iv, in, nb, out, 12); break;
    default: dec_aesni(dec, iv, in, nb, out, 14); break;
    }
}

/* -------------------------------------------------------- decrypt, VAES */

TARGET_VAES INLINE __m256i ld2(const uint8_t *p) {
    return _mm256_loadu_si256((const __m256i *)p);
}
TARGET_VAES INLINE __m256i rk256(const aes_schedule *s, unsigned r) {
    return _mm256_broadcastsi128_si256(rk128(s, r));
}

/* As dec_group_x with n YMM registers of two blocks each. */
TARGET_VAES INLINE __m128i dec_group_y(const aes_schedule *d, __m128i prev,
                                       const uint8_t *in, uint8_t *out,
                                       const int n, const unsigned nr) {
    __m256i b[8];
    const __m256i k0 = rk256(d, 0);
    UNROLL
    for (int j = 0; j < n; j++)
        b[j] = _mm256_xor_si256(ld2(in + 2 * BLK * j), k0);
    /* (C_{-1}, C_0) for the first pair; the group's last block. */
    const __m256i p0 = _mm256_inserti128_si256(_mm256_castsi128_si256(prev),
                                               ld(in), 1);
    const __m128i next = ld(in + BLK * (2 * n - 1));
    UNROLL
    for (unsigned r = 1; r < nr; r++) {
        const __m256i k = rk256(d, r);
        UNROLL
        for (int j = 0; j < n; j++) b[j] = _mm256_aesdec_epi128(b[j], k);
    }
    const __m256i kl = rk256(d, nr);
    UNROLL
    for (int j = n - 1; j > 0; j--)
        _mm256_storeu_si256(
            (__m256i *)(out + 2 * BLK * j),
            _mm256_aesdeclast_epi128(
                b[j], _mm256_xor_si256(kl, ld2(in + 2 * BLK * j - BLK))));
    _mm256_storeu_si256((__m256i *)out,
                        _mm256_aesdeclast_epi128(b[0], _mm256_xor_si256(kl, p0)));
    return next;
}

TARGET_VAES INLINE void dec_vaes(const aes_schedule *d, const uint8_t *iv,
                                 const uint8_t *in, size_t nb, uint8_t *out,
                                 const unsigned nr) {
    __m128i prev = ld(iv);
    for (; nb >= 16; nb -= 16, in += 16 * BLK, out += 16 * BLK)
        prev = dec_group_y(d, prev, in, out, 8, nr);
    if (nb >= 8) {
        prev = dec_group_y(d, prev, in, out, 4, nr);
        nb -= 8, in += 8 * BLK, out += 8 * BLK;
    }
    dec_tail_x(d, prev, in, nb, out, nr);
}

TARGET_VAES void sealio_cbc_dec_vaes(const aes_schedule *dec,
                                     const uint8_t iv[16], const uint8_t *in,
                                     size_t len, uint8_t *out) {
    const size_t nb = len / BLK;
    switch (dec->rounds) {
    case 10: dec_vaes(dec, iv, in, nb, out, 10); break;
    case 12: dec_vaes(dec, iv, in, nb, out, 12); break;
    default: dec_vaes(dec, iv, in, nb, out, 14); break;
    }
}

#endif /* SEALIO_X86: single-chain kernels */

/* ---------------------------------------------------------- public API */

sealio_cbc *sealio_cbc_new(const uint8_t *key, size_t key_len, int kernel,
                           int *status) {
    int k = 0;
    sealio_cbc *ctx = sealio_keyed_new(sizeof *ctx, offsetof(sealio_cbc, enc), key,
                                       key_len, kernel, &k, status);
    if (ctx == NULL) return NULL;
    sealio_aes_expand_dec(&ctx->dec, &ctx->enc);
    ctx->kernel = k;
    return ctx;
}

void sealio_cbc_free(sealio_cbc *ctx) { sealio_free_wiped(ctx, sizeof *ctx); }

static int valid_ctx(const sealio_cbc *ctx) {
    return ctx != NULL &&
           (ctx->kernel == SEALIO_KERNEL_AESNI ||
            ctx->kernel == SEALIO_KERNEL_VAES) &&
           (ctx->enc.rounds == 10 || ctx->enc.rounds == 12 ||
            ctx->enc.rounds == 14);
}

/*
 * Common checks: context, IV, buffers present for their lengths; out may
 * alias in only exactly and must not touch the IV. SEALIO_OK,
 * SEALIO_ERR_ARG or SEALIO_ERR_OVERLAP.
 */
static int check_io(const sealio_cbc *ctx, const uint8_t *iv,
                    const uint8_t *in, size_t in_len, const uint8_t *out,
                    size_t out_len) {
    if (!valid_ctx(ctx) || iv == NULL) return SEALIO_ERR_ARG;
    if (!sealio_range_ok(in, in_len) || !sealio_range_ok(out, out_len))
        return SEALIO_ERR_ARG;
    if (sealio_bad_overlap(out, out_len, in, in_len) ||
        sealio_overlaps(out, out_len, iv, BLK))
        return SEALIO_ERR_OVERLAP;
    return SEALIO_OK;
}

static void decrypt_blocks(const sealio_cbc *ctx, const uint8_t *iv,
                           const uint8_t *in, size_t len, uint8_t *out) {
    if (len == 0) return;
    if (ctx->kernel == SEALIO_KERNEL_VAES)
        sealio_cbc_dec_vaes(&ctx->dec, iv, in, len, out);
    else
        sealio_cbc_dec_aesni(&ctx->dec, iv, in, len, out);
}

int sealio_cbc_encrypt(const sealio_cbc *ctx, const uint8_t *iv,
                       const uint8_t *in, size_t len, uint8_t *out) {
    if (len % BLK) return SEALIO_ERR_ARG;
    const int rc = check_io(ctx, iv, in, len, out, len);
    if (rc != SEALIO_OK) return rc;
    sealio_cbc_enc_aesni(&ctx->enc, iv, in, len, out);
    return SEALIO_OK;
}

int sealio_cbc_decrypt(const sealio_cbc *ctx, const uint8_t *iv,
                       const uint8_t *in, size_t len, uint8_t *out) {
    if (len % BLK) return SEALIO_ERR_ARG;
    const int rc = check_io(ctx, iv, in, len, out, len);
    if (rc != SEALIO_OK) return rc;
    decrypt_blocks(ctx, iv, in, len, out);
    return SEALIO_OK;
}

int sealio_cbc_encrypt_pad(const sealio_cbc *ctx, const uint8_t *iv,
                           const uint8_t *in, size_t len, uint8_t *out,
                           size_t out_cap, size_t *out_len) {
    const size_t total = padded_len(len);
    if (out_len == NULL || total == 0 || out_cap < total) return SEALIO_ERR_ARG;
    const int rc = check_io(ctx, iv, in, len, out, total);
    if (rc != SEALIO_OK) return rc;
    const size_t full = len / BLK * BLK;
    _Alignas(16) uint8_t last[BLK];
    /* Read the tail before any output is written (in may equal out). */
    pad_block(last, len ? in + full : NULL, len - full);
    sealio_cbc_enc_aesni(&ctx->enc, iv, in, full, out);
    sealio_cbc_enc_aesni(&ctx->enc, full ? out + full - BLK : iv, last, BLK,
                         out + full);
    sealio_wipe(last, sizeof last);
    *out_len = total;
    return SEALIO_OK;
}

/* 32-bit constant-time helpers; arguments are below 2^31. */
static inline uint32_t ct_barrier(uint32_t x) {
    __asm__("" : "+r"(x));
    return x;
}
/* 1 if a < b else 0. */
static inline uint32_t ct_lt(uint32_t a, uint32_t b) { return (a - b) >> 31; }

/*
 * Constant-time PKCS#7 check of the last block: returns the pad length
 * (1..16) if valid, else 0. Every byte is read and combined with masks;
 * nothing branches on the block's contents.
 */
static uint32_t pkcs7_pad_len(const uint8_t blk[BLK]) {
    const uint32_t p = blk[BLK - 1];
    /* Nonzero if p is 0 or above 16. */
    uint32_t bad = ct_lt(p, 1) | ct_lt(BLK, p);
    for (uint32_t i = 0; i < BLK; i++) {
        /* Byte i is padding iff its distance from the end (16 - i) <= p. */
        const uint32_t in_pad = ct_barrier(ct_lt(p, BLK - i) - 1u);
        bad |= in_pad & (blk[i] ^ p);
    }
    bad = ct_barrier(bad);
    const uint32_t ok = 1u ^ ((bad | (0u - bad)) >> 31); /* bad == 0 */
    return p & (0u - ok);
}

int sealio_cbc_decrypt_pad(const sealio_cbc *ctx, const uint8_t *iv,
                           const uint8_t *in, size_t len, uint8_t *out,
                           size_t out_cap, size_t *out_len) {
    if (out_len == NULL || len == 0 || len % BLK || out_cap < len)
        return SEALIO_ERR_ARG;
    const int rc = check_io(ctx, iv, in, len, out, len);
    if (rc != SEALIO_OK) return rc;
    decrypt_blocks(ctx, iv, in, len, out);
    const uint32_t p = pkcs7_pad_len(out + len - BLK);
    if (p == 0) {
        sealio_wipe(out, len);
        *out_len = 0;
        return SEALIO_ERR_PADDING;
    }
    *out_len = len - p;
    return SEALIO_OK;
}

/* ------------------------------------------------------- multi-buffer */

#define MB_X_LANES 8  /* AES-NI: one chain per XMM */
#define MB_Y_LANES 16 /* VAES: 8 YMM x 2 chains */
#define MB_LANES (MB_Y_LANES > MB_X_LANES ? MB_Y_LANES : MB_X_LANES)
#define MB_SINK_BLOCKS 32 /* idle lanes encrypt this scratch area */

/*
 * Lane state shared with the lock-step kernels. Round keys are round-major
 * so lanes 2j and 2j+1 of round r form one aligned 32-byte key pair.
 */
typedef struct mb_state {
    _Alignas(64) uint8_t rk[SEALIO_MAX_ROUNDS + 1][MB_LANES][BLK];
    _Alignas(64) uint8_t cv[MB_LANES][BLK];   /* chaining values */
    _Alignas(64) uint8_t last[MB_LANES][BLK]; /* PKCS#7 final blocks */
    _Alignas(64) uint8_t sink[MB_SINK_BLOCKS * BLK];
    const uint8_t *in[MB_LANES];
    uint8_t *out[MB_LANES];
} mb_state;

/* Run every lane `steps` blocks forward; all lanes then advance. */
typedef void mb_kernel_fn(mb_state *s, size_t steps);

/*
 * The lock-step kernels. `uni` (a constant) says every lane holds the same
 * key: then each round key is loaded once per step and shared by all lanes
 * instead of one load per lane, which relieves the load ports (with a key
 * per lane the loads, not the AES units, bound the speed).
 */
#if SEALIO_X86
TARGET_AESNI INLINE void mb_run_x(mb_state *s, size_t steps, const unsigned nr,
                                  const int uni) {
    enum { L = MB_X_LANES };
    __m128i c[L];
    const uint8_t *ip[L];
    uint8_t *op[L];
    UNROLL
    for (int j = 0; j < L; j++) {
        c[j] = _mm_load_si128((const __m128i *)s->cv[j]);
        ip[j] = s->in[j];
        op[j] = s->out[j];
    }
#define KX(r, j) _mm_load_si128((const __m128i *)s->rk[r][uni ? 0 : (j)])
    const size_t bytes = steps * BLK;
    for (size_t o = 0; o < bytes; o += BLK) {
        const __m128i k0 = KX(0, 0);
        UNROLL
        for (int j = 0; j < L; j++)
            c[j] = _mm_xor_si128(_mm_xor_si128(c[j], ld(ip[j] + o)),
                                 uni ? k0 : KX(0, j));
        UNROLL
        for (unsigned r = 1; r < nr; r++) {
            const __m128i k = KX(r, 0);
            UNROLL
            for (int j = 0; j < L; j++)
                c[j] = _mm_aesenc_si128(c[j], uni ? k : KX(r, j));
        }
        const __m128i kl = KX(nr, 0);
        UNROLL
        for (int j = 0; j < L; j++) {
            c[j] = _mm_aesenclast_si128(c[j], uni ? kl : KX(nr, j));
            st(op[j] + o, c[j]);
        }
    }
#undef KX
    UNROLL
    for (int j = 0; j < L; j++) {
        _mm_store_si128((__m128i *)s->cv[j], c[j]);
        s->in[j] = ip[j] + bytes;
        s->out[j] = op[j] + bytes;
    }
}

TARGET_VAES INLINE void mb_run_y(mb_state *s, size_t steps, const unsigned nr,
                                 const int uni) {
    enum { Y = MB_Y_LANES / 2 };
    __m256i c[Y];
    const uint8_t *ip[MB_Y_LANES];
    uint8_t *op[MB_Y_LANES];
    UNROLL
    for (int j = 0; j < Y; j++)
        c[j] = _mm256_load_si256((const __m256i *)s->cv[2 * j]);
    UNROLL
    for (int j = 0; j < MB_Y_LANES; j++) ip[j] = s->in[j], op[j] = s->out[j];
    /* Keys of lanes 2j and 2j+1; with uni, lanes 0 and 1 hold the same key. */
#define KY(r, j) _mm256_load_si256((const __m256i *)s->rk[r][uni ? 0 : 2 * (j)])
    const size_t bytes = steps * BLK;
    for (size_t o = 0; o < bytes; o += BLK) {
        const __m256i k0 = KY(0, 0);
        UNROLL
        for (int j = 0; j < Y; j++) {
            const __m256i p = _mm256_inserti128_si256(
                _mm256_castsi128_si256(ld(ip[2 * j] + o)), ld(ip[2 * j + 1] + o),
                1);
            c[j] = _mm256_xor_si256(_mm256_xor_si256(c[j], p),
                                    uni ? k0 : KY(0, j));
        }
        UNROLL
        for (unsigned r = 1; r < nr; r++) {
            const __m256i k = KY(r, 0);
            UNROLL
            for (int j = 0; j < Y; j++)
                c[j] = _mm256_aesenc_epi128(c[j], uni ? k : KY(r, j));
        }
        const __m256i kl = KY(nr, 0);
        UNROLL
        for (int j = 0; j < Y; j++) {
            c[j] = _mm256_aesenclast_epi128(c[j], uni ? kl : KY(nr, j));
            st(op[2 * j] + o, _mm256_castsi256_si128(c[j]));
            st(op[2 * j + 1] + o, _mm256_extracti128_si256(c[j], 1));
        }
    }
#undef KY
    UNROLL
    for (int j = 0; j < Y; j++)
        _mm256_store_si256((__m256i *)s->cv[2 * j], c[j]);
    UNROLL
    for (int j = 0; j < MB_Y_LANES; j++) {
        s->in[j] = ip[j] + bytes;
        s->out[j] = op[j] + bytes;
    }
}

/* Instances: [uniform key][rounds 10/12/14]. */
#define MB_FN(isa, tgt, nr, uni)                                   \
    tgt static void mb_##isa##nr##_##uni(mb_state *s, size_t n) { \
        mb_run_##isa(s, n, nr, uni);                               \
    }
MB_FN(x, TARGET_AESNI, 10, 0)
MB_FN(x, TARGET_AESNI, 12, 0)
MB_FN(x, TARGET_AESNI, 14, 0)
MB_FN(x, TARGET_AESNI, 10, 1)
MB_FN(x, TARGET_AESNI, 12, 1)
MB_FN(x, TARGET_AESNI, 14, 1)
MB_FN(y, TARGET_VAES, 10, 0)
MB_FN(y, TARGET_VAES, 12, 0)
MB_FN(y, TARGET_VAES, 14, 0)
MB_FN(y, TARGET_VAES, 10, 1)
MB_FN(y, TARGET_VAES, 12, 1)
MB_FN(y, TARGET_VAES, 14, 1)
#undef MB_FN

static mb_kernel_fn *const MB_KERNELS[2][2][3] = {
    {{mb_x10_0, mb_x12_0, mb_x14_0}, {mb_x10_1, mb_x12_1, mb_x14_1}},
    {{mb_y10_0, mb_y12_0, mb_y14_0}, {mb_y10_1, mb_y12_1, mb_y14_1}},
};
#else /* !SEALIO_X86 */
/* Unreachable: no CBC context exists without a kernel (cpu.c). */
static void mb_nohw(mb_state *s, size_t n) {
    (void)s;
    (void)n;
    abort();
}
static mb_kernel_fn *const MB_KERNELS[2][2][3] = {
    {{mb_nohw, mb_nohw, mb_nohw}, {mb_nohw, mb_nohw, mb_nohw}},
    {{mb_nohw, mb_nohw, mb_nohw}, {mb_nohw, mb_nohw, mb_nohw}},
};
#endif /* SEALIO_X86: multi-buffer kernels */

enum { LANE_IDLE, LANE_BODY, LANE_FINAL };

typedef struct mb_lane {
    size_t job;   /* index into jobs */
    size_t left;  /* blocks left in the current segment */
    size_t wait;  /* steps before the segment starts (lane parked) */
    const uint8_t *pin; /* segment start while waiting */
    uint8_t *pout;
    int phase;    /* LANE_* */
} mb_lane;

typedef struct mb_pass_state {
    mb_state *s;
    mb_lane ln[MB_LANES];
    unsigned lanes;
    const sealio_cbc_job *jobs;
    size_t n;
    size_t next; /* first job not yet looked at in this pass */
    unsigned nr; /* this pass's rounds */
    int pad;
} mb_pass_state;

/* Next job of this pass with something to encrypt, or SIZE_MAX. */
static size_t mb_next_job(mb_pass_state *q) {
    while (q->next < q->n) {
        const size_t i = q->next++;
        const sealio_cbc_job *jb = &q->jobs[i];
        if (jb->ctx->enc.rounds == q->nr && (q->pad || jb->len)) return i;
    }
    return SIZE_MAX;
}

/*
 * Start delay for a new job. All lanes advance together, so lanes whose
 * input and output addresses are congruent modulo 4 KiB (large buffers of
 * equal size are page-aligned) would hit the same L1 set on every step:
 * 16-32 lines in an 8-way set, a miss on nearly every access and a 2-4x
 * slowdown. So each new job may start up to MB_MAX_DELAY blocks late,
 * by whole cache lines, to put its two streams in sets that the other
 * lanes leave (nearly) free. Waiting is bounded by 1/16 of the job's
 * length; short jobs start at once.
 */
#define MB_LINE_BLOCKS 4 /* 64-byte lines */
#define MB_MAX_DELAY (16 * MB_LINE_BLOCKS)

static unsigned l1_set(uintptr_t a) { return (unsigned)(a >> 6) & 63u; }

static size_t mb_delay(const mb_pass_state *q, unsigned l, const uint8_t *in,
                       const uint8_t *out, size_t blocks) {
    size_t dmax = blocks / 16;
    if (dmax > MB_MAX_DELAY) dmax = MB_MAX_DELAY;
    if (dmax < MB_LINE_BLOCKS) return 0;
    unsigned cnt[64] = {0}; /* lines of the other lanes per L1 set */
    for (unsigned m = 0; m < q->lanes; m++) {
        const mb_lane *o = &q->ln[m];
        if (m == l || o->phase == LANE_IDLE || (o->left == 0 && !o->wait))
            continue;
        /* Lane m's streams, shifted back by its own remaining wait. */
        const uintptr_t back = (uintptr_t)o->wait * BLK;
        const uintptr_t a = (uintptr_t)o->pin - back;
        const uintptr_t b = (uintptr_t)o->pout - back;
        cnt[l1_set(a)]++;
        if (b >> 6 != a >> 6) cnt[l1_set(b)]++; /* in place: one line */
    }
    size_t best = 0;
    unsigned best_cost = ~0u;
    for (size_t d = 0; d <= dmax; d += MB_LINE_BLOCKS) {
        const unsigned a = l1_set((uintptr_t)in - d * BLK);
        const unsigned b = l1_set((uintptr_t)out - d * BLK);
        const unsigned cost = cnt[a] + cnt[b];
        if (cost < best_cost) best = d, best_cost = cost;
        if (cost <= 2) break; /* sets stay well below their 8 ways */
    }
    return best;
}

/* Point lane l's kernel pointers at the segment, or park it on the sink. */
static void mb_set_ptrs(mb_pass_state *q, unsigned l) {
    mb_lane *ln = &q->ln[l];
    const int run = ln->phase != LANE_IDLE && ln->wait == 0;
    q->s->in[l] = run ? ln->pin : q->s->sink;
    q->s->out[l] = run ? ln->pout : q->s->sink;
}

/*
 * Lane l has finished its segment (or never had one): give it the job's
 * final padded block, or the next job, or mark it idle.
 */
static void mb_refill(mb_pass_state *q, unsigned l) {
    mb_state *s = q->s;
    mb_lane *ln = &q->ln[l];
    for (;;) {
        if (ln->phase == LANE_BODY && q->pad) {
            const sealio_cbc_job *jb = &q->jobs[ln->job];
            ln->pin = s->last[l];
            ln->pout = jb->out + jb->len / BLK * BLK;
            ln->left = 1;
            ln->wait = 0;
            ln->phase = LANE_FINAL;
            return;
        }
        const size_t i = mb_next_job(q);
        if (i == SIZE_MAX) {
            ln->phase = LANE_IDLE;
            ln->left = 0;
            ln->wait = 0;
            return;
        }
        const sealio_cbc_job *jb = &q->jobs[i];
        for (unsigned r = 0; r <= q->nr; r++)
            memcpy(s->rk[r][l], jb->ctx->enc.rk[r], BLK);
        memcpy(s->cv[l], jb->iv, BLK); /* again when a wait ends */
        const size_t full = jb->len / BLK * BLK;
        /* Built before any of this job's output exists (in may equal out). */
        if (q->pad)
            pad_block(s->last[l], jb->len ? jb->in + full : NULL,
                      jb->len - full);
        ln->job = i;
        ln->phase = LANE_BODY;
        ln->left = full / BLK;
        ln->pin = jb->in;
        ln->pout = jb->out;
        if (ln->left) {
            ln->wait = mb_delay(q, l, jb->in, jb->out, ln->left);
            return;
        }
        /* No whole blocks (only with pad): go straight to the final block. */
    }
}

/* Encrypt every job of the pass (those with q->nr rounds). */
static void mb_pass(mb_pass_state *q, mb_kernel_fn *kern) {
    for (unsigned l = 0; l < q->lanes; l++) {
        q->ln[l].left = 0;
        q->ln[l].wait = 0;
        q->ln[l].phase = LANE_IDLE;
    }
    for (;;) {
        size_t steps = SIZE_MAX;
        int parked = 0;
        for (unsigned l = 0; l < q->lanes; l++) {
            mb_lane *ln = &q->ln[l];
            if (ln->left == 0) mb_refill(q, l);
            if (ln->phase == LANE_IDLE) {
                parked = 1;
            } else if (ln->wait) {
                parked = 1;
                if (ln->wait < steps) steps = ln->wait;
            } else if (ln->left < steps) {
                steps = ln->left;
            }
            mb_set_ptrs(q, l);
        }
        if (steps == SIZE_MAX) return; /* every lane idle: pass done */
        if (parked && steps > MB_SINK_BLOCKS) steps = MB_SINK_BLOCKS;
        kern(q->s, steps);
        for (unsigned l = 0; l < q->lanes; l++) {
            mb_lane *ln = &q->ln[l];
            if (ln->phase == LANE_IDLE) continue;
            if (ln->wait) {
                /* Parked lanes ran on the sink: (re)load the IV to start. */
                ln->wait -= steps;
                if (ln->wait == 0) memcpy(q->s->cv[l], q->jobs[ln->job].iv, BLK);
            } else {
                ln->left -= steps;
                ln->pin += steps * BLK;
                ln->pout += steps * BLK;
            }
        }
    }
}

/* Bytes job i writes. */
static size_t mb_out_len(const sealio_cbc_job *jb, int pad) {
    return pad ? padded_len(jb->len) : jb->len;
}

/* Output ranges sorted by address, for the cross-job overlap check. */
typedef struct mb_range {
    uintptr_t lo, hi; /* [lo, hi) */
    size_t job;
} mb_range;

static int mb_range_cmp(const void *a, const void *b) {
    const uintptr_t x = ((const mb_range *)a)->lo, y = ((const mb_range *)b)->lo;
    return (x > y) - (x < y);
}

/*
 * 1 if [p, p+len) of job `job` (its input when `is_in`, else its IV)
 * meets an output other than its own output starting at the same address
 * (for the input). r[0..n) is sorted and pairwise disjoint.
 */
static int mb_hits_output(const mb_range *r, size_t n, const uint8_t *p,
                          size_t len, size_t job, int is_in) {
    if (p == NULL || len == 0) return 0;
    const uintptr_t lo = (uintptr_t)p, hi = lo + len;
    size_t a = 0, b = n; /* first range with hi > lo */
    while (a < b) {
        const size_t m = a + (b - a) / 2;
        if (r[m].hi > lo) b = m; else a = m + 1;
    }
    for (; a < n && r[a].lo < hi; a++)
        if (!(is_in && r[a].job == job && r[a].lo == lo)) return 1;
    return 0;
}

/*
 * Lanes interleave the jobs, so one job's output must not overlap another
 * job's input, IV or output: SEALIO_OK, SEALIO_ERR_OVERLAP or
 * SEALIO_ERR_NOMEM. O(n log n): outputs sorted, inputs searched.
 */
static int mb_check_cross(const sealio_cbc_job *jobs, size_t n, int pad) {
    if (n < 2) return SEALIO_OK;
    if (n > SIZE_MAX / sizeof(mb_range)) return SEALIO_ERR_NOMEM;
    mb_range *r = malloc(n * sizeof *r);
    if (r == NULL) return SEALIO_ERR_NOMEM;
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        const size_t len = mb_out_len(&jobs[i], pad);
        if (len == 0) continue;
        r[m].lo = (uintptr_t)jobs[i].out;
        r[m].hi = r[m].lo + len;
        r[m].job = i;
        m++;
    }
    qsort(r, m, sizeof *r, mb_range_cmp);
    int rc = SEALIO_OK;
    for (size_t i = 1; i < m && rc == SEALIO_OK; i++)
        if (r[i].lo < r[i - 1].hi) rc = SEALIO_ERR_OVERLAP;
    for (size_t i = 0; i < n && rc == SEALIO_OK; i++)
        if (mb_hits_output(r, m, jobs[i].in, jobs[i].len, i, 1) ||
            mb_hits_output(r, m, jobs[i].iv, BLK, i, 0))
            rc = SEALIO_ERR_OVERLAP;
    free(r);
    return rc;
}

/* All checks before anything is written; *all_vaes set if VAES may run. */
static int mb_validate(const sealio_cbc_job *jobs, size_t n, int pad,
                       int *all_vaes) {
    int vaes = 1;
    for (size_t i = 0; i < n; i++) {
        const sealio_cbc_job *jb = &jobs[i];
        if (!pad && jb->len % BLK) return SEALIO_ERR_ARG;
        const size_t need = mb_out_len(jb, pad);
        if (pad && need == 0) return SEALIO_ERR_ARG;
        if (jb->out_cap < need) return SEALIO_ERR_ARG;
        const int rc = check_io(jb->ctx, jb->iv, jb->in, jb->len, jb->out, need);
        if (rc != SEALIO_OK) return rc;
        vaes &= jb->ctx->kernel == SEALIO_KERNEL_VAES;
    }
    *all_vaes = vaes;
    return mb_check_cross(jobs, n, pad);
}

int sealio_cbc_encrypt_multi(sealio_cbc_job *jobs, size_t n_jobs, int pad) {
    if (n_jobs == 0) return SEALIO_OK;
    int vaes = 0;
    pad = pad != 0;
    if (jobs == NULL) return SEALIO_ERR_ARG;
    const int rc = mb_validate(jobs, n_jobs, pad, &vaes);
    if (rc != SEALIO_OK) return rc;
    mb_state s;
    /* Idle lanes read the sink and may run with never-set keys: define all. */
    memset(&s, 0, sizeof s);
    for (int k = 0; k < 3; k++) {
        mb_pass_state q;
        q.s = &s;
        q.jobs = jobs;
        q.n = n_jobs;
        q.next = 0;
        q.nr = 10u + 2u * (unsigned)k;
        q.pad = pad;
        /* One context for the whole pass: lanes share one key. */
        const sealio_cbc *first = NULL;
        int uni = 1;
        size_t count = 0;
        for (size_t i = 0; i < n_jobs; i++) {
            if (jobs[i].ctx->enc.rounds != q.nr) continue;
            if (first == NULL) first = jobs[i].ctx;
            uni &= jobs[i].ctx == first;
            count++;
        }
        if (first == NULL) continue;
        /*
         * Up to 8 chains run faster on the 8-lane AES-NI kernel: the VAES
         * kernel's step costs the same whether or not its lanes have work.
         */
        const int wide = vaes && count > MB_X_LANES;
        q.lanes = wide ? MB_Y_LANES : MB_X_LANES;
        /* With uni the kernels read only the keys of lanes 0 and 1. */
        if (uni)
            for (unsigned r = 0; r <= q.nr; r++) {
                memcpy(s.rk[r][0], first->enc.rk[r], BLK);
                memcpy(s.rk[r][1], first->enc.rk[r], BLK);
            }
        mb_pass(&q, MB_KERNELS[wide][uni][k]);
    }
    sealio_wipe(&s, sizeof s);
    for (size_t i = 0; i < n_jobs; i++)
        jobs[i].out_len = pad ? padded_len(jobs[i].len) : jobs[i].len;
    return SEALIO_OK;
}
