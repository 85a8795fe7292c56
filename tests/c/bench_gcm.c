/*
 * Micro-benchmark of the GCM kernels against OpenSSL's EVP AES-GCM in the
 * same process (not a ctest: the CMake glob only picks up test_*.c; it
 * needs libcrypto). Build and run from the repository root:
 *
 *   gcc -O3 -std=gnu11 -Icsrc/include -Icsrc tests/c/bench_gcm.c csrc/[a-z]*.c \
 *       -lcrypto -pthread -o /tmp/bench_gcm && /tmp/bench_gcm [aesni|vaes] [128|192|256]
 *
 * (-O3 as the Python build compiles the core, csrc/ffi_build.py.)
 *
 * For 16 KiB, 64 KiB and 1 MiB messages (no AAD) it times 101 rounds of
 * 2 MiB each, every round running sealio encrypt, sealio decrypt, OpenSSL
 * encrypt and OpenSSL decrypt one after another, and prints ns per byte
 * (median over rounds) and OpenSSL time / sealio time, the median of the
 * per-round ratios: on a shared machine load drifts between rounds but
 * hits both sides of one round alike. Above 1.0 sealio is faster.
 */
#define _POSIX_C_SOURCE 200809L
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sealio.h"

enum { ROUNDS = 101 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp);
    return v[n / 2];
}

static void ossl(EVP_CIPHER_CTX *e, const EVP_CIPHER *c, const uint8_t *key,
                 const uint8_t *nonce, const uint8_t *in, size_t n, uint8_t *out,
                 uint8_t tag[16], int enc) {
    int len = 0;
    if (!EVP_CipherInit_ex(e, c, NULL, key, nonce, enc) ||
        (!enc && !EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_GCM_SET_TAG, 16, tag)) ||
        !EVP_CipherUpdate(e, out, &len, in, (int)n) ||
        !EVP_CipherFinal_ex(e, out + len, &len) ||
        (enc && !EVP_CIPHER_CTX_ctrl(e, EVP_CTRL_GCM_GET_TAG, 16, tag)))
        abort();
}

int main(int argc, char **argv) {
    const int kernel = argc > 1 && strcmp(argv[1], "vaes") == 0 ? SEALIO_KERNEL_VAES
                                                                : SEALIO_KERNEL_AESNI;
    const int bits = argc > 2 ? atoi(argv[2]) : 256;
    const EVP_CIPHER *cipher = bits == 128 ? EVP_aes_128_gcm()
                               : bits == 192 ? EVP_aes_192_gcm()
                                             : EVP_aes_256_gcm();
    uint8_t key[32], nonce[12] = {1}, tag[16];
    for (int i = 0; i < 32; i++) key[i] = (uint8_t)(i * 7 + 1);
    int st = 0;
    sealio_gcm *g = sealio_gcm_new(key, (size_t)bits / 8, kernel, &st);
    if (g == NULL) {
        printf("kernel %s with AES-%d: status %d\n", sealio_kernel_name(kernel), bits, st);
        return 1;
    }
    EVP_CIPHER_CTX *e = EVP_CIPHER_CTX_new();
    printf("AES-%d-GCM, sealio kernel %s vs OpenSSL EVP (%s)\n", bits,
           sealio_kernel_name(kernel), OpenSSL_version(OPENSSL_VERSION));
    const size_t sizes[] = {16 << 10, 64 << 10, 1 << 20};
    for (size_t si = 0; si < sizeof sizes / sizeof *sizes; si++) {
        const size_t n = sizes[si], reps = (2u << 20) / n;
        uint8_t *in = malloc(n), *out = malloc(n), *ct = malloc(n), ctag[16];
        if (!in || !out || !ct) return 1;
        for (size_t i = 0; i < n; i++) in[i] = (uint8_t)i;
        (void)sealio_gcm_encrypt(g, nonce, NULL, 0, in, n, ct, ctag);
        static double t[4][ROUNDS], re[ROUNDS], rd[ROUNDS];
        for (int r = 0; r < ROUNDS; r++) {
            for (int w = 0; w < 4; w++) {
                const double t0 = now();
                for (size_t k = 0; k < reps; k++) {
                    if (w == 0) {
                        (void)sealio_gcm_encrypt(g, nonce, NULL, 0, in, n, out, tag);
                    } else if (w == 1) {
                        if (sealio_gcm_decrypt(g, nonce, NULL, 0, ct, n, ctag, out)) abort();
                    } else {
                        memcpy(tag, ctag, 16);
                        ossl(e, cipher, key, nonce, w == 2 ? in : ct, n, out, tag, w == 2);
                    }
                }
                t[w][r] = (now() - t0) / (double)(reps * n) * 1e9;
            }
            re[r] = t[2][r] / t[0][r];
            rd[r] = t[3][r] / t[1][r];
        }
        const double er = median(re, ROUNDS), dr = median(rd, ROUNDS);
        double m[4];
        for (int w = 0; w < 4; w++) m[w] = median(t[w], ROUNDS);
        printf("%8zu B  ns/B: sealio enc %.4f dec %.4f, OpenSSL enc %.4f dec %.4f;"
               "  OpenSSL/sealio: enc %.3fx dec %.3fx\n",
               n, m[0], m[1], m[2], m[3], er, dr);
        free(in), free(out), free(ct);
    }
    EVP_CIPHER_CTX_free(e);
    sealio_gcm_free(g);
    return 0;
}
