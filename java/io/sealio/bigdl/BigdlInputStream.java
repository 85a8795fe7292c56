/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.bigdl;

import java.io.EOFException;
import java.io.IOException;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSInputStream;

/**
 * The plaintext of the AES-CBC/PKCS5 ciphertext {@code file[start:end]},
 * seekable, so Spark's line readers can start a split anywhere.
 *
 * <p>With an HMAC key and tag (BigDL's common format) the constructor hashes
 * the whole ciphertext first and throws unless the tag matches, so no byte
 * of a tampered part is ever returned. It keeps the HMAC state at each
 * chunk's start and the digest at its end (a few hundred bytes a chunk), and
 * every later chunk read is hashed again against them before it is
 * decrypted: a file rewritten after the check fails too, in bounded memory.
 * Without a MAC (the native format) nothing can be checked but the padding.
 */
final class BigdlInputStream extends FSInputStream {
  static final int BLOCK = 16;
  static final int SLICE = 16 << 10; // bytes per Cipher/Mac call

  private final FSDataInputStream in;
  private final String name;
  private final long start;
  private final long ctLen;
  private final int chunk;
  private final int nChunks;
  private final SecretKeySpec aes;
  private final Cipher cipher;
  private final Mac[] states; // HMAC state at each chunk's start; null when unauthenticated
  private final byte[][] ends; // HMAC digest at each chunk's end
  private final byte[][] ivs; // each chunk's IV, read while authenticating
  private byte[] finalBlock; // the last ciphertext block, compared again when read
  private final long size;
  private final byte[] ct;
  private final byte[] pt;
  private int loaded = -1;
  private int ptLen;
  private long pos;
  private boolean closed;

  BigdlInputStream(FSDataInputStream in, String name, long start, long end, byte[] iv, byte[] aesKey,
      byte[] hmacKey, byte[] tag, int chunkSize) throws IOException {
    this.in = in;
    this.name = name;
    this.start = start;
    this.ctLen = end - start;
    if (ctLen < BLOCK || ctLen % BLOCK != 0) {
      throw new BigdlFileException(name, "the ciphertext is not a whole number of AES blocks (truncated?)");
    }
    long c = Math.max(BLOCK, chunkSize - chunkSize % BLOCK);
    this.chunk = (int) Math.min(c, ctLen);
    long n = (ctLen + chunk - 1) / chunk;
    if (n > Integer.MAX_VALUE) {
      throw new BigdlFileException(name, "too many chunks: raise the chunk size");
    }
    this.nChunks = (int) n;
    this.ct = new byte[chunk];
    this.pt = new byte[chunk];
    try {
      this.cipher = Cipher.getInstance("AES/CBC/NoPadding");
    } catch (GeneralSecurityException e) {
      throw new IOException("AES/CBC is not available in this JVM", e);
    }
    this.aes = new SecretKeySpec(aesKey, "AES");
    this.ivs = new byte[nChunks][];
    this.ivs[0] = iv.clone();
    byte[] finalIv;
    if (hmacKey != null && tag != null) {
      this.states = new Mac[nChunks];
      this.ends = new byte[nChunks][];
      finalIv = authenticate(hmacKey, tag);
    } else {
      this.states = null;
      this.ends = null;
      byte[] two = new byte[2 * BLOCK];
      if (ctLen == BLOCK) {
        System.arraycopy(iv, 0, two, 0, BLOCK);
        in.readFully(start, two, BLOCK, BLOCK);
      } else {
        in.readFully(start + ctLen - 2 * BLOCK, two, 0, 2 * BLOCK);
      }
      finalIv = Arrays.copyOfRange(two, 0, BLOCK);
      finalBlock = Arrays.copyOfRange(two, BLOCK, 2 * BLOCK);
    }
    byte[] last = new byte[BLOCK];
    decrypt(finalIv, finalBlock, BLOCK, last);
    int pad = padding(last, BLOCK);
    if (pad < 0) {
      throw new BigdlFileException(name, "bad CBC padding (" + (states != null
          ? "the MAC matched, so the AES key or the format is wrong" : "wrong key or a damaged file") + ")");
    }
    this.size = ctLen - pad;
  }

