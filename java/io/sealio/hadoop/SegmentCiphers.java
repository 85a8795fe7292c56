/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

/** Chooses the segment cipher: the C core when its JNI library loaded and is wanted, else JCE. */
final class SegmentCiphers {
  private SegmentCiphers() {}

  static SegmentCipher create(byte[] kSeg, byte[] prefix, int segmentSize, boolean jni) {
    if (jni && NativeGcm.load(null)) {
      return new JniSegmentCipher(kSeg, prefix, segmentSize);
    }
    return new JceSegmentCipher(kSeg, prefix, segmentSize);
  }
}
