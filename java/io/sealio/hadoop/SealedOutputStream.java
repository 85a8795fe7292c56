/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;

/**
 * Seals what is written to it into a sealed file (docs/FORMAT.md, version
 * 1.1) on {@code out}: header first, then batches of segments. A full
 * batch is sealed only when more data follows, so the final segment (the
 * only one sealed with last = 1) is known at {@link #close}. Close
 * publishes the file through {@code commit}; any failure, or a stream
 * never closed, leaves only the temporary, which {@code discard} removes
 * (a failed or killed task leaves nothing readable as complete).
 */
final class SealedOutputStream extends OutputStream {
  /** Publishes or removes the temporary the ciphertext went to. */
  interface Target {
    void commit() throws IOException;

    void discard();
  }

  private static final SecureRandom RANDOM = new SecureRandom();
  private final OutputStream out;
  private final Target target;
  private final String file;
  private final SegmentCipher cipher;
  private final int seg;
  private final ByteBuffer pt;
  private final ByteBuffer ct;
  private final byte[] staging;
  private long index;
  private IOException failed;
  private boolean closed;

  SealedOutputStream(OutputStream out, Target target, String file, KekSource kms, String masterKey, int segmentLog2,
      boolean jni, int batchBytes, byte[] aad) throws IOException {
    this.out = out;
    this.target = target;
    this.file = file;
    this.seg = 1 << segmentLog2;
    SegmentCipher made = null;
    try {
      KekCache.WriterKek kek = KekCache.writer(kms, masterKey);
      SealedHeader.Inputs in = new SealedHeader.Inputs();
      in.dek = random(32);
      in.kek = kek.kek;
      in.kekId = kek.kekId;
      in.wrappedKek = kek.wrapped;
      in.salt = random(32);
      in.noncePrefix = random(SealedHeader.PREFIX);
      in.dekNonce = random(12);
      in.masterKeyId = masterKey;
      in.segmentLog2 = segmentLog2;
      in.aad = aad;
      byte[][] built;
      try {
        built = SealedHeader.build(in);
      } catch (GeneralSecurityException e) {
        throw new IOException(file + ": cannot seal: " + e.getMessage());
      } finally {
        SealedHeader.wipe(in.dek);
      }
      try {
        made = SegmentCiphers.create(built[1], in.noncePrefix, seg, jni);
      } finally {
        SealedHeader.wipe(built[1]);
      }
      out.write(built[0]);
    } catch (IOException | RuntimeException e) {
      if (made != null) {
        made.close();
      }
      abort();
      throw e;
    }
    this.cipher = made;
    int segs = Math.max(1, batchBytes / seg);
    this.pt = cipher.allocate(segs * seg);
    this.ct = cipher.allocate(segs * (seg + SealedHeader.TAG));
    this.staging = ct.hasArray() ? null : new byte[ct.capacity()];
  }

  private static byte[] random(int n) {
    byte[] b = new byte[n];
    RANDOM.nextBytes(b);
    return b;
  }

  private void check() throws IOException {
    if (failed != null) {
      throw failed;
    }
    if (closed) {
      throw new IOException(file + ": stream is closed");
    }
  }

  private void sealBatch(boolean last) throws IOException {
    int plain = pt.position();
    long segs = SealedHeader.segments(plain, seg);
    if (index + segs > SealedHeader.MAX_SEGMENTS) {
      throw new IOException(file + ": a sealed file holds at most 2^32 segments");
    }
    int len = cipher.seal(pt, plain, ct, index, last);
    if (ct.hasArray()) {
      out.write(ct.array(), ct.arrayOffset(), len);
    } else {
      ByteBuffer view = ct.duplicate();
      view.clear();
      view.get(staging, 0, len);
      out.write(staging, 0, len);
    }
    index += segs;
    pt.clear();
  }

  @Override
  public void write(int b) throws IOException {
    write(new byte[] {(byte) b}, 0, 1);
  }

  @Override
  public synchronized void write(byte[] b, int off, int len) throws IOException {
    check();
    if (off < 0 || len < 0 || len > b.length - off) {
      throw new IndexOutOfBoundsException();
    }
    try {
      while (len > 0) {
        if (!pt.hasRemaining()) {
          sealBatch(false); // more data follows: none of these segments is the last
        }
        int take = Math.min(len, pt.remaining());
        pt.put(b, off, take);
        off += take;
        len -= take;
      }
    } catch (IOException | RuntimeException e) {
      fail(e);
      throw e;
    }
  }

  /** Nothing to flush early: a partial segment cannot be sealed before its end is known. */
  @Override
  public void flush() {}

  private void fail(Exception e) {
    failed = e instanceof IOException ? (IOException) e : new IOException(file + ": sealing failed", e);
    cipher.close();
    abort();
  }

  private void abort() {
    try {
      out.close();
    } catch (IOException ignored) {
      // the temporary is removed below either way
    }
    target.discard();
  }

  @Override
  public synchronized void close() throws IOException {
    if (closed) {
      return;
    }
    check();
    closed = true;
    try {
      sealBatch(true);
      out.close();
      cipher.close();
      target.commit();
    } catch (IOException | RuntimeException e) {
      fail(e);
      throw e;
    }
  }
}
