/*
 * Runs the fuzz targets on pseudo-random inputs and on mutated genuine
 * ciphertexts, so every ctest run (gcc, no libFuzzer) exercises them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealio.h"
#include "../fuzz/fuzz_gcm_segments.c"

static uint32_t rng = 12345;
static uint32_t next(void) { rng = rng * 1664525u + 1013904223u; return rng >> 8; }

int main(void) {
    static uint8_t buf[41 + 4096], pt[4096];
    size_t runs = 0;
    for (int iter = 0; iter < 4000; iter++) {
        size_t size = 41 + next() % 4096;
        for (size_t i = 0; i < size; i++) buf[i] = (uint8_t)next();
        if (iter % 2) {
            /* Genuine sealed segments, then maybe one flipped bit. */
            const size_t seg = (size_t)1 << (buf[0] % 12 + 4);
            size_t plen = next() % 2048;
            for (size_t i = 0; i < plen; i++) pt[i] = (uint8_t)next();
            buf[1] |= 2; /* final */
            sealio_gcm *g = sealio_gcm_new(buf + 2, 32, SEALIO_KERNEL_AUTO, NULL);
            sealio_segments p = {seg, NULL, buf + 34, 7, 1, NULL, 0, 1};
            size_t sealed = sealio_segments_sealed_len(plen, seg);
            if (41 + sealed <= sizeof buf &&
                sealio_gcm_seal_segments(g, &p, pt, plen, buf + 41, sealed) == 0) {
                size = 41 + sealed;
                if (iter % 4 == 1) buf[41 + next() % sealed] ^= (uint8_t)(1u << (next() % 8));
            }
            sealio_gcm_free(g);
        }
        LLVMFuzzerTestOneInput(buf, size);
        runs++;
    }
    printf("test_fuzz_smoke: %zu passed, 0 failed\n", runs);
    return 0;
}
