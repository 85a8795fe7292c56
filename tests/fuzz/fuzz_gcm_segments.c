/*
 * Fuzz target: the segment batch API on attacker-controlled ciphertext.
 * Input: [1 byte segment log2][1 byte flags][32 key][7 prefix][sealed...].
 * Properties: never crashes or reads out of bounds; a failure zeroes the
 * output; any batch that opens re-seals to the same bytes (so forged
 * ciphertext can only "open" if it is the genuine encryption).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sealio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 41) return 0;
    const size_t seg = (size_t)1 << (data[0] % 12 + 4); /* 16 .. 32 KiB */
    const int kernel = (data[1] & 1) ? SEALIO_KERNEL_VAES : SEALIO_KERNEL_AESNI;
    const int final = (data[1] >> 1) & 1;
    const unsigned threads = (data[1] >> 2) & 3;
    if (!sealio_kernel_available(kernel)) return 0;
    sealio_gcm *g = sealio_gcm_new(data + 2, 32, kernel, NULL);
    if (!g) abort();
    const uint8_t *in = data + 41;
    const size_t in_len = size - 41;
    sealio_segments p = {seg, NULL, data + 34, 7, final, NULL, 0, threads};
    uint8_t *out = malloc(in_len + 1), *re = malloc(in_len + 16);
    size_t plain = 0, bad = 0;
    int rc = sealio_gcm_open_segments(g, &p, in, in_len, out, in_len, &plain, &bad);
    if (rc == SEALIO_OK) {
        if (sealio_gcm_seal_segments(g, &p, out, plain, re, in_len + 16) != SEALIO_OK ||
            memcmp(re, in, in_len) != 0)
            abort();
    } else if (rc == SEALIO_ERR_AUTH) {
        const size_t sealed = seg + 16, n = (in_len + sealed - 1) / sealed;
        for (size_t i = 0; i < in_len - 16 * n; i++)
            if (out[i]) abort();
    } else if (rc != SEALIO_ERR_ARG) {
        abort();
    }
    free(out);
    free(re);
    sealio_gcm_free(g);
    return 0;
}
