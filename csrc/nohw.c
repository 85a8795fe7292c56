/*
 * Portable build (no SEALIO_X86, see internal.h): stand-ins for the x86
 * kernel entry points so the library links on every target.
 *
 * They are unreachable: cpu.c reports no feature, so sealio_kernel_resolve
 * refuses every kernel with SEALIO_ERR_UNSUPPORTED, and no GCM or CBC
 * context (the only way to reach a kernel) is ever built. Reaching one is a
 * bug in the core, not bad input, so it aborts rather than return data.
 * The Python package then runs on its `cryptography` backend.
 *
 * Licensed under the Apache License, Version 2.0.
 */
#include <stdlib.h>

#include "internal.h"

#if !SEALIO_X86

int sealio_aes_expand_enc(aes_schedule *s, const uint8_t *key, size_t len) {
    (void)s, (void)key, (void)len;
    abort();
}

void sealio_aes_expand_dec(aes_schedule *dec, const aes_schedule *enc) {
    (void)dec, (void)enc;
    abort();
}

void sealio_aes_encrypt_block(const aes_schedule *s, const uint8_t in[16],
                              uint8_t out[16]) {
    (void)s, (void)in, (void)out;
    abort();
}

static void gcm_nohw(const struct sealio_gcm *ctx, const uint8_t j0[16],
                     const uint8_t *aad, size_t aad_len, const uint8_t *in,
                     size_t len, uint8_t *out, uint8_t tag[16], int decrypt) {
    (void)ctx, (void)j0, (void)aad, (void)aad_len, (void)in, (void)len;
    (void)out, (void)tag, (void)decrypt;
    abort();
}

void sealio_gcm_crypt_aesni(const struct sealio_gcm *ctx, const uint8_t j0[16],
                            const uint8_t *aad, size_t aad_len,
                            const uint8_t *in, size_t len, uint8_t *out,
                            uint8_t tag[16], int decrypt) {
    gcm_nohw(ctx, j0, aad, aad_len, in, len, out, tag, decrypt);
}

void sealio_gcm_crypt_vaes(const struct sealio_gcm *ctx, const uint8_t j0[16],
                           const uint8_t *aad, size_t aad_len,
                           const uint8_t *in, size_t len, uint8_t *out,
                           uint8_t tag[16], int decrypt) {
    gcm_nohw(ctx, j0, aad, aad_len, in, len, out, tag, decrypt);
}

void sealio_gcm_init_htab(struct sealio_gcm *ctx) {
    (void)ctx;
    abort();
}

static void cbc_nohw(const aes_schedule *s, const uint8_t iv[16],
                     const uint8_t *in, size_t len, uint8_t *out) {
    (void)s, (void)iv, (void)in, (void)len, (void)out;
    abort();
}

void sealio_cbc_enc_aesni(const aes_schedule *s, const uint8_t iv[16],
                          const uint8_t *in, size_t len, uint8_t *out) {
    cbc_nohw(s, iv, in, len, out);
}

void sealio_cbc_dec_aesni(const aes_schedule *dec, const uint8_t iv[16],
                          const uint8_t *in, size_t len, uint8_t *out) {
    cbc_nohw(dec, iv, in, len, out);
}

void sealio_cbc_dec_vaes(const aes_schedule *dec, const uint8_t iv[16],
                         const uint8_t *in, size_t len, uint8_t *out) {
    cbc_nohw(dec, iv, in, len, out);
}

#endif /* !SEALIO_X86 */
