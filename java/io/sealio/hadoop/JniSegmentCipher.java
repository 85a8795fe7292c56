/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.nio.ByteBuffer;

/**
 * The segment cipher of sealio's C core (csrc/, the segment batch API of
 * sealio.h) over JNI: one native call per batch, on direct buffers, no
 * per-segment allocation. The C key context is wiped and freed on close.
 */
final class JniSegmentCipher implements SegmentCipher {
  private final byte[] prefix;
  private final int segmentSize;
  private final int[] bad = new int[1];
  private long ctx;

  JniSegmentCipher(byte[] kSeg, byte[] prefix, int segmentSize) {
    this.prefix = prefix.clone();
    this.segmentSize = segmentSize;
    long made = NativeGcm.gcmNew(kSeg);
    if (made == 0) {
      throw new IllegalStateException("sealio's C core could not set up an AES-GCM key (no AES-NI kernel?)");
    }
    this.ctx = made;
  }

  @Override
  public String name() {
    return "jni";
  }

  @Override
  public ByteBuffer allocate(int capacity) {
    return ByteBuffer.allocateDirect(capacity);
  }

  @Override
  public synchronized int open(ByteBuffer in, int inLen, ByteBuffer out, long firstIndex, boolean last)
      throws BadSegment {
    int got = NativeGcm.openSegments(ctx, in, inLen, out, out.capacity(), prefix, (int) firstIndex, last,
        segmentSize, bad);
    if (got == NativeGcm.ERR_AUTH) {
      throw new BadSegment(bad[0] & 0xffffffffL);
    }
    if (got < 0) {
      throw new IllegalStateException("sealio C core: open_segments failed (" + got + ")");
    }
    return got;
  }

  @Override
  public synchronized int seal(ByteBuffer in, int plainLen, ByteBuffer out, long firstIndex, boolean last) {
    int got = NativeGcm.sealSegments(ctx, in, plainLen, out, out.capacity(), prefix, (int) firstIndex, last,
        segmentSize);
    if (got < 0) {
      throw new IllegalStateException("sealio C core: seal_segments failed (" + got + ")");
    }
    return got;
  }

  @Override
  public synchronized void close() {
    if (ctx != 0) {
      NativeGcm.gcmFree(ctx);
      ctx = 0;
    }
  }
}
