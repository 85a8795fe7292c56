/*
 * C unit tests of the GCM core: published vectors (McGrew & Viega test
 * cases 13/14), a chained known-answer test whose expected tags were
 * computed with OpenSSL (pyca/cryptography) — every message length
 * 0..1099 with AAD lengths 0..40 feeds the next — cross-kernel equality,
 * tamper rejection with zeroed output, in-place use, and the segment batch
 * API (serial and threaded). Prints "test_gcm: N passed, M failed".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sealio.h"

static int passed, failed;

#define CHECK(cond, ...)                                   \
    do {                                                   \
        if (cond) {                                        \
            passed++;                                      \
        } else {                                           \
            failed++;                                      \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                  \
            fputc('\n', stderr);                           \
        }                                                  \
    } while (0)

static void unhex(const char *h, uint8_t *out) {
    for (size_t i = 0; h[2 * i]; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

static const int KERNELS[] = {SEALIO_KERNEL_AESNI, SEALIO_KERNEL_VAES};

static sealio_gcm *make(const uint8_t *key, size_t len, int kernel) {
    int st = 0;
    sealio_gcm *g = sealio_gcm_new(key, len, kernel, &st);
    if (!g) fprintf(stderr, "sealio_gcm_new failed: %d\n", st);
    return g;
}

static void test_published(int kernel) {
    uint8_t key[32] = {0}, nonce[12] = {0}, pt[16] = {0}, ct[16], tag[16], exp[32];
    sealio_gcm *g = make(key, 32, kernel);
    CHECK(sealio_gcm_encrypt(g, nonce, NULL, 0, NULL, 0, ct, tag) == 0, "tc13 rc");
    unhex("530f8afbc74536b9a963b4f1c4cb738b", exp);
    CHECK(memcmp(tag, exp, 16) == 0, "tc13 tag (kernel %d)", kernel);
    CHECK(sealio_gcm_encrypt(g, nonce, NULL, 0, pt, 16, ct, tag) == 0, "tc14 rc");
    unhex("cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919", exp);
    CHECK(memcmp(ct, exp, 16) == 0 && memcmp(tag, exp + 16, 16) == 0,
          "tc14 (kernel %d)", kernel);
    sealio_gcm_free(g);
}

static void test_chain(int kernel, size_t keylen, const char *expect_hex) {
    uint8_t buf[2048], key[32], nonce[12], tag[16] = {0}, exp[16];
    for (size_t i = 0; i < sizeof buf; i++) buf[i] = (uint8_t)(i * 7 + 3);
    for (size_t i = 0; i < keylen; i++) key[i] = (uint8_t)(i + 1);
    for (size_t i = 0; i < 12; i++) nonce[i] = (uint8_t)(0xa0 + i);
    sealio_gcm *g = make(key, keylen, kernel);
    uint8_t aad[64];
    for (size_t len = 0; len < 1100; len++) {
        const size_t alen = len % 41;
        memcpy(aad, buf, alen);
        int rc = sealio_gcm_encrypt(g, nonce, aad, alen, buf, len, buf, tag);
        if (rc != 0) { CHECK(0, "chain rc %d", rc); break; }
        for (size_t j = 0; j < 16; j++) buf[len + j] ^= tag[j];
        nonce[len % 12] ^= tag[0];
    }
    unhex(expect_hex, exp);
    CHECK(memcmp(tag, exp, 16) == 0, "chain kernel %d key %zu", kernel, keylen);
    sealio_gcm_free(g);
}

static void fill(uint8_t *p, size_t n, uint32_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

static void test_cross_kernel_and_tamper(void) {
    enum { MAX = 1200 };
    static uint8_t pt[MAX], aad[64], c1[MAX], c2[MAX], back[MAX];
    uint8_t key[32], nonce[12], t1[16], t2[16];
    fill(key, 32, 1);
    fill(nonce, 12, 2);
    fill(aad, sizeof aad, 3);
    fill(pt, MAX, 4);
    sealio_gcm *a = make(key, 32, SEALIO_KERNEL_AESNI);
    sealio_gcm *v = make(key, 32, SEALIO_KERNEL_VAES);
    int mism = 0, bad_rt = 0, bad_tamper = 0;
    for (size_t len = 0; len < MAX; len += (len < 600 ? 1 : 37)) {
        size_t alen = len % 53;
        if (sealio_gcm_encrypt(a, nonce, aad, alen, pt, len, c1, t1) ||
            sealio_gcm_encrypt(v, nonce, aad, alen, pt, len, c2, t2) ||
            memcmp(c1, c2, len) || memcmp(t1, t2, 16))
            mism++;
        if (sealio_gcm_decrypt(v, nonce, aad, alen, c1, len, t1, back) ||
            memcmp(back, pt, len))
            bad_rt++;
        t1[len % 16] ^= 0x40;
        memset(back, 0xee, len);
        int rc = sealio_gcm_decrypt(a, nonce, aad, alen, c1, len, t1, back);
        for (size_t i = 0; i < len; i++)
            if (back[i]) { rc = 99; break; }
        if (rc != SEALIO_ERR_AUTH) bad_tamper++;
    }
    CHECK(mism == 0, "aesni and vaes kernels disagree on %d lengths", mism);
    CHECK(bad_rt == 0, "round trip failed on %d lengths", bad_rt);
    CHECK(bad_tamper == 0, "tampered tag accepted or output not zeroed (%d)", bad_tamper);
    /* In place: encrypt then decrypt in the same buffer. */
    memcpy(back, pt, 777);
    CHECK(sealio_gcm_encrypt(v, nonce, NULL, 0, back, 777, back, t1) == 0, "inplace enc");
    CHECK(sealio_gcm_decrypt(a, nonce, NULL, 0, back, 777, t1, back) == 0 &&
              memcmp(back, pt, 777) == 0, "inplace dec");
    sealio_gcm_free(a);
    sealio_gcm_free(v);
}

