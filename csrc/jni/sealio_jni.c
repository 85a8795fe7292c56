/*
 * JNI glue between io.sealio.hadoop.NativeGcm (java/) and sealio's C core
 * (csrc/include/sealio.h): key contexts and the STREAM segment batch API
 * on direct ByteBuffers, so a batch of segments costs one native call and
 * no Java allocation. Compiled at run time by sealio.spark.native_fs
 * (gcc, $JAVA_HOME/include) together with the C core's sources into one
 * shared library in sealio's cache directory; the JVM loads it with
 * System.load.
 *
 * Contract: every buffer argument must be a direct buffer whose capacity
 * covers the lengths passed (checked here; SEALIO_ERR_ARG otherwise); the
 * caller serialises calls on one context (JniSegmentCipher is synchronized).
 *
 * Licensed under the Apache License, Version 2.0.
 */
#include <jni.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sealio.h"

#define JFN(name) Java_io_sealio_hadoop_NativeGcm_##name

/* The address of a direct buffer holding at least `need` bytes, else NULL. */
static uint8_t *direct_at(JNIEnv *env, jobject buf, size_t need) {
    if (buf == NULL) {
        return NULL;
    }
    uint8_t *p = (*env)->GetDirectBufferAddress(env, buf);
    jlong cap = (*env)->GetDirectBufferCapacity(env, buf);
    if (p == NULL || cap < 0 || (size_t)cap < need) {
        return NULL;
    }
    return p;
}

/* Fill a sealio_segments from the Java arguments; 0 on success. */
static int segments_params(JNIEnv *env, jbyteArray prefix, jint first_index, jboolean last, jint segment_size,
                           sealio_segments *p, uint8_t prefix_buf[SEALIO_STREAM_PREFIX_BYTES]) {
    if (prefix == NULL || (*env)->GetArrayLength(env, prefix) != SEALIO_STREAM_PREFIX_BYTES || segment_size <= 0) {
        return SEALIO_ERR_ARG;
    }
    (*env)->GetByteArrayRegion(env, prefix, 0, SEALIO_STREAM_PREFIX_BYTES, (jbyte *)prefix_buf);
    memset(p, 0, sizeof(*p));
    p->segment_size = (size_t)segment_size;
    p->nonces = NULL;
    p->prefix = prefix_buf;
    p->first_index = (uint32_t)first_index;
    p->final = last ? 1 : 0;
    p->aad = NULL;
    p->aad_len = 0;
    p->threads = 1; /* Spark runs one task per core already */
    return SEALIO_OK;
}

JNIEXPORT jint JNICALL JFN(abiVersion)(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return sealio_abi_version();
}

JNIEXPORT jboolean JNICALL JFN(kernelAvailable)(JNIEnv *env, jclass cls) {
    (void)env;
    (void)cls;
    return sealio_kernel_best() != 0 ? JNI_TRUE : JNI_FALSE;
}

JNIEXPORT jlong JNICALL JFN(gcmNew)(JNIEnv *env, jclass cls, jbyteArray key) {
    (void)cls;
    uint8_t k[32];
    if (key == NULL || (*env)->GetArrayLength(env, key) != 32) {
        return 0;
    }
    (*env)->GetByteArrayRegion(env, key, 0, 32, (jbyte *)k);
    int status = 0;
    sealio_gcm *ctx = sealio_gcm_new(k, sizeof k, SEALIO_KERNEL_AUTO, &status);
    sealio_wipe(k, sizeof k);
    return (jlong)(intptr_t)ctx;
}

JNIEXPORT void JNICALL JFN(gcmFree)(JNIEnv *env, jclass cls, jlong ctx) {
    (void)env;
    (void)cls;
    sealio_gcm_free((sealio_gcm *)(intptr_t)ctx);
}

JNIEXPORT jint JNICALL JFN(openSegments)(JNIEnv *env, jclass cls, jlong ctx, jobject in, jint in_len, jobject out,
                                         jint out_cap, jbyteArray prefix, jint first_index, jboolean last,
                                         jint segment_size, jintArray bad) {
    (void)cls;
    sealio_segments p;
    uint8_t pre[SEALIO_STREAM_PREFIX_BYTES];
    if (ctx == 0 || in_len < 0 || out_cap < 0 ||
        segments_params(env, prefix, first_index, last, segment_size, &p, pre) != SEALIO_OK) {
        return SEALIO_ERR_ARG;
    }
    const uint8_t *src = direct_at(env, in, (size_t)in_len);
    uint8_t *dst = direct_at(env, out, (size_t)out_cap);
    if (src == NULL || dst == NULL) {
        return SEALIO_ERR_ARG;
    }
    size_t plain = 0;
    size_t bad_segment = 0;
    int rc = sealio_gcm_open_segments((const sealio_gcm *)(intptr_t)ctx, &p, src, (size_t)in_len, dst,
                                      (size_t)out_cap, &plain, &bad_segment);
    if (rc == SEALIO_ERR_AUTH && bad != NULL && (*env)->GetArrayLength(env, bad) >= 1) {
        jint b = (jint)bad_segment;
        (*env)->SetIntArrayRegion(env, bad, 0, 1, &b);
    }
    if (rc != SEALIO_OK) {
        return rc;
    }
    return plain > (size_t)INT32_MAX ? SEALIO_ERR_ARG : (jint)plain;
}

JNIEXPORT jint JNICALL JFN(sealSegments)(JNIEnv *env, jclass cls, jlong ctx, jobject in, jint plain_len, jobject out,
                                         jint out_cap, jbyteArray prefix, jint first_index, jboolean last,
                                         jint segment_size) {
    (void)cls;
    sealio_segments p;
    uint8_t pre[SEALIO_STREAM_PREFIX_BYTES];
    if (ctx == 0 || plain_len < 0 || out_cap < 0 ||
        segments_params(env, prefix, first_index, last, segment_size, &p, pre) != SEALIO_OK) {
        return SEALIO_ERR_ARG;
    }
    const uint8_t *src = direct_at(env, in, (size_t)plain_len);
    uint8_t *dst = direct_at(env, out, (size_t)out_cap);
    size_t need = sealio_segments_sealed_len((size_t)plain_len, (size_t)segment_size);
    if (src == NULL || dst == NULL || need > (size_t)out_cap || need > (size_t)INT32_MAX) {
        return SEALIO_ERR_ARG;
    }
    int rc = sealio_gcm_seal_segments((const sealio_gcm *)(intptr_t)ctx, &p, src, (size_t)plain_len, dst,
                                      (size_t)out_cap);
    return rc != SEALIO_OK ? rc : (jint)need;
}
