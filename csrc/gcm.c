/*
 * AES-GCM public entry points: key contexts, one-shot encrypt/decrypt and
 * the STREAM segment batch, optionally split across threads.
 *
 * The kernel is fixed when the context is built (sealio_gcm_new); each call
 * then runs without allocation (apart from worker threads for a threaded
 * batch) and without touching shared state.
 *
 * Licensed under the Apache License, Version 2.0.
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#include "internal.h"

#define MAX_AAD_BYTES ((((uint64_t)1) << 61) - 1)
#define MAX_THREADS 64u

static gcm_kernel_fn *kernel_fn(int kernel) {
    return kernel == SEALIO_KERNEL_VAES ? sealio_gcm_crypt_vaes
                                        : sealio_gcm_crypt_aesni;
}

sealio_gcm *sealio_gcm_new(const uint8_t *key, size_t key_len, int kernel,
                           int *status) {
    int k = 0;
    sealio_gcm *ctx = sealio_keyed_new(sizeof *ctx, offsetof(sealio_gcm, enc), key,
                                       key_len, kernel, &k, status);
    if (ctx == NULL) return NULL;
    sealio_gcm_init_htab(ctx);
    ctx->kernel = k;
    return ctx;
}

void sealio_gcm_free(sealio_gcm *ctx) { sealio_free_wiped(ctx, sizeof *ctx); }

int sealio_gcm_kernel(const sealio_gcm *ctx) { return ctx ? ctx->kernel : 0; }

/* SEALIO_OK, SEALIO_ERR_ARG or SEALIO_ERR_OVERLAP for one message. */
static int check_message(const sealio_gcm *ctx, const uint8_t *nonce,
                         const uint8_t *aad, size_t aad_len, const uint8_t *in,
                         size_t len, const uint8_t *out, const uint8_t *tag,
                         int decrypt) {
    if (ctx == NULL || nonce == NULL || tag == NULL) return SEALIO_ERR_ARG;
    if ((aad == NULL && aad_len) || (uint64_t)aad_len > MAX_AAD_BYTES)
        return SEALIO_ERR_ARG;
    if ((uint64_t)len > SEALIO_GCM_MAX_BYTES) return SEALIO_ERR_ARG;
    if (!sealio_range_ok(in, len) || !sealio_range_ok(out, len) ||
        !sealio_range_ok(aad, aad_len))
        return SEALIO_ERR_ARG;
    /* out may only alias in exactly; it must not touch nonce, AAD or tag. */
    if (sealio_bad_overlap(out, len, in, len) ||
        sealio_overlaps(out, len, nonce, SEALIO_GCM_NONCE_BYTES) ||
        sealio_overlaps(out, len, aad, aad_len) ||
        sealio_overlaps(out, len, tag, SEALIO_GCM_TAG_BYTES))
        return SEALIO_ERR_OVERLAP;
    /* An output tag must not overwrite what is still to be read. */
    if (!decrypt && (sealio_overlaps(tag, SEALIO_GCM_TAG_BYTES, in, len) ||
                     sealio_overlaps(tag, SEALIO_GCM_TAG_BYTES, nonce,
                                     SEALIO_GCM_NONCE_BYTES) ||
                     sealio_overlaps(tag, SEALIO_GCM_TAG_BYTES, aad, aad_len)))
        return SEALIO_ERR_OVERLAP;
    return SEALIO_OK;
}

static void make_j0(uint8_t j0[16], const uint8_t *nonce) {
    memcpy(j0, nonce, SEALIO_GCM_NONCE_BYTES);
    j0[12] = 0, j0[13] = 0, j0[14] = 0, j0[15] = 1;
}

int sealio_gcm_encrypt(const sealio_gcm *ctx, const uint8_t *nonce,
                       const uint8_t *aad, size_t aad_len, const uint8_t *in,
                       size_t len, uint8_t *out, uint8_t *tag) {
    const int rc = check_message(ctx, nonce, aad, aad_len, in, len, out, tag, 0);
    if (rc != SEALIO_OK) return rc;
    uint8_t j0[16];
    make_j0(j0, nonce);
    kernel_fn(ctx->kernel)(ctx, j0, aad, aad_len, in, len, out, tag, 0);
    return SEALIO_OK;
}