/*
 * vaes against aesni on every key size, on lengths of 1 to 17 vaes
 * iterations (256 bytes) and a few bytes either side, with unaligned and
 * in-place buffers: the stitched vaes loop hashes each pair of blocks
 * during the AES rounds (decrypt its own input, encrypt the previous
 * iteration's output, the last one after the loop).
 */
static void test_cross_kernel_strides(void) {
    enum { MAX = 17 * 256 + 64 };
    static uint8_t pt[MAX + 8], c1[MAX + 8], c2[MAX + 8], buf[MAX + 8];
    static const int deltas[] = {-17, -16, -1, 0, 1, 15, 16, 17};
    uint8_t key[32], nonce[12], aad[40], t1[16], t2[16], t3[16];
    fill(key, 32, 21);
    fill(nonce, 12, 22);
    fill(aad, sizeof aad, 23);
    fill(pt, sizeof pt, 24);
    int mism = 0, bad_dec = 0, bad_inplace = 0;
    for (size_t kl = 16; kl <= 32; kl += 8) {
        sealio_gcm *a = make(key, kl, SEALIO_KERNEL_AESNI);
        sealio_gcm *v = make(key, kl, SEALIO_KERNEL_VAES);
        for (size_t it = 1; it <= 17; it++) {
            for (size_t d = 0; d < sizeof deltas / sizeof *deltas; d++) {
                const size_t len = (size_t)((long)(256 * it) + deltas[d]);
                const size_t alen = (it * 7 + d) % sizeof aad;
                const uint8_t *in = pt + (it % 4); /* unaligned input */
                uint8_t *out = c2 + 3;             /* unaligned output */
                if (sealio_gcm_encrypt(a, nonce, aad, alen, in, len, c1, t1) ||
                    sealio_gcm_encrypt(v, nonce, aad, alen, in, len, out, t2) ||
                    memcmp(c1, out, len) || memcmp(t1, t2, 16))
                    mism++;
                if (sealio_gcm_decrypt(v, nonce, aad, alen, c1, len, t1, buf + 1) ||
                    memcmp(buf + 1, in, len))
                    bad_dec++;
                memcpy(buf + 5, in, len);
                if (sealio_gcm_encrypt(v, nonce, aad, alen, buf + 5, len, buf + 5, t3) ||
                    memcmp(buf + 5, c1, len) || memcmp(t3, t1, 16) ||
                    sealio_gcm_decrypt(v, nonce, aad, alen, buf + 5, len, t1, buf + 5) ||
                    memcmp(buf + 5, in, len))
                    bad_inplace++;
            }
        }
        sealio_gcm_free(a);
        sealio_gcm_free(v);
    }
    CHECK(mism == 0, "vaes differs from aesni on %d stride lengths", mism);
    CHECK(bad_dec == 0, "vaes decrypt failed on %d stride lengths", bad_dec);
    CHECK(bad_inplace == 0, "vaes in place failed on %d stride lengths", bad_inplace);
}