  /**
   * The plaintext size of {@code file[start:end]} from its final block alone
   * (not authenticated: for listings; opening the part checks the MAC).
   */
  static long plaintextSize(FSDataInputStream in, String name, long start, long end, byte[] iv, byte[] aesKey)
      throws IOException {
    long len = end - start;
    if (len < BLOCK || len % BLOCK != 0) {
      throw new BigdlFileException(name, "the ciphertext is not a whole number of AES blocks (truncated?)");
    }
    byte[] two = new byte[2 * BLOCK];
    if (len == BLOCK) {
      System.arraycopy(iv, 0, two, 0, BLOCK);
      in.readFully(start, two, BLOCK, BLOCK);
    } else {
      in.readFully(end - 2 * BLOCK, two, 0, 2 * BLOCK);
    }
    byte[] last;
    try {
      Cipher c = Cipher.getInstance("AES/CBC/NoPadding");
      c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(aesKey, "AES"), new IvParameterSpec(two, 0, BLOCK));
      last = c.doFinal(two, BLOCK, BLOCK);
    } catch (GeneralSecurityException e) {
      throw new BigdlFileException(name, "AES-CBC decryption failed (" + e.getClass().getSimpleName() + ")");
    }
    int pad = padding(last, BLOCK);
    if (pad < 0) {
      throw new BigdlFileException(name, "bad CBC padding");
    }
    return len - pad;
  }

  /** One hashing pass over the ciphertext; returns the final block's IV. */
  private byte[] authenticate(byte[] hmacKey, byte[] tag) throws IOException {
    Mac mac;
    try {
      mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(hmacKey, "HmacSHA256"));
    } catch (GeneralSecurityException e) {
      throw new IOException("HmacSHA256 is not available in this JVM", e);
    }
    byte[] prevBlock = ivs[0];
    byte[] finalIv = null;
    for (int i = 0; i < nChunks; i++) {
      int n = chunkLen(i);
      in.readFully(start + (long) i * chunk, ct, 0, n);
      states[i] = cloneOf(mac);
      update(mac, ct, n);
      ends[i] = cloneOf(mac).doFinal();
      if (i == nChunks - 1) {
        finalIv = n == BLOCK ? prevBlock : Arrays.copyOfRange(ct, n - 2 * BLOCK, n - BLOCK);
        finalBlock = Arrays.copyOfRange(ct, n - BLOCK, n);
      } else {
        prevBlock = Arrays.copyOfRange(ct, n - BLOCK, n);
        ivs[i + 1] = prevBlock;
      }
    }
    if (!MessageDigest.isEqual(ends[nChunks - 1], tag)) {
      throw new BigdlFileException(name, "BigDL HMAC mismatch: the file was modified, truncated, "
          + "or the key is wrong (no row of it was read)");
    }
    return finalIv;
  }

  private static void update(Mac mac, byte[] b, int n) {
    for (int at = 0; at < n; at += SLICE) {
      mac.update(b, at, Math.min(SLICE, n - at));
    }
  }

  private static Mac cloneOf(Mac mac) throws IOException {
    try {
      return (Mac) mac.clone();
    } catch (CloneNotSupportedException e) {
      throw new IOException("this JVM's HmacSHA256 cannot be cloned", e);
    }
  }

  private int chunkLen(int i) {
    return (int) Math.min(chunk, ctLen - (long) i * chunk);
  }

  private void decrypt(byte[] iv, byte[] src, int n, byte[] dst) throws IOException {
    try {
      cipher.init(Cipher.DECRYPT_MODE, aes, new IvParameterSpec(iv));
      for (int at = 0; at < n; at += SLICE) { // small calls: the JIT compiles (and intrinsifies) AES sooner
        int k = Math.min(SLICE, n - at);
        if (cipher.update(src, at, k, dst, at) != k) {
          throw new GeneralSecurityException("short CBC update");
        }
      }
      cipher.doFinal();
    } catch (GeneralSecurityException e) {
      throw new BigdlFileException(name, "AES-CBC decryption failed (" + e.getClass().getSimpleName() + ")");
    }
  }

  /** PKCS5 padding length of {@code p[0:n]}'s last block, or -1 when malformed. */
  private static int padding(byte[] p, int n) {
    int pad = p[n - 1] & 0xff;
    if (pad < 1 || pad > BLOCK) {
      return -1;
    }
    int bad = 0;
    for (int k = n - pad; k < n; k++) {
      bad |= (p[k] & 0xff) ^ pad;
    }
    return bad == 0 ? pad : -1;
  }

  private void load(int i) throws IOException {
    int n = chunkLen(i);
    long off = start + (long) i * chunk;
    byte[] iv;
    if (states != null || i == 0) {
      in.readFully(off, ct, 0, n);
      iv = ivs[i];
    } else { // unauthenticated: the IV is the previous ciphertext block
      iv = new byte[BLOCK];
      in.readFully(off - BLOCK, iv, 0, BLOCK);
      in.readFully(off, ct, 0, n);
    }
    boolean last = i == nChunks - 1;
    if (states != null) {
      Mac h = cloneOf(states[i]);
      update(h, ct, n);
      if (!MessageDigest.isEqual(h.doFinal(), ends[i])) {
        throw new BigdlFileException(name, "the ciphertext changed after it was authenticated");
      }
    }
    if (last && !MessageDigest.isEqual(Arrays.copyOfRange(ct, n - BLOCK, n), finalBlock)) {
      throw new BigdlFileException(name, "the file changed while it was being read");
    }
    loaded = -1;
    decrypt(iv, ct, n, pt);
    int got = last ? n - padding(pt, n) : n;
    if (got > n || got != Math.min(n, size - (long) i * chunk)) { // an unauthenticated file can change
      throw new BigdlFileException(name, "the file changed while it was being read");
    }
    ptLen = got;
    loaded = i;
  }

  @Override
  public synchronized int read(byte[] b, int off, int len) throws IOException {
    if (closed) {
      throw new IOException(name + ": stream closed");
    }
    if (off < 0 || len < 0 || len > b.length - off) {
      throw new IndexOutOfBoundsException();
    }
    if (len == 0) {
      return 0;
    }
    if (pos >= size) {
      return -1;
    }
    int i = (int) (pos / chunk);
    if (i != loaded) {
      load(i);
    }
    int at = (int) (pos - (long) i * chunk);
    int n = Math.min(len, ptLen - at);
    System.arraycopy(pt, at, b, off, n);
    pos += n;
    return n;
  }

  @Override
  public synchronized int read() throws IOException {
    byte[] one = new byte[1];
    int n = read(one, 0, 1);
    return n < 0 ? -1 : one[0] & 0xff;
  }

  @Override
  public synchronized void seek(long p) throws IOException {
    if (p < 0) {
      throw new EOFException(name + ": negative seek position");
    }
    pos = p;
  }

  @Override
  public synchronized long getPos() {
    return pos;
  }

  @Override
  public boolean seekToNewSource(long targetPos) {
    return false;
  }

  @Override
  public synchronized int available() {
    return (int) Math.max(0, Math.min(Integer.MAX_VALUE, size - pos));
  }

  /** The exact plaintext size. */
  long size() {
    return size;
  }

  @Override
  public synchronized void close() throws IOException {
    if (!closed) {
      closed = true;
      Arrays.fill(pt, (byte) 0);
      in.close();
    }
  }
}
