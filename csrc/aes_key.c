/*
 * AES key expansion (FIPS-197 KeyExpansion) with AES-NI.
 *
 * One word-oriented loop serves 128-, 192- and 256-bit keys. SubWord and
 * RotWord come from AESKEYGENASSIST (dword 1 of its result is
 * RotWord(SubWord(x)) ^ rcon, dword 0 is SubWord(x)), so no table lookup
 * touches key-dependent addresses: the schedule is constant-time. The
 * decryption schedule for AESDEC is the equivalent inverse cipher's
 * (AESIMC on the inner round keys, in reverse order).
 *
 * Licensed under the Apache License, Version 2.0.
 */
#include <string.h>

#include "internal.h"

#if SEALIO_X86 /* the AES-NI schedule; sealio_keyed_new below is portable */
#include <immintrin.h>

#define TARGET_AESNI __attribute__((target("aes,sse4.1")))

TARGET_AESNI static uint32_t sub_word(uint32_t w) {
    __m128i v = _mm_set1_epi32((int)w);
    return (uint32_t)_mm_cvtsi128_si32(_mm_aeskeygenassist_si128(v, 0));
}

/* RotWord(SubWord(w)) ^ rcon; the immediate must be a constant. */
TARGET_AESNI static uint32_t rot_sub_word(uint32_t w, unsigned round) {
    __m128i v = _mm_set1_epi32((int)w), r;
    switch (round) {
    case 1: r = _mm_aeskeygenassist_si128(v, 0x01); break;
    case 2: r = _mm_aeskeygenassist_si128(v, 0x02); break;
    case 3: r = _mm_aeskeygenassist_si128(v, 0x04); break;
    case 4: r = _mm_aeskeygenassist_si128(v, 0x08); break;
    case 5: r = _mm_aeskeygenassist_si128(v, 0x10); break;
    case 6: r = _mm_aeskeygenassist_si128(v, 0x20); break;
    case 7: r = _mm_aeskeygenassist_si128(v, 0x40); break;
    case 8: r = _mm_aeskeygenassist_si128(v, 0x80); break;
    case 9: r = _mm_aeskeygenassist_si128(v, 0x1b); break;
    default: r = _mm_aeskeygenassist_si128(v, 0x36); break;
    }
    return (uint32_t)_mm_extract_epi32(r, 1);
}

TARGET_AESNI int sealio_aes_expand_enc(aes_schedule *s, const uint8_t *key,
                                       size_t len) {
    if (len != 16 && len != 24 && len != 32) return 0;
    const unsigned nk = (unsigned)(len / 4);
    const unsigned rounds = nk + 6;
    const unsigned total = 4 * (rounds + 1);
    uint32_t w[4 * (SEALIO_MAX_ROUNDS + 1)];
    memcpy(w, key, len); /* little-endian words: byte 0 is the low byte */
    for (unsigned i = nk; i < total; i++) {
        uint32_t t = w[i - 1];
        if (i % nk == 0)
            t = rot_sub_word(t, i / nk);
        else if (nk > 6 && i % nk == 4)
            t = sub_word(t);
        w[i] = w[i - nk] ^ t;
    }
    memcpy(s->rk, w, sizeof(uint32_t) * total);
    s->rounds = rounds;
    sealio_wipe(w, sizeof w);
    return 1;
}

TARGET_AESNI void sealio_aes_expand_dec(aes_schedule *dec,
                                        const aes_schedule *enc) {
    const unsigned nr = enc->rounds;
    dec->rounds = nr;
    memcpy(dec->rk[0], enc->rk[nr], 16);
    for (unsigned i = 1; i < nr; i++) {
        __m128i k = _mm_load_si128((const __m128i *)enc->rk[nr - i]);
        _mm_store_si128((__m128i *)dec->rk[i], _mm_aesimc_si128(k));
    }
    memcpy(dec->rk[nr], enc->rk[0], 16);
}

TARGET_AESNI void sealio_aes_encrypt_block(const aes_schedule *s,
                                           const uint8_t in[16],
                                           uint8_t out[16]) {
    __m128i b = _mm_loadu_si128((const __m128i *)in);
    b = _mm_xor_si128(b, _mm_load_si128((const __m128i *)s->rk[0]));
    for (unsigned r = 1; r < s->rounds; r++)
        b = _mm_aesenc_si128(b, _mm_load_si128((const __m128i *)s->rk[r]));
    b = _mm_aesenclast_si128(
        b, _mm_load_si128((const __m128i *)s->rk[s->rounds]));
    _mm_storeu_si128((__m128i *)out, b);
}
#endif /* SEALIO_X86 */

static void set_status(int *status, int value) {
    if (status) *status = value;
}

void *sealio_keyed_new(size_t size, size_t enc_offset, const uint8_t *key,
                       size_t key_len, int kernel, int *resolved,
                       int *status) {
    if (key == NULL || (key_len != 16 && key_len != 24 && key_len != 32) ||
        enc_offset > size || size - enc_offset < sizeof(aes_schedule)) {
        set_status(status, SEALIO_ERR_ARG);
        return NULL;
    }
    const int k = sealio_kernel_resolve(kernel);
    if (k < 0) {
        set_status(status, k);
        return NULL;
    }
    uint8_t *ctx = sealio_alloc_aligned(size);
    if (ctx == NULL) {
        set_status(status, SEALIO_ERR_NOMEM);
        return NULL;
    }
    if (!sealio_aes_expand_enc((aes_schedule *)(ctx + enc_offset), key,
                               key_len)) { /* unreachable: length checked */
        sealio_free_wiped(ctx, size);
        set_status(status, SEALIO_ERR_ARG);
        return NULL;
    }
    *resolved = k;
    set_status(status, SEALIO_OK);
    return ctx;
}
