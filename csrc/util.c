/*
 * Memory helpers: wiping, constant-time comparison, aligned contexts.
 * Licensed under the Apache License, Version 2.0.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

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

void *sealio_alloc_aligned(size_t size) {
    void *p = NULL;
    if (posix_memalign(&p, 64, size) != 0) return NULL;
    memset(p, 0, size);
    return p;
}

void sealio_free_wiped(void *p, size_t size) {
    if (p == NULL) return;
    sealio_wipe(p, size);
    free(p);
}
