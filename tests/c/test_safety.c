/*
 * C unit tests of the core's defences (issue 12): every public entry point
 * refuses overlapping buffers with SEALIO_ERR_OVERLAP (exact in place
 * works and matches the out-of-place result), the segment batch works in
 * place, multi-buffer CBC refuses jobs whose outputs meet other jobs'
 * buffers, and key contexts sit on pages marked "dd" (excluded from core
 * dumps) in /proc/self/smaps on Linux. Prints "test_safety: N passed, M
 * failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealio.h"

static int passed, failed;

#define CHECK(cond, ...)                                         \
    do {                                                         \
        if (cond) {                                              \
            passed++;                                            \
        } else {                                                 \
            failed++;                                            \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fputc('\n', stderr);                                 \
        }                                                        \
    } while (0)

static const int KERNELS[] = {SEALIO_KERNEL_AESNI, SEALIO_KERNEL_VAES};

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

enum { MSG = 300, PAD = 64 };

/* GCM encrypt/decrypt with out = in + d for d in -17..17. */
static void test_gcm_overlap(int kernel) {
    uint8_t key[32], nonce[12], aad[20], pt[MSG], ref[MSG], tag[16], rtag[16];
    static uint8_t buf[MSG + 2 * PAD + 16];
    fill(key, sizeof key, 1), fill(nonce, sizeof nonce, 2), fill(aad, sizeof aad, 3);
    fill(pt, sizeof pt, 4);
    int st = 0;
    sealio_gcm *g = sealio_gcm_new(key, 32, kernel, &st);
    CHECK(g != NULL, "gcm_new %d", st);
    if (!g) return;
    CHECK(sealio_gcm_encrypt(g, nonce, aad, sizeof aad, pt, MSG, ref, rtag) == 0, "ref");
    for (int d = -17; d <= 17; d++) {
        uint8_t *in = buf + PAD, *out = buf + PAD + d;
        memcpy(in, pt, MSG);
        int rc = sealio_gcm_encrypt(g, nonce, aad, sizeof aad, in, MSG, out, tag);
        if (d == 0) {
            CHECK(rc == 0 && memcmp(out, ref, MSG) == 0 && memcmp(tag, rtag, 16) == 0,
                  "encrypt in place (kernel %d)", kernel);
        } else {
            CHECK(rc == SEALIO_ERR_OVERLAP && memcmp(in, pt, MSG) == 0,
                  "encrypt out=in%+d: rc %d (kernel %d)", d, rc, kernel);
        }
        memcpy(in, ref, MSG);
        rc = sealio_gcm_decrypt(g, nonce, aad, sizeof aad, in, MSG, rtag, out);
        if (d == 0) {
            CHECK(rc == 0 && memcmp(out, pt, MSG) == 0, "decrypt in place (kernel %d)", kernel);
        } else {
            CHECK(rc == SEALIO_ERR_OVERLAP && memcmp(in, ref, MSG) == 0,
                  "decrypt out=in%+d: rc %d (kernel %d)", d, rc, kernel);
        }
    }
    /* The output touching nonce, AAD or tag; an output tag over the input. */
    uint8_t *o = buf + PAD;
    CHECK(sealio_gcm_encrypt(g, o + 5, aad, sizeof aad, pt, MSG, o, tag) == SEALIO_ERR_OVERLAP,
          "nonce inside out");
    CHECK(sealio_gcm_encrypt(g, nonce, o + MSG - 1, 4, pt, MSG, o, tag) == SEALIO_ERR_OVERLAP,
          "aad inside out");
    CHECK(sealio_gcm_encrypt(g, nonce, aad, sizeof aad, o, MSG, o, o + MSG - 8) ==
              SEALIO_ERR_OVERLAP,
          "tag over in/out");
    CHECK(sealio_gcm_encrypt(g, nonce, o + MSG, 16, pt, MSG, ref, o + MSG + 8) ==
              SEALIO_ERR_OVERLAP,
          "tag over aad");
    CHECK(sealio_gcm_decrypt(g, nonce, aad, sizeof aad, ref, MSG, o + 3, o) ==
              SEALIO_ERR_OVERLAP,
          "decrypt tag inside out");
    CHECK(sealio_gcm_encrypt(g, nonce, aad, sizeof aad, pt, MSG, o, o + MSG) == 0,
          "adjacent tag ok");
    sealio_gcm_free(g);
}

