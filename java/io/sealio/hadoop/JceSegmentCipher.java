/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/** The pure-JCE segment cipher: one AES/GCM/NoPadding call per segment. */
final class JceSegmentCipher implements SegmentCipher {
  private final SecretKeySpec key;
  private final byte[] prefix;
  private final int segmentSize;
  private final Cipher gcm;

  JceSegmentCipher(byte[] kSeg, byte[] prefix, int segmentSize) {
    this.key = new SecretKeySpec(kSeg, "AES");
    this.prefix = prefix.clone();
    this.segmentSize = segmentSize;
    try {
      this.gcm = Cipher.getInstance("AES/GCM/NoPadding");
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES/GCM/NoPadding unavailable in this JVM", e);
    }
  }

  @Override
  public String name() {
    return "jce";
  }

  @Override
  public ByteBuffer allocate(int capacity) {
    return ByteBuffer.allocate(capacity);
  }

  @Override
  public int open(ByteBuffer in, int inLen, ByteBuffer out, long firstIndex, boolean last) throws BadSegment {
    byte[] src = in.array();
    byte[] dst = out.array();
    int full = segmentSize + SealedHeader.TAG;
    int at = 0;
    int produced = 0;
    for (long i = firstIndex; at < inLen; i++) {
      int len = Math.min(full, inLen - at);
      boolean isLast = last && at + len == inLen;
      try {
        gcm.init(Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, SegmentCipher.nonce(prefix, i, isLast)));
        produced += gcm.doFinal(src, in.arrayOffset() + at, len, dst, out.arrayOffset() + produced);
      } catch (AEADBadTagException e) {
        java.util.Arrays.fill(dst, out.arrayOffset(), out.arrayOffset() + produced, (byte) 0);
        throw new BadSegment(i - firstIndex);
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException("AES-GCM failed", e);
      }
      at += len;
    }
    return produced;
  }

  @Override
  public int seal(ByteBuffer in, int plainLen, ByteBuffer out, long firstIndex, boolean last) {
    byte[] src = in.array();
    byte[] dst = out.array();
    int at = 0;
    int produced = 0;
    long i = firstIndex;
    do {
      int len = Math.min(segmentSize, plainLen - at);
      boolean isLast = last && at + len == plainLen;
      try {
        gcm.init(Cipher.ENCRYPT_MODE, key, new GCMParameterSpec(128, SegmentCipher.nonce(prefix, i, isLast)));
        produced += gcm.doFinal(src, in.arrayOffset() + at, len, dst, out.arrayOffset() + produced);
      } catch (GeneralSecurityException e) {
        throw new IllegalStateException("AES-GCM failed", e);
      }
      at += len;
      i++;
    } while (at < plainLen);
    return produced;
  }

  @Override
  public void close() {}
}
