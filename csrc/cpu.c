/*
 * One-time CPU probe (CPUID + XGETBV) and kernel selection.
 *
 * The probe result is the only process-wide state in the C core. It is
 * computed on first use; concurrent first calls compute the same value and
 * store it atomically, so no lock is needed.
 *
 * Licensed under the Apache License, Version 2.0.
 */
#include <stdatomic.h>

#include "internal.h"

#if SEALIO_X86
#include <cpuid.h>

static uint64_t read_xcr0(void) {
    uint32_t eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((uint64_t)edx << 32) | eax;
}

static unsigned probe(void) {
    unsigned a, b, c, d, f = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const int ssse3 = (c >> 9) & 1;
    if ((c >> 25) & 1) f |= SEALIO_CPU_AESNI;
    if ((c >> 1) & 1) f |= SEALIO_CPU_PCLMUL;
    if (((c >> 19) & 1) && ssse3) f |= SEALIO_CPU_SSE41;
    const int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    uint64_t xcr0 = osxsave ? read_xcr0() : 0;
    const int ymm_ok = (xcr0 & 0x6) == 0x6;
    const int zmm_ok = ymm_ok && (xcr0 & 0xe0) == 0xe0;
    if (avx && ymm_ok) f |= SEALIO_CPU_AVX;
    if (__get_cpuid_max(0, 0) >= 7) {
        __cpuid_count(7, 0, a, b, c, d);
        if (ymm_ok && ((b >> 5) & 1)) f |= SEALIO_CPU_AVX2;
        if (ymm_ok && ((c >> 9) & 1)) f |= SEALIO_CPU_VAES;
        if (ymm_ok && ((c >> 10) & 1)) f |= SEALIO_CPU_VPCLMULQDQ;
        if (zmm_ok && ((b >> 16) & 1)) f |= SEALIO_CPU_AVX512F;
        if (zmm_ok && ((b >> 31) & 1)) f |= SEALIO_CPU_AVX512VL;
    }
    return f;
}
#else /* portable build: no kernel is available (internal.h) */
static unsigned probe(void) { return 0; }
#endif

#define PROBED (1u << 31)

unsigned sealio_cpu_features(void) {
    static _Atomic unsigned cached = 0;
    unsigned f = atomic_load_explicit(&cached, memory_order_relaxed);
    if (!(f & PROBED)) {
        f = probe() | PROBED;
        atomic_store_explicit(&cached, f, memory_order_relaxed);
    }
    return f & ~PROBED;
}

int sealio_kernel_available(int kernel) {
    const unsigned f = sealio_cpu_features();
    const unsigned base = SEALIO_CPU_AESNI | SEALIO_CPU_PCLMUL | SEALIO_CPU_SSE41;
    const unsigned wide = base | SEALIO_CPU_AVX | SEALIO_CPU_AVX2 |
                          SEALIO_CPU_VAES | SEALIO_CPU_VPCLMULQDQ;
    switch (kernel) {
    case SEALIO_KERNEL_AESNI: return (f & base) == base;
    case SEALIO_KERNEL_VAES: return (f & wide) == wide;
    default: return 0;
    }
}

int sealio_kernel_best(void) {
    if (sealio_kernel_available(SEALIO_KERNEL_VAES)) return SEALIO_KERNEL_VAES;
    if (sealio_kernel_available(SEALIO_KERNEL_AESNI)) return SEALIO_KERNEL_AESNI;
    return 0;
}

int sealio_kernel_resolve(int kernel) {
    if (kernel == SEALIO_KERNEL_AUTO) {
        int best = sealio_kernel_best();
        return best ? best : SEALIO_ERR_UNSUPPORTED;
    }
    if (kernel != SEALIO_KERNEL_AESNI && kernel != SEALIO_KERNEL_VAES)
        return SEALIO_ERR_ARG;
    return sealio_kernel_available(kernel) ? kernel : SEALIO_ERR_UNSUPPORTED;
}

const char *sealio_kernel_name(int kernel) {
    switch (kernel) {
    case SEALIO_KERNEL_AUTO: return "auto";
    case SEALIO_KERNEL_AESNI: return "aesni";
    case SEALIO_KERNEL_VAES: return "vaes";
    default: return "unknown";
    }
}

int sealio_abi_version(void) { return SEALIO_ABI_VERSION; }
