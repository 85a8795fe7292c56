/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;

/**
 * Whole-file sealing from fixed inputs, for checking the writer against
 * the vectors of docs/FORMAT.md section 11 byte for byte, through either
 * segment cipher (the filesystem's writer is {@link SealedOutputStream},
 * which draws its inputs at random).
 */
public final class SealedBytes {
  private SealedBytes() {}

  /** The sealed file of {@code plaintext} under {@code in}; {@code jni} picks the C core if it is loaded. */
  public static byte[] seal(SealedHeader.Inputs in, byte[] plaintext, boolean jni) throws GeneralSecurityException {
    byte[][] built = SealedHeader.build(in);
    int seg = 1 << in.segmentLog2;
    try (SegmentCipher cipher = SegmentCiphers.create(built[1], in.noncePrefix, seg, jni)) {
      long n = SealedHeader.segments(plaintext.length, seg);
      ByteBuffer pt = cipher.allocate(Math.max(1, plaintext.length));
      pt.put(plaintext).clear();
      ByteBuffer ct = cipher.allocate((int) (plaintext.length + n * SealedHeader.TAG));
      int len = cipher.seal(pt, plaintext.length, ct, 0, true);
      byte[] out = new byte[SealedHeader.SIZE + len];
      System.arraycopy(built[0], 0, out, 0, SealedHeader.SIZE);
      ct.get(out, SealedHeader.SIZE, len);
      return out;
    } finally {
      SealedHeader.wipe(built[1]);
    }
  }

  /** "jni" or "jce": what {@link #seal} and the readers use with {@code jni} set. */
  public static String cipherName(boolean jni) {
    try (SegmentCipher c = SegmentCiphers.create(new byte[32], new byte[7], 4096, jni)) {
      return c.name();
    }
  }
}
