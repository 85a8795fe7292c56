/*
 * C unit tests of the CBC core: NIST SP 800-38A F.2.1-F.2.6 vectors, round
 * trips against a block-at-a-time reference (sealio_aes_encrypt_block) at
 * many lengths, in place and out of place, PKCS#7 round trips and
 * constant-time rejection of bad padding (output zeroed), argument checks,
 * multi-buffer encryption with mixed lengths, key sizes and kernels against
 * single chains, cross-kernel equality and concurrent use of one context.
 * Runs every kernel the CPU has. Prints "test_cbc: N passed, M failed".
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
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

static void unhex(const char *h, uint8_t *out) {
    for (size_t i = 0; h[2 * i]; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

/* xorshift64* — deterministic test data. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}
static void fill(uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(rnd() >> 56);
}
static size_t below(size_t n) { return (size_t)(rnd() % n); }

static int kernels[2], n_kernels;

static sealio_cbc *make(const uint8_t *key, size_t len, int kernel) {
    int st = 1;
    sealio_cbc *c = sealio_cbc_new(key, len, kernel, &st);
    if (!c || st != SEALIO_OK)
        fprintf(stderr, "sealio_cbc_new(%zu, %d) failed: %d\n", len, kernel, st);
    return c;
}

/* Reference CBC encryption, one block at a time. */
static void ref_encrypt(const uint8_t *key, size_t klen, const uint8_t *iv,
                        const uint8_t *in, size_t len, uint8_t *out) {
    aes_schedule s;
    uint8_t x[16], chain[16];
    sealio_aes_expand_enc(&s, key, klen);
    memcpy(chain, iv, 16);
    for (size_t i = 0; i < len; i += 16) {
        for (int j = 0; j < 16; j++) x[j] = in[i + j] ^ chain[j];
        sealio_aes_encrypt_block(&s, x, chain);
        memcpy(out + i, chain, 16);
    }
}

/* Reference PKCS#7 encryption; returns the ciphertext length. */
static size_t ref_encrypt_pad(const uint8_t *key, size_t klen,
                              const uint8_t *iv, const uint8_t *in, size_t len,
                              uint8_t *out) {
    const size_t total = len / 16 * 16 + 16;
    uint8_t *tmp = malloc(total);
    if (len) memcpy(tmp, in, len);
    memset(tmp + len, (int)(total - len), total - len);
    ref_encrypt(key, klen, iv, tmp, total, out);
    free(tmp);
    return total;
}

/* ------------------------------------------------------ NIST SP 800-38A */

static const char NIST_PT[] =
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
    "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710";
static const struct {
    const char *name, *key, *ct;
} NIST[] = {
    {"F.2.1/F.2.2 CBC-AES128", "2b7e151628aed2a6abf7158809cf4f3c",
     "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
     "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7"},
    {"F.2.3/F.2.4 CBC-AES192",
     "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
     "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
     "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd"},
    {"F.2.5/F.2.6 CBC-AES256",
     "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
     "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
     "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"},
};

static void test_nist(int kernel) {
    uint8_t pt[64], ct[64], iv[16], key[32], buf[64];
    unhex(NIST_PT, pt);
    for (int i = 0; i < 16; i++) iv[i] = (uint8_t)i;
    for (size_t v = 0; v < sizeof NIST / sizeof NIST[0]; v++) {
        const size_t klen = strlen(NIST[v].key) / 2;
        unhex(NIST[v].key, key);
        unhex(NIST[v].ct, ct);
        sealio_cbc *c = make(key, klen, kernel);
        if (!c) {
            failed++;
            continue;
        }
        CHECK(sealio_cbc_encrypt(c, iv, pt, 64, buf) == 0 &&
                  memcmp(buf, ct, 64) == 0,
              "%s encrypt (kernel %d)", NIST[v].name, kernel);
        CHECK(sealio_cbc_decrypt(c, iv, ct, 64, buf) == 0 &&
                  memcmp(buf, pt, 64) == 0,
              "%s decrypt (kernel %d)", NIST[v].name, kernel);
        memcpy(buf, pt, 64);
        CHECK(sealio_cbc_encrypt(c, iv, buf, 64, buf) == 0 &&
                  memcmp(buf, ct, 64) == 0,
              "%s encrypt in place (kernel %d)", NIST[v].name, kernel);
        CHECK(sealio_cbc_decrypt(c, iv, buf, 64, buf) == 0 &&
                  memcmp(buf, pt, 64) == 0,
              "%s decrypt in place (kernel %d)", NIST[v].name, kernel);
        /* Decrypting from block 2 on with C_1 as the IV. */
        CHECK(sealio_cbc_decrypt(c, ct + 16, ct + 32, 32, buf) == 0 &&
                  memcmp(buf, pt + 32, 32) == 0,
              "%s decrypt suffix (kernel %d)", NIST[v].name, kernel);
        sealio_cbc_free(c);
    }
}