int sealio_gcm_decrypt(const sealio_gcm *ctx, const uint8_t *nonce,
                       const uint8_t *aad, size_t aad_len, const uint8_t *in,
                       size_t len, const uint8_t *tag, uint8_t *out) {
    const int rc = check_message(ctx, nonce, aad, aad_len, in, len, out, tag, 1);
    if (rc != SEALIO_OK) return rc;
    uint8_t j0[16], expect[16], given[16];
    make_j0(j0, nonce);
    memcpy(given, tag, sizeof given);
    kernel_fn(ctx->kernel)(ctx, j0, aad, aad_len, in, len, out, expect, 1);
    const int ok = sealio_ct_equal(expect, given, sizeof expect);
    sealio_wipe(expect, sizeof expect);
    if (!ok) {
        sealio_wipe(out, len);
        return SEALIO_ERR_AUTH;
    }
    return SEALIO_OK;
}

int sealio_gcm_seal(const sealio_gcm *ctx, const uint8_t *nonce,
                    size_t nonce_len, const uint8_t *aad, size_t aad_len,
                    const uint8_t *in, size_t len, uint8_t *out,
                    size_t out_cap) {
    if (nonce_len != SEALIO_GCM_NONCE_BYTES ||
        (uint64_t)len > SEALIO_GCM_MAX_BYTES ||
        out_cap < len + SEALIO_GCM_TAG_BYTES ||
        !sealio_range_ok(out, len + SEALIO_GCM_TAG_BYTES))
        return SEALIO_ERR_ARG;
    return sealio_gcm_encrypt(ctx, nonce, aad, aad_len, in, len, out, out + len);
}

int sealio_gcm_open(const sealio_gcm *ctx, const uint8_t *nonce,
                    size_t nonce_len, const uint8_t *aad, size_t aad_len,
                    const uint8_t *in, size_t in_len, uint8_t *out,
                    size_t out_cap) {
    if (nonce_len != SEALIO_GCM_NONCE_BYTES || in_len < SEALIO_GCM_TAG_BYTES ||
        !sealio_range_ok(in, in_len))
        return SEALIO_ERR_ARG;
    const size_t len = in_len - SEALIO_GCM_TAG_BYTES;
    if ((uint64_t)len > SEALIO_GCM_MAX_BYTES || out_cap < len) return SEALIO_ERR_ARG;
    return sealio_gcm_decrypt(ctx, nonce, aad, aad_len, in, len, in + len, out);
}

/* ------------------------------------------------------------- segments */

size_t sealio_segments_sealed_len(size_t plain_len, size_t segment_size) {
    if (segment_size == 0) return 0;
    size_t n = plain_len / segment_size + (plain_len % segment_size != 0);
    if (n == 0) n = 1;
    if (n > (SIZE_MAX - plain_len) / SEALIO_GCM_TAG_BYTES) return 0;
    return plain_len + n * SEALIO_GCM_TAG_BYTES;
}

typedef struct seg_job {
    const sealio_gcm *ctx;
    const sealio_segments *p;
    const uint8_t *in;
    uint8_t *out;
    size_t count;      /* segments in the whole batch */
    size_t plain_len;  /* plaintext bytes in the whole batch */
    size_t begin, end; /* this worker's segment range */
    int decrypt;
    size_t bad;        /* first failing segment, or SIZE_MAX */
} seg_job;

static void segment_nonce(const sealio_segments *p, size_t i, size_t count,
                          uint8_t nonce[12]) {
    if (p->nonces) {
        memcpy(nonce, p->nonces + 12 * i, 12);
        return;
    }
    const uint32_t idx = p->first_index + (uint32_t)i;
    memcpy(nonce, p->prefix, SEALIO_STREAM_PREFIX_BYTES);
    nonce[7] = (uint8_t)(idx >> 24), nonce[8] = (uint8_t)(idx >> 16);
    nonce[9] = (uint8_t)(idx >> 8), nonce[10] = (uint8_t)idx;
    nonce[11] = (uint8_t)(p->final && i + 1 == count);
}