static void test_args(void) {
    uint8_t key[32] = {0}, n[12] = {0}, t[16], o[16];
    int st = 0;
    CHECK(sealio_gcm_new(key, 31, SEALIO_KERNEL_AUTO, &st) == NULL && st == SEALIO_ERR_ARG, "key len");
    CHECK(sealio_gcm_new(key, 32, 77, &st) == NULL && st == SEALIO_ERR_ARG, "bad kernel");
    sealio_gcm *g = make(key, 16, SEALIO_KERNEL_AUTO);
    CHECK(sealio_gcm_encrypt(g, NULL, NULL, 0, NULL, 0, o, t) == SEALIO_ERR_ARG, "null nonce");
    CHECK(sealio_gcm_encrypt(g, n, NULL, 3, NULL, 0, o, t) == SEALIO_ERR_ARG, "null aad");
    CHECK(sealio_gcm_encrypt(g, n, NULL, 0, NULL, 5, o, t) == SEALIO_ERR_ARG, "null in");
    sealio_gcm_free(g);
    sealio_gcm_free(NULL);
    CHECK(sealio_segments_sealed_len(0, 4096) == 16, "empty batch");
    CHECK(sealio_segments_sealed_len(4096, 4096) == 4112, "one segment");
    CHECK(sealio_segments_sealed_len(4097, 4096) == 4129, "two segments");
    CHECK(sealio_segments_sealed_len(1, 0) == 0, "zero segment size");
}

static void test_segments(int kernel) {
    enum { SEG = 1000, N = 37, PLEN = SEG * (N - 1) + 123 };
    static uint8_t pt[PLEN], sealed[PLEN + 16 * N], back[PLEN], one[SEG + 16];
    uint8_t key[32], prefix[7];
    fill(key, 32, 9);
    fill(prefix, 7, 10);
    fill(pt, PLEN, 11);
    sealio_gcm *g = make(key, 32, kernel);
    for (unsigned threads = 0; threads <= 3; threads++) {
        sealio_segments p = {SEG, NULL, prefix, 5, 1, NULL, 0, threads};
        size_t need = sealio_segments_sealed_len(PLEN, SEG), got = 0, bad = 0;
        CHECK(need == sizeof sealed, "sealed len");
        CHECK(sealio_gcm_seal_segments(g, &p, pt, PLEN, sealed, sizeof sealed) == 0, "seal");
        /* Each segment equals a one-shot GCM with the STREAM nonce. */
        int seg_ok = 1;
        for (size_t i = 0; i < N; i++) {
            size_t len = i + 1 < N ? SEG : PLEN - i * SEG;
            uint8_t nonce[12];
            memcpy(nonce, prefix, 7);
            uint32_t idx = 5 + (uint32_t)i;
            nonce[7] = (uint8_t)(idx >> 24), nonce[8] = (uint8_t)(idx >> 16);
            nonce[9] = (uint8_t)(idx >> 8), nonce[10] = (uint8_t)idx;
            nonce[11] = i + 1 == N;
            if (sealio_gcm_encrypt(g, nonce, NULL, 0, pt + i * SEG, len, one, one + len) ||
                memcmp(one, sealed + i * (SEG + 16), len + 16))
                seg_ok = 0;
        }
        CHECK(seg_ok, "segment != one-shot with STREAM nonce (threads %u)", threads);
        CHECK(sealio_gcm_open_segments(g, &p, sealed, sizeof sealed, back, sizeof back, &got, &bad) == 0 &&
                  got == PLEN && memcmp(back, pt, PLEN) == 0, "open (threads %u)", threads);
        sealed[20 * (SEG + 16) + 3] ^= 1;
        int rc = sealio_gcm_open_segments(g, &p, sealed, sizeof sealed, back, sizeof back, &got, &bad);
        int zero = 1;
        for (size_t i = 0; i < PLEN; i++) zero &= back[i] == 0;
        CHECK(rc == SEALIO_ERR_AUTH && bad == 20 && zero, "tamper seg 20 (threads %u): rc %d bad %zu", threads, rc, bad);
        sealed[20 * (SEG + 16) + 3] ^= 1;
        p.final = 0; /* the last segment is authenticated as final */
        rc = sealio_gcm_open_segments(g, &p, sealed, sizeof sealed, back, sizeof back, &got, &bad);
        CHECK(rc == SEALIO_ERR_ARG, "short non-final batch refused");
        rc = sealio_gcm_open_segments(g, &p, sealed, (N - 1) * (SEG + 16), back, sizeof back, &got, &bad);
        CHECK(rc == 0 && got == (N - 1) * SEG, "non-final prefix batch opens");
        p.final = 1;
        rc = sealio_gcm_open_segments(g, &p, sealed, (N - 1) * (SEG + 16), back, sizeof back, &got, &bad);
        CHECK(rc == SEALIO_ERR_AUTH && bad == N - 2, "truncated stream detected");
    }
    sealio_gcm_free(g);
}

