/*
 * Micro-benchmark of the CBC core (not a ctest: the CMake glob only picks
 * up test_*.c). Build and run from the repository root:
 *
 *   gcc -O2 -std=gnu11 -Icsrc/include -Icsrc tests/c/bench_cbc.c \
 *       csrc/cbc.c csrc/aes_key.c csrc/cpu.c csrc/util.c -o /tmp/bench_cbc \
 *       && /tmp/bench_cbc [KiB, default 1024]
 *
 * Reports GB/s (10^9 bytes per second), best of 5 runs of >= 0.2 s each,
 * for single-chain encryption, decryption per kernel, and multi-buffer
 * encryption with 8 and 16 chains sharing the total size (one key, and a
 * different key per chain), for AES-128 and AES-256.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sealio.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct {
    int what; /* 0 encrypt, 1 decrypt, 2 multi */
    sealio_cbc *ctx;
    sealio_cbc_job *jobs;
    size_t n_jobs;
    const uint8_t *iv, *in;
    uint8_t *out;
    size_t len;
} bench_case;

static void run_once(const bench_case *b) {
    int rc = 0;
    if (b->what == 0) rc = sealio_cbc_encrypt(b->ctx, b->iv, b->in, b->len, b->out);
    if (b->what == 1) rc = sealio_cbc_decrypt(b->ctx, b->iv, b->in, b->len, b->out);
    if (b->what == 2) rc = sealio_cbc_encrypt_multi(b->jobs, b->n_jobs, 0);
    if (rc) {
        fprintf(stderr, "call failed: %d\n", rc);
        exit(1);
    }
}

static double gbps(const bench_case *b) {
    double best = 0;
    for (int rep = 0; rep < 5; rep++) {
        size_t iters = 0;
        const double t0 = now();
        double t;
        do {
            run_once(b);
            iters++;
        } while ((t = now() - t0) < 0.2);
        const double r = (double)b->len * (double)iters / t / 1e9;
        if (r > best) best = r;
    }
    return best;
}

static void *page_alloc(size_t n) {
    void *p = NULL;
    if (posix_memalign(&p, 4096, n)) exit(1);
    memset(p, 0x42, n);
    return p;
}

int main(int argc, char **argv) {
    const size_t kib = argc > 1 ? (size_t)atoi(argv[1]) : 1024;
    const size_t len = kib << 10;
    uint8_t *in = page_alloc(len), *out = page_alloc(len);
    uint8_t iv[16] = {1}, key[32] = {2};
    static const int kernels[] = {SEALIO_KERNEL_AESNI, SEALIO_KERNEL_VAES};
    printf("sealio CBC, %zu KiB buffers, GB/s\n", kib);
    for (size_t klen = 16; klen <= 32; klen += 16) {
        for (int k = 0; k < 2; k++) {
            if (!sealio_kernel_available(kernels[k])) continue;
            int st;
            sealio_cbc *c = sealio_cbc_new(key, klen, kernels[k], &st);
            sealio_cbc *many[16];
            for (int i = 0; i < 16; i++) {
                key[31] = (uint8_t)i;
                many[i] = sealio_cbc_new(key, klen, kernels[k], &st);
            }
            const char *kn = sealio_kernel_name(kernels[k]);
            bench_case b = {0, c, NULL, 0, iv, in, out, len};
            printf("AES-%zu %-5s encrypt 1 chain      %6.2f\n", klen * 8, kn, gbps(&b));
            b.what = 1;
            printf("AES-%zu %-5s decrypt              %6.2f\n", klen * 8, kn, gbps(&b));
            for (size_t n = 8; n <= 16; n += 8) {
                for (int distinct = 0; distinct <= 1; distinct++) {
                    sealio_cbc_job jobs[16];
                    for (size_t i = 0; i < n; i++) {
                        jobs[i] = (sealio_cbc_job){distinct ? many[i] : c, iv,
                                                   in + i * (len / n), len / n,
                                                   out + i * (len / n), len / n, 0};
                    }
                    bench_case m = {2, NULL, jobs, n, NULL, NULL, NULL, len / n * n};
                    printf("AES-%zu %-5s encrypt %2zu chains %s %6.2f\n", klen * 8, kn,
                           n, distinct ? "(n keys)" : "(1 key) ", gbps(&m));
                }
            }
            sealio_cbc_free(c);
            for (int i = 0; i < 16; i++) sealio_cbc_free(many[i]);
        }
    }
    free(in);
    free(out);
    return 0;
}