/* ---------------------------------------------------------- round trips */

static void test_roundtrip(int kernel) {
    static const size_t extra[] = {63, 64, 65, 127, 128, 129, 1000, 1007, 4099};
    const size_t maxb = 4099;
    uint8_t *pt = malloc(maxb * 16), *exp = malloc(maxb * 16);
    uint8_t *raw = malloc(maxb * 16 + 1), *buf = raw + 1; /* unaligned */
    for (size_t klen = 16; klen <= 32; klen += 8) {
        uint8_t key[32], iv[16];
        fill(key, klen);
        sealio_cbc *c = make(key, klen, kernel);
        if (!c) {
            failed++;
            continue;
        }
        int bad_enc = 0, bad_dec = 0, bad_ip = 0;
        for (size_t t = 1; t <= 40 + sizeof extra / sizeof extra[0]; t++) {
            const size_t nb = t <= 40 ? t : extra[t - 41], len = nb * 16;
            fill(pt, len);
            fill(iv, 16);
            ref_encrypt(key, klen, iv, pt, len, exp);
            /* Out of place. */
            memset(buf, 0xa5, len);
            bad_enc += sealio_cbc_encrypt(c, iv, pt, len, buf) != 0 ||
                       memcmp(buf, exp, len) != 0;
            memset(buf, 0xa5, len);
            bad_dec += sealio_cbc_decrypt(c, iv, exp, len, buf) != 0 ||
                       memcmp(buf, pt, len) != 0;
            /* In place, both directions. */
            memcpy(buf, pt, len);
            bad_ip += sealio_cbc_encrypt(c, iv, buf, len, buf) != 0 ||
                      memcmp(buf, exp, len) != 0;
            bad_ip += sealio_cbc_decrypt(c, iv, buf, len, buf) != 0 ||
                      memcmp(buf, pt, len) != 0;
        }
        CHECK(!bad_enc, "encrypt vs reference: %d bad (kernel %d, key %zu)",
              bad_enc, kernel, klen);
        CHECK(!bad_dec, "decrypt round trip: %d bad (kernel %d, key %zu)",
              bad_dec, kernel, klen);
        CHECK(!bad_ip, "in place: %d bad (kernel %d, key %zu)", bad_ip, kernel,
              klen);
        /* Empty input: nothing written, NULL buffers allowed. */
        CHECK(sealio_cbc_encrypt(c, iv, NULL, 0, NULL) == 0 &&
                  sealio_cbc_decrypt(c, iv, NULL, 0, NULL) == 0,
              "empty (kernel %d)", kernel);
        sealio_cbc_free(c);
    }
    free(pt), free(exp), free(raw);
}

/* --------------------------------------------------------------- PKCS#7 */