/* sealio_gcm_seal / sealio_gcm_open (tag next to the data, lengths checked). */
static void test_seal_open(int kernel) {
    enum { LEN = 300 };
    static uint8_t pt[LEN], ct[LEN], sealed[LEN + 16 + 8], back[LEN + 8];
    uint8_t key[32], nonce[12], aad[5], tag[16];
    fill(key, 32, 21);
    fill(nonce, 12, 22);
    fill(aad, 5, 23);
    fill(pt, LEN, 24);
    sealio_gcm *g = make(key, 32, kernel);
    CHECK(sealio_gcm_encrypt(g, nonce, aad, 5, pt, LEN, ct, tag) == 0, "reference");
    memset(sealed, 0xaa, sizeof sealed);
    CHECK(sealio_gcm_seal(g, nonce, 12, aad, 5, pt, LEN, sealed, LEN + 16) == 0 &&
              memcmp(sealed, ct, LEN) == 0 && memcmp(sealed + LEN, tag, 16) == 0 &&
              sealed[LEN + 16] == 0xaa, "seal == encrypt || tag (kernel %d)", kernel);
    CHECK(sealio_gcm_open(g, nonce, 12, aad, 5, sealed, LEN + 16, back, LEN) == 0 &&
              memcmp(back, pt, LEN) == 0, "open round trip (kernel %d)", kernel);
    /* Bad lengths: SEALIO_ERR_ARG and nothing written. */
    uint8_t untouched[LEN + 16];
    memset(untouched, 0x5c, sizeof untouched);
    memcpy(back, untouched, LEN);
    CHECK(sealio_gcm_seal(g, nonce, 11, aad, 5, pt, LEN, back, LEN + 16) == SEALIO_ERR_ARG &&
              sealio_gcm_seal(g, nonce, 13, aad, 5, pt, LEN, back, LEN + 16) == SEALIO_ERR_ARG &&
              sealio_gcm_seal(g, nonce, 12, aad, 5, pt, LEN - 15, back, LEN) == SEALIO_ERR_ARG &&
              sealio_gcm_seal(g, nonce, 12, aad, 5, pt, 0, NULL, 16) == SEALIO_ERR_ARG &&
              memcmp(back, untouched, LEN) == 0, "seal refuses bad lengths");
    CHECK(sealio_gcm_open(g, nonce, 12, aad, 5, sealed, 15, back, LEN) == SEALIO_ERR_ARG &&
              sealio_gcm_open(g, nonce, 11, aad, 5, sealed, LEN + 16, back, LEN) == SEALIO_ERR_ARG &&
              sealio_gcm_open(g, nonce, 12, aad, 5, sealed, LEN + 16, back, LEN - 1) == SEALIO_ERR_ARG &&
              sealio_gcm_open(g, nonce, 12, aad, 5, NULL, 16, back, LEN) == SEALIO_ERR_ARG &&
              memcmp(back, untouched, LEN) == 0, "open refuses bad lengths");
    /* Empty message: the tag alone; open writes nothing. */
    CHECK(sealio_gcm_seal(g, nonce, 12, NULL, 0, NULL, 0, sealed, 16) == 0 &&
              sealio_gcm_open(g, nonce, 12, NULL, 0, sealed, 16, NULL, 0) == 0, "empty message");
    /* A bad tag zeroes the output. */
    CHECK(sealio_gcm_seal(g, nonce, 12, aad, 5, pt, LEN, sealed, LEN + 16) == 0, "reseal");
    sealed[LEN + 3] ^= 1;
    memset(back, 0xee, LEN);
    int rc = sealio_gcm_open(g, nonce, 12, aad, 5, sealed, LEN + 16, back, LEN);
    int zero = 1;
    for (size_t i = 0; i < LEN; i++) zero &= back[i] == 0;
    CHECK(rc == SEALIO_ERR_AUTH && zero, "open of a bad tag: rc %d", rc);
    sealed[LEN + 3] ^= 1;
    /* Overlap: exact in place works; the tag may not land on the input. */
    memcpy(sealed, pt, LEN);
    CHECK(sealio_gcm_seal(g, nonce, 12, aad, 5, sealed, LEN, sealed, LEN + 16) == 0 &&
              memcmp(sealed + LEN, tag, 16) == 0, "seal in place");
    CHECK(sealio_gcm_open(g, nonce, 12, aad, 5, sealed, LEN + 16, sealed, LEN) == 0 &&
              memcmp(sealed, pt, LEN) == 0, "open in place");
    CHECK(sealio_gcm_seal(g, nonce, 12, aad, 5, sealed + 8, LEN, sealed, LEN + 16) ==
              SEALIO_ERR_OVERLAP, "seal output 8 bytes before its input");
    CHECK(sealio_gcm_seal(g, nonce, 12, aad, 5, sealed, LEN, sealed + 1, LEN + 16) ==
              SEALIO_ERR_OVERLAP, "seal output 1 byte after its input");
    CHECK(sealio_gcm_open(g, nonce, 12, aad, 5, sealed, LEN + 16, sealed + 4, LEN) ==
              SEALIO_ERR_OVERLAP, "open output over its input");
    CHECK(sealio_gcm_seal(g, sealed + 20, 12, aad, 5, pt, LEN, sealed, LEN + 16) ==
              SEALIO_ERR_OVERLAP, "seal output over the nonce");
    sealio_gcm_free(g);
}

