/*
 * Fuzz target: the segment batch API on attacker-controlled ciphertext.
 * Input: [1 byte segment log2][1 byte flags][32 key][7 prefix][sealed...].
 * flags bit 0: kernel (VAES, else AES-NI); bit 1: final batch; bits 2-3:
 * threads. Seeds: tests/fuzz/make_corpus.py (genuine batches, so mutations
 * start from ciphertext that opens).
 * Properties: never crashes or reads out of bounds (ASan/UBSan); the only
 * results are OK, AUTH and ARG; a failure zeroes the output; any batch that
 * opens re-seals to the same bytes (so forged ciphertext can only "open" if
 * it is the genuine encryption); the other kernel, when the CPU has it,
 * and an exactly in-place open give the same result and bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Plaintext bytes a well-formed batch of in_len sealed bytes carries. */
static size_t plain_bound(size_t in_len, size_t seg) {
    const size_t sealed = seg + 16;
    const size_t n = in_len ? (in_len + sealed - 1) / sealed : 1;
    return in_len >= 16 * n ? in_len - 16 * n : 0;
}

static int open_with(int kernel, const uint8_t *key, const sealio_segments *p, const uint8_t *in,
                     size_t in_len, uint8_t *out, size_t out_cap, size_t *plain) {
    sealio_gcm *g = sealio_gcm_new(key, 32, kernel, NULL);
    if (!g) abort();
    size_t bad = 0;
    *plain = 0;
    int rc = sealio_gcm_open_segments(g, p, in, in_len, out, out_cap, plain, &bad);
    sealio_gcm_free(g);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 41) return 0;
    const size_t seg = (size_t)1 << (data[0] % 12 + 4); /* 16 .. 32 KiB */
    const int kernel = (data[1] & 1) ? SEALIO_KERNEL_VAES : SEALIO_KERNEL_AESNI;
    const int other = (data[1] & 1) ? SEALIO_KERNEL_AESNI : SEALIO_KERNEL_VAES;
    const int final = (data[1] >> 1) & 1;
    const unsigned threads = (data[1] >> 2) & 3;
    if (!sealio_kernel_available(kernel)) return 0;
    const uint8_t *key = data + 2;
    const uint8_t *in = data + 41;
    const size_t in_len = size - 41;
    sealio_segments p = {seg, NULL, data + 34, 7, final, NULL, 0, threads};
    uint8_t *out = malloc(in_len + 1), *re = malloc(in_len + 16), *again = malloc(in_len + 1);
    uint8_t *inplace = malloc(in_len + 1);
    if (!out || !re || !again || !inplace) abort();
    size_t plain = 0, plain2 = 0;
    int rc = open_with(kernel, key, &p, in, in_len, out, in_len, &plain);
    if (rc == SEALIO_OK) {
        sealio_gcm *g = sealio_gcm_new(key, 32, kernel, NULL);
        if (!g) abort();
        if (plain > in_len || sealio_gcm_seal_segments(g, &p, out, plain, re, in_len + 16) != SEALIO_OK ||
            sealio_segments_sealed_len(plain, seg) != in_len || memcmp(re, in, in_len) != 0)
            abort();
        sealio_gcm_free(g);
    } else if (rc == SEALIO_ERR_AUTH) {
        const size_t bound = plain_bound(in_len, seg);
        for (size_t i = 0; i < bound; i++)
            if (out[i]) abort();
    } else if (rc != SEALIO_ERR_ARG) {
        abort();
    }
    if (sealio_kernel_available(other)) {
        int rc2 = open_with(other, key, &p, in, in_len, again, in_len, &plain2);
        if (rc2 != rc || (rc == SEALIO_OK && (plain2 != plain || memcmp(again, out, plain) != 0)))
            abort();
    }
    memcpy(inplace, in, in_len);
    sealio_segments serial = p;
    int rc3 = open_with(kernel, key, &serial, inplace, in_len, inplace, in_len, &plain2);
    if (rc3 != rc || (rc == SEALIO_OK && (plain2 != plain || memcmp(inplace, out, plain) != 0)))
        abort();
    free(inplace);
    free(again);
    free(out);
    free(re);
    return 0;
}