static void *run_segments(void *arg) {
    seg_job *job = arg;
    const sealio_segments *p = job->p;
    const size_t seg = p->segment_size, sealed = seg + SEALIO_GCM_TAG_BYTES;
    gcm_kernel_fn *fn = kernel_fn(job->ctx->kernel);
    job->bad = SIZE_MAX;
    for (size_t i = job->begin; i < job->end; i++) {
        const size_t plen =
            i + 1 < job->count ? seg : job->plain_len - i * seg;
        uint8_t j0[16], nonce[12], tag[16];
        segment_nonce(p, i, job->count, nonce);
        make_j0(j0, nonce);
        if (!job->decrypt) {
            const uint8_t *src = job->in + i * seg;
            uint8_t *dst = job->out + i * sealed;
            fn(job->ctx, j0, p->aad, p->aad_len, src, plen, dst, dst + plen, 0);
        } else {
            const uint8_t *src = job->in + i * sealed;
            uint8_t *dst = job->out + i * seg;
            fn(job->ctx, j0, p->aad, p->aad_len, src, plen, dst, tag, 1);
            if (!sealio_ct_equal(tag, src + plen, 16)) {
                job->bad = i;
                return NULL; /* the caller wipes the whole output */
            }
        }
    }
    return NULL;
}

/* Split [0, count) over up to p->threads workers (this thread included). */
static size_t run_parallel(seg_job *tmpl) {
    size_t nt = tmpl->p->threads ? tmpl->p->threads : 1;
    if (nt > MAX_THREADS) nt = MAX_THREADS;
    if (nt > tmpl->count) nt = tmpl->count;
    seg_job jobs[MAX_THREADS];
    pthread_t tids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (size_t t = 0; t < nt; t++) {
        jobs[t] = *tmpl;
        jobs[t].begin = tmpl->count * t / nt;
        jobs[t].end = tmpl->count * (t + 1) / nt;
    }
    for (size_t t = 1; t < nt; t++)
        started[t] = pthread_create(&tids[t], NULL, run_segments, &jobs[t]) == 0;
    run_segments(&jobs[0]);
    size_t bad = jobs[0].bad;
    for (size_t t = 1; t < nt; t++) {
        if (started[t])
            pthread_join(tids[t], NULL);
        else
            run_segments(&jobs[t]); /* no thread available: do it here */
        if (jobs[t].bad < bad) bad = jobs[t].bad;
    }
    return bad;
}

/*
 * Checks shared by both batch calls: SEALIO_OK, SEALIO_ERR_ARG or
 * SEALIO_ERR_OVERLAP. `out_len` is the range the call writes; out may
 * alias `in` only exactly, and touches no nonce, prefix or AAD byte.
 */
static int check_segments(const sealio_gcm *ctx, const sealio_segments *p,
                          const uint8_t *in, size_t in_len, const uint8_t *out,
                          size_t out_len, size_t count) {
    if (ctx == NULL || p == NULL || out == NULL) return SEALIO_ERR_ARG;
    if (p->segment_size == 0 || p->segment_size > SEALIO_GCM_MAX_BYTES)
        return SEALIO_ERR_ARG;
    if ((p->aad == NULL && p->aad_len) || (uint64_t)p->aad_len > MAX_AAD_BYTES)
        return SEALIO_ERR_ARG;
    if (!sealio_range_ok(in, in_len) || !sealio_range_ok(out, out_len) ||
        !sealio_range_ok(p->aad, p->aad_len))
        return SEALIO_ERR_ARG;
    if (p->nonces == NULL) {
        if (p->prefix == NULL) return SEALIO_ERR_ARG;
        if ((uint64_t)p->first_index + count - 1 > UINT32_MAX) return SEALIO_ERR_ARG;
    } else if (count > SIZE_MAX / SEALIO_GCM_NONCE_BYTES) {
        return SEALIO_ERR_ARG;
    }
    if (sealio_bad_overlap(out, out_len, in, in_len) ||
        sealio_overlaps(out, out_len, p->aad, p->aad_len) ||
        sealio_overlaps(out, out_len, p->prefix,
                        p->nonces ? 0 : SEALIO_STREAM_PREFIX_BYTES) ||
        sealio_overlaps(out, out_len, p->nonces,
                        p->nonces ? count * SEALIO_GCM_NONCE_BYTES : 0))
        return SEALIO_ERR_OVERLAP;
    return SEALIO_OK;
}

/*
 * Sealing in place: segment i's output starts 16*i bytes after its input,
 * over the start of segment i+1's input. Going from the last segment back,
 * each segment is moved to its output place (over inputs already sealed)
 * and encrypted there exactly in place.
 */