/*
 * Exact in place gives what a separate output gives, on every key size
 * and on lengths around the bulk strides (8 blocks for aesni, 16 for
 * vaes): the stitched loops hash ciphertext from the buffer they write.
 */
static void test_in_place_lengths(int kernel) {
    enum { MAX = 2200 };
    static uint8_t pt[MAX], ct[MAX], buf[MAX];
    uint8_t key[32], nonce[12], aad[20], t1[16], t2[16];
    fill(key, 32, 11);
    fill(nonce, 12, 12);
    fill(aad, sizeof aad, 13);
    fill(pt, MAX, 14);
    int bad = 0;
    for (size_t kl = 16; kl <= 32; kl += 8) {
        sealio_gcm *g = make(key, kl, kernel);
        for (size_t n = 2; n < MAX; n++) {
            /* 128k-2 .. 128k+17: each side of every stride, and the tails. */
            if (n % 128 >= 20) continue;
            const size_t len = n - 2;
            memcpy(buf, pt, len);
            if (sealio_gcm_encrypt(g, nonce, aad, len % 21, pt, len, ct, t1) ||
                sealio_gcm_encrypt(g, nonce, aad, len % 21, buf, len, buf, t2) ||
                memcmp(ct, buf, len) || memcmp(t1, t2, 16) ||
                sealio_gcm_decrypt(g, nonce, aad, len % 21, buf, len, t1, buf) ||
                memcmp(buf, pt, len))
                bad++;
        }
        sealio_gcm_free(g);
    }
    CHECK(bad == 0, "in place differs from out of place on %d lengths (kernel %d)", bad,
          kernel);
}

int main(void) {
    test_args();
    for (size_t k = 0; k < sizeof KERNELS / sizeof *KERNELS; k++) {
        if (!sealio_kernel_available(KERNELS[k])) {
            printf("kernel %s not available: skipped\n", sealio_kernel_name(KERNELS[k]));
            continue;
        }
        test_published(KERNELS[k]);
        test_chain(KERNELS[k], 16, "bc1a758b4b1a40195949c27401d73bfc");
        test_chain(KERNELS[k], 24, "ac03ad4ddf1140b537e5da58a0eed131");
        test_chain(KERNELS[k], 32, "1f8cd54249c441755f57c04e8a9ae400");
        test_segments(KERNELS[k]);
        test_seal_open(KERNELS[k]);
        test_in_place_lengths(KERNELS[k]);
    }
    if (sealio_kernel_available(SEALIO_KERNEL_VAES)) {
        test_cross_kernel_and_tamper();
        test_cross_kernel_strides();
    }
    printf("test_gcm: %d passed, %d failed\n", passed, failed);
    return failed != 0;
}
