/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.nio.ByteBuffer;

/**
 * AES-256-GCM over a batch of consecutive STREAM segments of one file
 * (docs/FORMAT.md section 6) under that file's K_seg and nonce prefix.
 * Two implementations: {@link JniSegmentCipher} (sealio's C core over JNI,
 * direct buffers) and {@link JceSegmentCipher} (javax.crypto, heap
 * buffers); {@link #allocate} gives the buffers the implementation wants.
 * Buffers are read from position 0; positions and limits are not changed.
 */
interface SegmentCipher extends AutoCloseable {
  /** "jni" or "jce". */
  String name();

  ByteBuffer allocate(int capacity);

  /**
   * Decrypt {@code inLen} bytes of whole sealed segments (the last may be
   * short if {@code last}) into {@code out}; returns the plaintext length.
   * Throws {@link BadSegment} naming the batch-relative index of the first
   * segment that does not authenticate; nothing of the batch is to be used then.
   */
  int open(ByteBuffer in, int inLen, ByteBuffer out, long firstIndex, boolean last) throws BadSegment;

  /** Encrypt {@code plainLen} bytes into whole sealed segments; returns their length. */
  int seal(ByteBuffer in, int plainLen, ByteBuffer out, long firstIndex, boolean last);

  @Override
  void close();

  /** A segment failed authentication. */
  final class BadSegment extends Exception {
    private static final long serialVersionUID = 1L;
    final long index;

    BadSegment(long index) {
      super("segment " + index + " failed authentication", null, false, false);
      this.index = index;
    }
  }

  static byte[] nonce(byte[] prefix, long index, boolean last) {
    byte[] n = new byte[12];
    System.arraycopy(prefix, 0, n, 0, 7);
    n[7] = (byte) (index >>> 24);
    n[8] = (byte) (index >>> 16);
    n[9] = (byte) (index >>> 8);
    n[10] = (byte) index;
    n[11] = (byte) (last ? 1 : 0);
    return n;
  }
}