static void test_pad(int kernel) {
    static const size_t extra[] = {1000, 1007, 1008, 4095};
    uint8_t key[32], iv[16];
    uint8_t *pt = malloc(4112), *exp = malloc(4112), *buf = malloc(4112);
    for (size_t klen = 16; klen <= 32; klen += 8) {
        fill(key, klen);
        sealio_cbc *c = make(key, klen, kernel);
        if (!c) {
            failed++;
            continue;
        }
        int bad = 0, bad_ip = 0, bad_cap = 0;
        for (size_t t = 0; t <= 70 + sizeof extra / sizeof extra[0]; t++) {
            const size_t len = t <= 70 ? t : extra[t - 71];
            const size_t total = len / 16 * 16 + 16;
            fill(pt, len);
            fill(iv, 16);
            ref_encrypt_pad(key, klen, iv, pt, len, exp);
            size_t n = 0;
            memset(buf, 0xa5, total);
            bad += sealio_cbc_encrypt_pad(c, iv, pt, len, buf, total, &n) != 0 ||
                   n != total || memcmp(buf, exp, total) != 0;
            n = 12345;
            memset(buf, 0xa5, total);
            bad += sealio_cbc_decrypt_pad(c, iv, exp, total, buf, total, &n) != 0 ||
                   n != len || memcmp(buf, pt, len) != 0;
            /* In place: plaintext at the start of a total-byte buffer. */
            memcpy(buf, pt, len);
            bad_ip += sealio_cbc_encrypt_pad(c, iv, buf, len, buf, total, &n) != 0 ||
                      n != total || memcmp(buf, exp, total) != 0;
            bad_ip += sealio_cbc_decrypt_pad(c, iv, buf, total, buf, total, &n) != 0 ||
                      n != len || memcmp(buf, pt, len) != 0;
            /* One byte short of capacity: rejected, nothing written. */
            memset(buf, 0x5a, total);
            bad_cap += sealio_cbc_encrypt_pad(c, iv, pt, len, buf, total - 1, &n) !=
                       SEALIO_ERR_ARG;
            bad_cap += sealio_cbc_decrypt_pad(c, iv, exp, total, buf, total - 1, &n) !=
                       SEALIO_ERR_ARG;
            for (size_t i = 0; i < total; i++) bad_cap += buf[i] != 0x5a;
        }
        CHECK(!bad, "padding round trip: %d bad (kernel %d, key %zu)", bad,
              kernel, klen);
        CHECK(!bad_ip, "padding in place: %d bad (kernel %d, key %zu)", bad_ip,
              kernel, klen);
        CHECK(!bad_cap, "padding capacity: %d bad (kernel %d)", bad_cap, kernel);
        sealio_cbc_free(c);
    }
    free(pt), free(exp), free(buf);
}

/* Encrypt `nb` blocks whose last block is `last`, then decrypt_pad. */
static int try_padding(sealio_cbc *c, const uint8_t last[16], size_t nb,
                       size_t *out_len, int *zeroed) {
    uint8_t pt[48], ct[48], out[48], iv[16];
    fill(pt, sizeof pt);
    fill(iv, 16);
    memcpy(pt + 16 * (nb - 1), last, 16);
    if (sealio_cbc_encrypt(c, iv, pt, 16 * nb, ct) != 0) return 99;
    memset(out, 0xa5, sizeof out);
    *out_len = 777;
    const int rc = sealio_cbc_decrypt_pad(c, iv, ct, 16 * nb, out, sizeof out, out_len);
    *zeroed = 1;
    for (size_t i = 0; i < 16 * nb; i++) *zeroed &= out[i] == 0;
    if (rc == 0 && memcmp(out, pt, 16 * nb) != 0) return 98;
    return rc;
}

static void test_bad_padding(int kernel) {
    uint8_t key[16], blk[16];
    fill(key, 16);
    sealio_cbc *c = make(key, 16, kernel);
    if (!c) {
        failed++;
        return;
    }
    size_t n;
    int zeroed, rc;
    int bad_valid = 0, bad_reject = 0;
    for (size_t nb = 1; nb <= 3; nb++) {
        for (unsigned p = 1; p <= 16; p++) {
            /* Valid: the last p bytes are p, the rest random. */
            fill(blk, 16);
            memset(blk + 16 - p, (int)p, p);
            rc = try_padding(c, blk, nb, &n, &zeroed);
            bad_valid += rc != 0 || n != 16 * nb - p;
            /* Any single wrong byte inside the padding is rejected. */
            for (unsigned pos = 16 - p; pos < 15; pos++) {
                uint8_t b2[16];
                memcpy(b2, blk, 16);
                b2[pos] ^= (uint8_t)(1u << (pos % 8));
                rc = try_padding(c, b2, nb, &n, &zeroed);
                bad_reject += rc != SEALIO_ERR_PADDING || !zeroed || n != 0;
            }
        }
        /* Pad byte values outside 1..16. */
        static const uint8_t vals[] = {0, 17, 32, 0x80, 0xff};
        for (size_t v = 0; v < sizeof vals; v++) {
            memset(blk, vals[v], 16);
            rc = try_padding(c, blk, nb, &n, &zeroed);
            bad_reject += rc != SEALIO_ERR_PADDING || !zeroed || n != 0;
        }
        /* 16 bytes of 16 except byte 0 (checks the far end of the block). */
        memset(blk, 16, 16);
        blk[0] = 15;
        rc = try_padding(c, blk, nb, &n, &zeroed);
        bad_reject += rc != SEALIO_ERR_PADDING || !zeroed;
        /* The byte just before the padding may take the pad value. */
        memset(blk, 3, 16);
        rc = try_padding(c, blk, nb, &n, &zeroed);
        bad_valid += rc != 0 || n != 16 * nb - 3;
    }
    CHECK(!bad_valid, "valid padding accepted: %d bad (kernel %d)", bad_valid, kernel);
    CHECK(!bad_reject, "bad padding rejected and zeroed: %d bad (kernel %d)",
          bad_reject, kernel);
    /* Bad padding in place: the ciphertext buffer is zeroed. */
    uint8_t iv[16] = {0}, buf[32];
    memset(buf, 0, 32);
    buf[31] = 0; /* pad byte 0 */
    if (sealio_cbc_encrypt(c, iv, buf, 32, buf) == 0) {
        n = 1;
        rc = sealio_cbc_decrypt_pad(c, iv, buf, 32, buf, 32, &n);
        int z = 1;
        for (int i = 0; i < 32; i++) z &= buf[i] == 0;
        CHECK(rc == SEALIO_ERR_PADDING && z && n == 0,
              "bad padding in place (kernel %d)", kernel);
    }
    sealio_cbc_free(c);
}