/* Segment batches: in place equals out of place; partial overlap refused. */
static void test_segments_in_place(int kernel) {
    enum { SEG = 100, N = 7, PLEN = SEG * (N - 1) + 37, SLEN = PLEN + 16 * N };
    uint8_t key[32], prefix[7], aad[5];
    static uint8_t pt[PLEN], ref[SLEN], buf[SLEN + 64], back[PLEN];
    fill(key, sizeof key, 5), fill(prefix, 7, 6), fill(aad, 5, 7), fill(pt, PLEN, 8);
    int st = 0;
    sealio_gcm *g = sealio_gcm_new(key, 32, kernel, &st);
    if (!g) return;
    for (unsigned threads = 1; threads <= 4; threads += 3) {
        sealio_segments p = {SEG, NULL, prefix, 9, 1, aad, sizeof aad, threads};
        CHECK(sealio_gcm_seal_segments(g, &p, pt, PLEN, ref, SLEN) == 0, "seal ref");
        memcpy(buf, pt, PLEN);
        CHECK(sealio_gcm_seal_segments(g, &p, buf, PLEN, buf, SLEN) == 0 &&
                  memcmp(buf, ref, SLEN) == 0,
              "seal in place (kernel %d, threads %u)", kernel, threads);
        size_t n = 0, bad = 0;
        CHECK(sealio_gcm_open_segments(g, &p, buf, SLEN, buf, SLEN, &n, &bad) == 0 &&
                  n == PLEN && memcmp(buf, pt, PLEN) == 0,
              "open in place (kernel %d, threads %u)", kernel, threads);
        /* A forged segment in place: IntegrityError, no plaintext anywhere. */
        memcpy(buf, ref, SLEN);
        buf[3 * (SEG + 16) + 5] ^= 1;
        CHECK(sealio_gcm_open_segments(g, &p, buf, SLEN, buf, SLEN, &n, &bad) ==
                  SEALIO_ERR_AUTH && bad == 3,
              "forged open in place");
        int leak = 0;
        for (size_t i = 0; i < SLEN; i++)
            for (size_t s = 0; s + 16 <= PLEN && !leak; s += SEG)
                leak |= i + 16 <= SLEN && memcmp(buf + i, pt + s, 16) == 0;
        CHECK(!leak, "no plaintext left after a forged in-place open");
        for (int d = -17; d <= 17; d++) {
            if (d == 0) continue;
            uint8_t *in = buf + 32, *out = buf + 32 + d;
            memcpy(in, pt, PLEN);
            CHECK(sealio_gcm_seal_segments(g, &p, in, PLEN, out, SLEN) == SEALIO_ERR_OVERLAP,
                  "seal out=in%+d", d);
        }
        CHECK(sealio_gcm_open_segments(g, &p, ref, SLEN, back, PLEN, &n, &bad) == 0 &&
                  memcmp(back, pt, PLEN) == 0,
              "open out of place");
        for (int d = -17; d <= 17; d++) {
            if (d == 0) continue;
            enum { WHOLE = 3 * (SEG + 16) };
            uint8_t *in = buf + 32, *out = buf + 32 + d;
            memcpy(in, ref, WHOLE);
            CHECK(sealio_gcm_open_segments(g, &p, in, WHOLE, out, 3 * SEG, &n, &bad) ==
                      SEALIO_ERR_OVERLAP,
                  "open out=in%+d", d);
        }
        sealio_segments pp = {SEG, NULL, buf + 10, 0, 1, NULL, 0, threads};
        CHECK(sealio_gcm_seal_segments(g, &pp, pt, PLEN, buf, SLEN) == SEALIO_ERR_OVERLAP,
              "seal output over the prefix");
        sealio_segments q = {SEG, NULL, prefix, 0, 1, ref + 20, 4, threads};
        CHECK(sealio_gcm_seal_segments(g, &q, pt, PLEN, ref, SLEN) == SEALIO_ERR_OVERLAP,
              "seal output over the AAD");
        uint8_t nonces[12 * N];
        fill(nonces, sizeof nonces, 9);
        sealio_segments r = {SEG, buf + 40, NULL, 0, 1, NULL, 0, threads};
        CHECK(sealio_gcm_seal_segments(g, &r, pt, PLEN, buf, SLEN) == SEALIO_ERR_OVERLAP,
              "seal output over the nonces");
    }
    sealio_gcm_free(g);
}

