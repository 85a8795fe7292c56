/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.nio.ByteBuffer;

/**
 * The JNI glue (csrc/jni/sealio_jni.c) over sealio's C core, loaded once
 * per JVM with {@link System#load} from the library that
 * {@code sealio.spark.native_fs.jni_library()} compiles into sealio's cache
 * directory. If the library is missing or does not load, {@link #available}
 * says so and the filesystem uses the JCE cipher.
 */
final class NativeGcm {
  static final int ERR_AUTH = -1;
  private static String loadedFrom;
  private static String failure;

  private NativeGcm() {}

  /** Load {@code path} (first call wins); true when the native cipher can run. */
  static synchronized boolean load(String path) {
    if (loadedFrom != null) {
      return true;
    }
    if (path == null || path.isEmpty()) {
      if (failure == null) {
        failure = "no library configured (fs.sealed.jni.library or $SEALIO_JNI_LIBRARY)";
      }
      return false;
    }
    try {
      System.load(path);
      if (abiVersion() < 2 || !kernelAvailable()) { // the segment batch API came with ABI 2
        failure = "C core older than ABI 2, or no AES-NI kernel on this CPU";
        return false;
      }
      loadedFrom = path;
      failure = null;
      return true;
    } catch (UnsatisfiedLinkError | SecurityException e) {
      failure = e.getClass().getSimpleName() + ": " + e.getMessage();
      return false;
    }
  }

  static synchronized String failure() {
    return failure;
  }

  static native int abiVersion();

  static native boolean kernelAvailable();

  static native long gcmNew(byte[] key);

  static native void gcmFree(long ctx);

  static native int openSegments(long ctx, ByteBuffer in, int inLen, ByteBuffer out, int outCap, byte[] prefix,
      int firstIndex, boolean last, int segmentSize, int[] badSegment);

  static native int sealSegments(long ctx, ByteBuffer in, int plainLen, ByteBuffer out, int outCap, byte[] prefix,
      int firstIndex, boolean last, int segmentSize);
}