/* --------------------------------------------------------- arguments */

static void test_args(int kernel) {
    uint8_t key[32] = {1}, iv[16] = {0}, a[64] = {0}, b[64];
    size_t n = 0;
    int st = 0;
    static const size_t badlens[] = {0, 1, 15, 17, 20, 31, 33, 64};
    for (size_t i = 0; i < sizeof badlens / sizeof badlens[0]; i++) {
        st = 0;
        CHECK(sealio_cbc_new(key, badlens[i], kernel, &st) == NULL &&
                  st == SEALIO_ERR_ARG,
              "key length %zu rejected", badlens[i]);
    }
    CHECK(sealio_cbc_new(NULL, 16, kernel, &st) == NULL && st == SEALIO_ERR_ARG,
          "NULL key rejected");
    CHECK(sealio_cbc_new(key, 16, 7, &st) == NULL && st == SEALIO_ERR_ARG,
          "unknown kernel rejected");
    sealio_cbc *t = sealio_cbc_new(key, 16, kernel, NULL);
    CHECK(t != NULL, "NULL status pointer allowed");
    sealio_cbc_free(t);
    sealio_cbc_free(NULL);
    sealio_cbc *c = make(key, 32, kernel);
    if (!c) {
        failed++;
        return;
    }
    CHECK(sealio_cbc_encrypt(NULL, iv, a, 16, b) == SEALIO_ERR_ARG, "NULL ctx");
    CHECK(sealio_cbc_decrypt(NULL, iv, a, 16, b) == SEALIO_ERR_ARG, "NULL ctx");
    CHECK(sealio_cbc_encrypt(c, NULL, a, 16, b) == SEALIO_ERR_ARG, "NULL iv");
    CHECK(sealio_cbc_decrypt(c, NULL, a, 16, b) == SEALIO_ERR_ARG, "NULL iv");
    CHECK(sealio_cbc_encrypt(c, iv, NULL, 16, b) == SEALIO_ERR_ARG, "NULL in");
    CHECK(sealio_cbc_decrypt(c, iv, a, 16, NULL) == SEALIO_ERR_ARG, "NULL out");
    for (size_t len = 1; len < 64; len++) {
        if (len % 16 == 0) continue;
        CHECK(sealio_cbc_encrypt(c, iv, a, len, b) == SEALIO_ERR_ARG &&
                  sealio_cbc_decrypt(c, iv, a, len, b) == SEALIO_ERR_ARG,
              "len %zu rejected", len);
    }
    CHECK(sealio_cbc_decrypt_pad(c, iv, a, 0, b, 64, &n) == SEALIO_ERR_ARG,
          "decrypt_pad empty");
    CHECK(sealio_cbc_decrypt_pad(c, iv, a, 20, b, 64, &n) == SEALIO_ERR_ARG,
          "decrypt_pad partial block");
    CHECK(sealio_cbc_decrypt_pad(c, iv, a, 32, b, 64, NULL) == SEALIO_ERR_ARG,
          "decrypt_pad NULL out_len");
    CHECK(sealio_cbc_encrypt_pad(c, iv, a, 16, b, 32, NULL) == SEALIO_ERR_ARG,
          "encrypt_pad NULL out_len");
    CHECK(sealio_cbc_encrypt_pad(c, iv, NULL, 5, b, 32, &n) == SEALIO_ERR_ARG,
          "encrypt_pad NULL in");
    CHECK(sealio_cbc_encrypt_pad(c, iv, a, 0, NULL, 16, &n) == SEALIO_ERR_ARG,
          "encrypt_pad NULL out");
    CHECK(sealio_cbc_encrypt_pad(c, iv, NULL, 0, b, 16, &n) == 0 && n == 16,
          "encrypt_pad empty NULL in");
    CHECK(sealio_cbc_encrypt_pad(c, iv, a, SIZE_MAX - 3, b, SIZE_MAX, &n) ==
              SEALIO_ERR_ARG,
          "encrypt_pad length overflow");
    /* Partial overlap is rejected; exact aliasing is fine. */
    CHECK(sealio_cbc_encrypt(c, iv, a, 32, a + 16) == SEALIO_ERR_OVERLAP,
          "partial overlap (out after in)");
    CHECK(sealio_cbc_decrypt(c, iv, a + 16, 32, a) == SEALIO_ERR_OVERLAP,
          "partial overlap (out before in)");
    CHECK(sealio_cbc_encrypt_pad(c, iv, a + 8, 10, a, 32, &n) == SEALIO_ERR_OVERLAP,
          "partial overlap pad");
    CHECK(sealio_cbc_decrypt_pad(c, iv, a + 16, 32, a, 32, &n) == SEALIO_ERR_OVERLAP,
          "partial overlap decrypt_pad");
    CHECK(sealio_cbc_encrypt(c, a + 8, a + 32, 32, a) == SEALIO_ERR_OVERLAP,
          "output over the IV");
    CHECK(sealio_cbc_decrypt(c, a, a, 32, a) == SEALIO_ERR_OVERLAP,
          "in place over the IV");
    CHECK(sealio_cbc_encrypt(c, iv, a, 32, a + 32) == 0, "adjacent buffers ok");
    sealio_cbc_free(c);
}

