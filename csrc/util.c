/*
 * Memory helpers: wiping, constant-time comparison, overlap checks, and
 * the allocation of key contexts.
 *
 * Key contexts (AES schedules, GHASH tables, CBC schedules) get pages of
 * their own: on Linux an anonymous mmap marked MADV_DONTDUMP, so a core
 * dump of a crashed process does not carry the keys, and unmapped after a
 * wipe. A context never shares its pages with other heap data, so the
 * madvise cannot exclude (or be undone by) anything else. Elsewhere the
 * context is a page-aligned heap block and only the wipe applies.
 *
 * Licensed under the Apache License, Version 2.0.
 */
#define _DEFAULT_SOURCE
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/mman.h>
#if defined(MADV_DONTDUMP)
#define SEALIO_MMAP_CONTEXTS 1
#endif
#endif

#include "internal.h"

void sealio_wipe(void *p, size_t len) {
    if (p == NULL || len == 0) return;
    memset(p, 0, len);
    /* The barrier tells the compiler the zeroed memory is observed. */
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

int sealio_ct_equal(const uint8_t *a, const uint8_t *b, size_t len) {
    volatile uint8_t acc = 0;
    for (size_t i = 0; i < len; i++) acc |= (uint8_t)(a[i] ^ b[i]);
    return (int)((((uint32_t)acc) - 1u) >> 31) & 1;
}

int sealio_overlaps(const void *a, size_t alen, const void *b, size_t blen) {
    if (a == NULL || b == NULL || alen == 0 || blen == 0) return 0;
    const uintptr_t x = (uintptr_t)a, y = (uintptr_t)b;
    return x < y ? y - x < alen : x - y < blen;
}

int sealio_range_ok(const void *p, size_t len) {
    return len == 0 || (p != NULL && (uintptr_t)p <= UINTPTR_MAX - len);
}

int sealio_bad_overlap(const void *out, size_t out_len, const void *in,
                       size_t in_len) {
    return out != in && sealio_overlaps(out, out_len, in, in_len);
}

static size_t page_size(void) {
    const long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? (size_t)p : 4096;
}

/* `size` rounded up to whole pages, or 0 on overflow. */
static size_t page_round(size_t size) {
    const size_t pg = page_size();
    if (size > SIZE_MAX - (pg - 1)) return 0;
    return (size + pg - 1) / pg * pg;
}

int sealio_contexts_dontdump(void) {
#ifdef SEALIO_MMAP_CONTEXTS
    return 1;
#else
    return 0;
#endif
}

void *sealio_alloc_aligned(size_t size) {
    const size_t total = page_round(size);
    if (size == 0 || total == 0) return NULL;
#ifdef SEALIO_MMAP_CONTEXTS
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    /* Best effort: an old kernel without MADV_DONTDUMP still gets a context. */
    (void)madvise(p, total, MADV_DONTDUMP);
    return p; /* anonymous pages are zero-filled */
#else
    void *p = NULL;
    if (posix_memalign(&p, page_size(), total) != 0) return NULL;
    memset(p, 0, total);
    return p;
#endif
}

void sealio_free_wiped(void *p, size_t size) {
    if (p == NULL) return;
    const size_t total = page_round(size);
    sealio_wipe(p, total);
#ifdef SEALIO_MMAP_CONTEXTS
    (void)munmap(p, total);
#else
    free(p);
#endif
}