static void seal_in_place(const seg_job *job) {
    const sealio_segments *p = job->p;
    const size_t seg = p->segment_size, sealed = seg + SEALIO_GCM_TAG_BYTES;
    gcm_kernel_fn *fn = kernel_fn(job->ctx->kernel);
    for (size_t i = job->count; i-- > 0;) {
        const size_t plen = i + 1 < job->count ? seg : job->plain_len - i * seg;
        uint8_t j0[16], nonce[12];
        uint8_t *dst = job->out + i * sealed;
        segment_nonce(p, i, job->count, nonce);
        make_j0(j0, nonce);
        memmove(dst, job->in + i * seg, plen);
        fn(job->ctx, j0, p->aad, p->aad_len, dst, plen, dst, dst + plen, 0);
    }
}

/*
 * Opening in place: from the first segment forward, each segment is
 * decrypted exactly in place and its plaintext moved down to its output
 * place (over ciphertext already opened). Returns the failing segment, or
 * SIZE_MAX; a failing segment's plaintext is wiped where it was decrypted.
 */
static size_t open_in_place(const seg_job *job) {
    const sealio_segments *p = job->p;
    const size_t seg = p->segment_size, sealed = seg + SEALIO_GCM_TAG_BYTES;
    gcm_kernel_fn *fn = kernel_fn(job->ctx->kernel);
    uint8_t *buf = job->out;
    for (size_t i = 0; i < job->count; i++) {
        const size_t plen = i + 1 < job->count ? seg : job->plain_len - i * seg;
        uint8_t j0[16], nonce[12], tag[16], given[16];
        uint8_t *src = buf + i * sealed;
        segment_nonce(p, i, job->count, nonce);
        make_j0(j0, nonce);
        memcpy(given, src + plen, sizeof given);
        fn(job->ctx, j0, p->aad, p->aad_len, src, plen, src, tag, 1);
        if (!sealio_ct_equal(tag, given, sizeof tag)) {
            sealio_wipe(src, plen);
            return i;
        }
        memmove(buf + i * seg, src, plen);
    }
    return SIZE_MAX;
}

int sealio_gcm_seal_segments(const sealio_gcm *ctx, const sealio_segments *p,
                             const uint8_t *in, size_t plain_len, uint8_t *out,
                             size_t out_cap) {
    if (p == NULL || p->segment_size == 0) return SEALIO_ERR_ARG;
    const size_t seg = p->segment_size;
    size_t count = plain_len / seg + (plain_len % seg != 0);
    if (count == 0) count = 1;
    const size_t need = sealio_segments_sealed_len(plain_len, seg);
    if (need == 0 || out_cap < need) return SEALIO_ERR_ARG;
    const int rc = check_segments(ctx, p, in, plain_len, out, need, count);
    if (rc != SEALIO_OK) return rc;
    if (!p->final && (plain_len == 0 || plain_len % seg != 0))
        return SEALIO_ERR_ARG;
    seg_job job = {ctx, p, in, out, count, plain_len, 0, count, 0, SIZE_MAX};
    if (in == out)
        seal_in_place(&job);
    else
        run_parallel(&job);
    return SEALIO_OK;
}

int sealio_gcm_open_segments(const sealio_gcm *ctx, const sealio_segments *p,
                             const uint8_t *in, size_t in_len, uint8_t *out,
                             size_t out_cap, size_t *plain_len,
                             size_t *bad_segment) {
    if (p == NULL || p->segment_size == 0 || plain_len == NULL ||
        p->segment_size > SIZE_MAX - SEALIO_GCM_TAG_BYTES)
        return SEALIO_ERR_ARG;
    const size_t sealed = p->segment_size + SEALIO_GCM_TAG_BYTES;
    const size_t count = in_len / sealed + (in_len % sealed != 0);
    if (count == 0) return SEALIO_ERR_ARG;
    const size_t tail = in_len - (count - 1) * sealed;
    if (tail < SEALIO_GCM_TAG_BYTES || (!p->final && tail != sealed))
        return SEALIO_ERR_ARG;
    const size_t plen = in_len - count * SEALIO_GCM_TAG_BYTES;
    if (out_cap < plen) return SEALIO_ERR_ARG;
    const int rc = check_segments(ctx, p, in, in_len, out, plen, count);
    if (rc != SEALIO_OK) return rc;
    seg_job job = {ctx, p, in, out, count, plen, 0, count, 1, SIZE_MAX};
    const size_t bad = in == out ? open_in_place(&job) : run_parallel(&job);
    if (bad != SIZE_MAX) {
        sealio_wipe(out, plen);
        *plain_len = 0;
        if (bad_segment) *bad_segment = bad;
        return SEALIO_ERR_AUTH;
    }
    *plain_len = plen;
    return SEALIO_OK;
}