/* ---------------------------------------------------------- multi-buffer */

#define CTXS_PER_KIND 2

typedef struct {
    sealio_cbc *ctx[3][2][CTXS_PER_KIND]; /* [key size][kernel idx][i] */
    uint8_t key[3][2][CTXS_PER_KIND][32];
} ctx_pool;

static void pool_init(ctx_pool *p) {
    memset(p, 0, sizeof *p);
    for (int ks = 0; ks < 3; ks++)
        for (int k = 0; k < n_kernels; k++)
            for (int i = 0; i < CTXS_PER_KIND; i++) {
                fill(p->key[ks][k][i], 32);
                p->ctx[ks][k][i] = make(p->key[ks][k][i], 16 + 8 * (size_t)ks, kernels[k]);
            }
}

static void pool_free(ctx_pool *p) {
    for (int ks = 0; ks < 3; ks++)
        for (int k = 0; k < 2; k++)
            for (int i = 0; i < CTXS_PER_KIND; i++) sealio_cbc_free(p->ctx[ks][k][i]);
}

/*
 * One multi-buffer run of n jobs. kmode: -1 mixes kernels, else the kernel
 * index for all jobs. keymode: 0 random key sizes and keys, 1 one context
 * for all. Each output is allocated at its exact size (ASan sees overruns).
 */