static void test_cbc_multi_cross(int kernel) {
    uint8_t key[32], iv[16];
    static uint8_t buf[4096], in[3][64];
    fill(key, 32, 10), fill(iv, 16, 11), fill((uint8_t *)in, sizeof in, 12);
    int st = 0;
    sealio_cbc *c = sealio_cbc_new(key, 32, kernel, &st);
    if (!c) return;
    for (int pad = 0; pad <= 1; pad++) {
        const size_t ol = pad ? 80 : 64;
        for (int which = 0; which < 5; which++) {
            sealio_cbc_job j[3];
            for (int i = 0; i < 3; i++)
                j[i] = (sealio_cbc_job){c, iv, in[i], 64, buf + 200 * (size_t)i, 80, 0};
            int want = SEALIO_ERR_OVERLAP;
            switch (which) {
            case 0: j[2].out = buf + 200 + ol - 1; break;        /* outputs meet */
            case 1: j[1].in = buf + 8; break;                    /* input under job 0's out */
            case 2: j[2].iv = buf + 210; break;                  /* IV under job 1's out */
            case 3: memcpy(buf + 600, in[1], 64); j[1].in = j[1].out = buf + 600; /* in place */
                want = SEALIO_OK; break;
            default: j[0].in = j[2].in; want = SEALIO_OK; break; /* shared input */
            }
            const int rc = sealio_cbc_encrypt_multi(j, 3, pad);
            CHECK(rc == want, "multi cross case %d pad %d: rc %d (kernel %d)", which, pad, rc,
                  kernel);
        }
    }
    sealio_cbc_free(c);
}

/* VmFlags of the /proc/self/smaps mapping that contains `addr`, or "". */
static void vmflags_of(const void *addr, char *flags, size_t cap) {
    flags[0] = 0;
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f) return;
    char line[512];
    int inside = 0;
    const unsigned long a = (unsigned long)(uintptr_t)addr;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' ')) {
            inside = lo <= a && a < hi;
        } else if (inside && strncmp(line, "VmFlags:", 8) == 0) {
            snprintf(flags, cap, "%s", line + 8);
            break;
        }
    }
    fclose(f);
}

static void test_dontdump(void) {
#if defined(__linux__)
    CHECK(sealio_contexts_dontdump() == 1, "Linux build marks contexts DONTDUMP");
    if (sealio_kernel_best() == 0) { /* no native kernel (portable build, no AES-NI): no contexts */
        printf("test_dontdump: skipped, no native kernel on this build/CPU\n");
        return;
    }
    uint8_t key[32] = {1};
    int st = 0;
    sealio_gcm *g = sealio_gcm_new(key, 32, SEALIO_KERNEL_AUTO, &st);
    sealio_cbc *c = sealio_cbc_new(key, 32, SEALIO_KERNEL_AUTO, &st);
    char flags[256];
    vmflags_of(g, flags, sizeof flags);
    CHECK(strstr(flags, " dd") != NULL, "GCM context not excluded from dumps: [%s]", flags);
    vmflags_of(c, flags, sizeof flags);
    CHECK(strstr(flags, " dd") != NULL, "CBC context not excluded from dumps: [%s]", flags);
    CHECK(((uintptr_t)g & 4095) == 0 && ((uintptr_t)c & 4095) == 0, "page-aligned contexts");
    /* A heap block is not marked: the check above means something. */
    void *heap = malloc(64);
    vmflags_of(heap, flags, sizeof flags);
    CHECK(flags[0] && strstr(flags, " dd") == NULL, "heap unexpectedly dd: [%s]", flags);
    free(heap);
    sealio_gcm_free(g);
    sealio_cbc_free(c);
#else
    CHECK(sealio_contexts_dontdump() == 0, "no DONTDUMP off Linux");
#endif
}

int main(void) {
    test_dontdump();
    for (size_t k = 0; k < sizeof KERNELS / sizeof *KERNELS; k++) {
        if (!sealio_kernel_available(KERNELS[k])) continue;
        test_gcm_overlap(KERNELS[k]);
        test_segments_in_place(KERNELS[k]);
        test_cbc_multi_cross(KERNELS[k]);
    }
    printf("test_safety: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