static int multi_case(ctx_pool *p, size_t n, size_t maxlen, int pad, int kmode,
                      int keymode, int inplace_some) {
    sealio_cbc_job *jobs = calloc(n, sizeof *jobs);
    uint8_t **ins = calloc(n, sizeof *ins), **ivs = calloc(n, sizeof *ivs);
    uint8_t **exp = calloc(n, sizeof *exp);
    size_t *need = calloc(n, sizeof *need);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = below(maxlen + 1);
        if (!pad) len &= ~(size_t)15;
        const int ks = keymode ? 0 : (int)below(3);
        const int k = kmode >= 0 ? kmode : (int)below((size_t)n_kernels);
        const int ci = keymode ? 0 : (int)below(CTXS_PER_KIND);
        sealio_cbc *c = p->ctx[ks][k][ci];
        need[i] = pad ? len / 16 * 16 + 16 : len;
        ins[i] = malloc(len ? len : 1);
        ivs[i] = malloc(16);
        fill(ins[i], len);
        fill(ivs[i], 16);
        exp[i] = malloc(need[i] ? need[i] : 1);
        size_t got = 0;
        if (pad)
            bad += sealio_cbc_encrypt_pad(c, ivs[i], ins[i], len, exp[i], need[i], &got) != 0 ||
                   got != need[i];
        else
            bad += sealio_cbc_encrypt(c, ivs[i], ins[i], len, exp[i]) != 0;
        /* Cross-check the single chain against the reference too. */
        uint8_t *ref = malloc(need[i] ? need[i] : 1);
        if (pad)
            ref_encrypt_pad(p->key[ks][k][ci], 16 + 8 * (size_t)ks, ivs[i], ins[i], len, ref);
        else
            ref_encrypt(p->key[ks][k][ci], 16 + 8 * (size_t)ks, ivs[i], ins[i], len, ref);
        bad += memcmp(ref, exp[i], need[i]) != 0;
        free(ref);
        jobs[i].ctx = c;
        jobs[i].iv = ivs[i];
        jobs[i].len = len;
        jobs[i].out_cap = need[i];
        jobs[i].out_len = 0xdead;
        if (inplace_some && (i % 3 == 1)) {
            /* In place: the input lives at the start of the output. */
            uint8_t *io = malloc(need[i] ? need[i] : 1);
            if (len) memcpy(io, ins[i], len);
            free(ins[i]);
            ins[i] = io;
            jobs[i].in = io;
            jobs[i].out = io;
        } else {
            jobs[i].in = len ? ins[i] : NULL;
            jobs[i].out = need[i] ? malloc(need[i]) : NULL;
        }
    }
    bad += sealio_cbc_encrypt_multi(jobs, n, pad) != 0;
    for (size_t i = 0; i < n; i++) {
        bad += jobs[i].out_len != need[i];
        if (need[i]) bad += memcmp(jobs[i].out, exp[i], need[i]) != 0;
        if (jobs[i].out != ins[i]) free(jobs[i].out);
        free(ins[i]), free(ivs[i]), free(exp[i]);
    }
    free(jobs), free(ins), free(ivs), free(exp), free(need);
    return bad;
}

static void test_multi(ctx_pool *p) {
    for (int pad = 0; pad <= 1; pad++) {
        for (int kmode = -1; kmode < n_kernels; kmode++) {
            int bad = 0;
            for (size_t n = 1; n <= 40; n++)
                bad += multi_case(p, n, 2000, pad, kmode, 0, (int)(n & 1));
            CHECK(!bad, "multi 1..40 chains mixed (pad %d, kernel mode %d): %d bad",
                  pad, kmode, bad);
            bad = 0;
            for (size_t n = 1; n <= 40; n++)
                bad += multi_case(p, n, 2000, pad, kmode, 1, 0);
            CHECK(!bad, "multi 1..40 chains one key (pad %d, kernel mode %d): %d bad",
                  pad, kmode, bad);
            /* Short jobs (many refills) and many jobs. */
            bad = multi_case(p, 200, 40, pad, kmode, 0, 1);
            bad += multi_case(p, 300, 5000, pad, kmode, 0, 1);
            bad += multi_case(p, 17, 70000, pad, kmode, 1, 1);
            CHECK(!bad, "multi short/many/long jobs (pad %d, kernel mode %d): %d bad",
                  pad, kmode, bad);
        }
    }
    CHECK(sealio_cbc_encrypt_multi(NULL, 0, 1) == 0, "multi with no jobs");
}

/*
 * Equal-size jobs at the same page offset (as large allocations are), so
 * lanes collide in the L1 sets and new jobs start late: the delayed-start
 * path must still produce exactly the single-chain ciphertexts.
 */
static void test_multi_aligned(ctx_pool *p) {
    static const size_t skews[] = {0, 16, 64, 4096 + 48};
    const size_t stride = 24 * 1024, max_jobs = 40;
    uint8_t *arena_in = NULL, *arena_out = NULL;
    const size_t arena = max_jobs * (stride + 4096 + 64);
    if (posix_memalign((void **)&arena_in, 4096, arena) ||
        posix_memalign((void **)&arena_out, 4096, arena)) {
        failed++;
        return;
    }
    int bad = 0;
    for (size_t sk = 0; sk < sizeof skews / sizeof skews[0]; sk++) {
        for (int pad = 0; pad <= 1; pad++) {
            for (int kmode = 0; kmode < n_kernels; kmode++) {
                for (int mode = 0; mode < 3; mode++) { /* 0 one key, 1 mixed, 2 in place */
                    const size_t n = 9 + below(max_jobs - 9);
                    sealio_cbc_job jobs[40];
                    uint8_t ivs[40][16];
                    const size_t len0 = stride - 16 - 16 * below(8);
                    fill(arena_in, arena);
                    for (size_t i = 0; i < n; i++) {
                        const size_t len = pad ? len0 - below(16) : len0;
                        const size_t off = i * (stride + skews[sk]);
                        sealio_cbc *c = mode == 1 ? p->ctx[below(3)][kmode][below(2)]
                                                  : p->ctx[0][kmode][0];
                        fill(ivs[i], 16);
                        uint8_t *o = mode == 2 ? arena_in + off : arena_out + off;
                        jobs[i] = (sealio_cbc_job){c, ivs[i], arena_in + off, len, o,
                                                   stride, 0};
                    }
                    /* Expected outputs first (in place overwrites the input). */
                    uint8_t *want = malloc(n * stride);
                    for (size_t i = 0; i < n; i++) {
                        size_t got = 0;
                        if (pad)
                            bad += sealio_cbc_encrypt_pad(jobs[i].ctx, jobs[i].iv, jobs[i].in,
                                                          jobs[i].len, want + i * stride,
                                                          stride, &got) != 0;
                        else
                            bad += sealio_cbc_encrypt(jobs[i].ctx, jobs[i].iv, jobs[i].in,
                                                      jobs[i].len, want + i * stride) != 0;
                    }
                    bad += sealio_cbc_encrypt_multi(jobs, n, pad) != 0;
                    for (size_t i = 0; i < n; i++) {
                        const size_t need = pad ? jobs[i].len / 16 * 16 + 16 : jobs[i].len;
                        bad += jobs[i].out_len != need;
                        bad += memcmp(jobs[i].out, want + i * stride, need) != 0;
                    }
                    free(want);
                }
            }
        }
    }
    CHECK(!bad, "multi with page-aligned equal-size jobs: %d bad", bad);
    free(arena_in);
    free(arena_out);
}

static void test_multi_invalid(ctx_pool *p) {
    sealio_cbc *c = p->ctx[0][0][0];
    uint8_t iv[16] = {0}, in[3][64], out[3][80], in_all[200];
    memset(in, 7, sizeof in);
    for (int which = 0; which < 10; which++) {
        for (int pad = 0; pad <= 1; pad++) {
            sealio_cbc_job jobs[3];
            for (int i = 0; i < 3; i++) {
                jobs[i] = (sealio_cbc_job){c, iv, in[i], 48, out[i], 80, 0xdead};
            }
            sealio_cbc_job *j = &jobs[1 + (which & 1)];
            switch (which) {
            case 0: j->ctx = NULL; break;
            case 1: j->iv = NULL; break;
            case 2: j->in = NULL; break;
            case 3: j->out = NULL; break;
            case 4: j->out_cap = pad ? 63 : 47; break;
            case 5: if (pad) j->len = SIZE_MAX - 1; else j->len = 40; break;
            case 6: j->in = in_all, j->out = in_all + 16; break; /* partial overlap */
            case 7: j->in = in_all + 32, j->out = in_all; break;
            case 8: j->len = 64, j->out_cap = pad ? 79 : 63; break;
            default: /* huge length / odd length */
                if (pad) {
                    j->len = SIZE_MAX - 20;
                    j->out_cap = SIZE_MAX;
                } else {
                    j->len = 1;
                }
                break;
            }
            memset(out, 0x5a, sizeof out);
            memset(in_all, 0x33, sizeof in_all);
            const int rc = sealio_cbc_encrypt_multi(jobs, 3, pad);
            int untouched = 1;
            for (size_t i = 0; i < sizeof out; i++) untouched &= ((uint8_t *)out)[i] == 0x5a;
            for (size_t i = 0; i < sizeof in_all; i++) untouched &= in_all[i] == 0x33;
            for (int i = 0; i < 3; i++) untouched &= jobs[i].out_len == 0xdead;
            const int want = which == 6 || which == 7 ? SEALIO_ERR_OVERLAP : SEALIO_ERR_ARG;
            CHECK(rc == want && untouched,
                  "multi invalid case %d (pad %d): rc %d, untouched %d", which, pad, rc,
                  untouched);
        }
    }
    CHECK(sealio_cbc_encrypt_multi(NULL, 1, 0) == SEALIO_ERR_ARG, "multi NULL jobs");
}

/* -------------------------------------------------------- cross-kernel */

static void test_cross_kernel(void) {
    if (n_kernels < 2) return;
    uint8_t key[32], iv[16];
    const size_t maxlen = 300 * 16;
    uint8_t *pt = malloc(maxlen), *a = malloc(maxlen), *b = malloc(maxlen);
    int bad = 0;
    for (int rep = 0; rep < 60; rep++) {
        const size_t klen = 16 + 8 * below(3), len = 16 * below(301);
        fill(key, klen);
        fill(iv, 16);
        fill(pt, len);
        sealio_cbc *x = make(key, klen, kernels[0]), *y = make(key, klen, kernels[1]);
        bad += sealio_cbc_encrypt(x, iv, pt, len, a) != 0;
        bad += sealio_cbc_encrypt(y, iv, pt, len, b) != 0;
        bad += memcmp(a, b, len) != 0;
        /* Decrypt random "ciphertext": both kernels must agree. */
        bad += sealio_cbc_decrypt(x, iv, pt, len, a) != 0;
        bad += sealio_cbc_decrypt(y, iv, pt, len, b) != 0;
        bad += memcmp(a, b, len) != 0;
        sealio_cbc_free(x);
        sealio_cbc_free(y);
    }
    CHECK(!bad, "AES-NI and VAES agree: %d bad", bad);
    free(pt), free(a), free(b);
}

/* ------------------------------------------------------------- threads */

typedef struct {
    const sealio_cbc *c;
    uint64_t seed;
    int bad;
} thread_arg;

static void *worker(void *v) {
    thread_arg *t = v;
    uint8_t pt[1024], ct[1040], back[1040], iv[16];
    uint64_t s = t->seed;
    for (int rep = 0; rep < 300; rep++) {
        for (size_t i = 0; i < sizeof pt; i++) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            pt[i] = (uint8_t)(s >> 56);
        }
        memcpy(iv, pt, 16);
        const size_t len = (size_t)(s >> 40) % 1001;
        size_t n = 0, m = 0;
        t->bad += sealio_cbc_encrypt_pad(t->c, iv, pt, len, ct, sizeof ct, &n) != 0;
        t->bad += sealio_cbc_decrypt_pad(t->c, iv, ct, n, back, sizeof back, &m) != 0;
        t->bad += m != len || memcmp(back, pt, len) != 0;
    }
    return NULL;
}

static void test_threads(int kernel) {
    uint8_t key[24];
    fill(key, 24);
    sealio_cbc *c = make(key, 24, kernel);
    if (!c) {
        failed++;
        return;
    }
    pthread_t th[4];
    thread_arg args[4];
    int started = 0, bad = 0;
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){c, 1000u + (uint64_t)i, 0};
        if (pthread_create(&th[i], NULL, worker, &args[i]) == 0) started++;
        else break;
    }
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        bad += args[i].bad;
    }
    CHECK(started == 4 && !bad, "threads sharing one context (kernel %d): %d bad",
          kernel, bad);
    sealio_cbc_free(c);
}

int main(void) {
    static const int all[] = {SEALIO_KERNEL_AESNI, SEALIO_KERNEL_VAES};
    for (int i = 0; i < 2; i++)
        if (sealio_kernel_available(all[i])) kernels[n_kernels++] = all[i];
    if (n_kernels == 0) {
        printf("test_cbc: no AES-NI on this CPU, nothing to test (0 passed, 0 failed)\n");
        return 0;
    }
    for (int k = 0; k < n_kernels; k++) {
        test_nist(kernels[k]);
        test_roundtrip(kernels[k]);
        test_pad(kernels[k]);
        test_bad_padding(kernels[k]);
        test_args(kernels[k]);
        test_threads(kernels[k]);
    }
    /* AUTO resolves to an available kernel. */
    {
        uint8_t key[16] = {0};
        int st = -99;
        sealio_cbc *c = sealio_cbc_new(key, 16, SEALIO_KERNEL_AUTO, &st);
        CHECK(c != NULL && st == 0, "AUTO kernel");
        sealio_cbc_free(c);
    }
    ctx_pool pool;
    pool_init(&pool);
    test_multi(&pool);
    test_multi_aligned(&pool);
    test_multi_invalid(&pool);
    pool_free(&pool);
    test_cross_kernel();
    printf("test_cbc: %d passed, %d failed (kernels:", passed, failed);
    for (int k = 0; k < n_kernels; k++) printf(" %s", sealio_kernel_name(kernels[k]));
    printf(")\n");
    return failed != 0;
}
