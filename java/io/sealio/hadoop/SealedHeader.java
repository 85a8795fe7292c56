/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import io.sealio.hadoop.SealedFileException.Kind;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.Arrays;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.Mac;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * The 1024-byte header of a sealed file (docs/FORMAT.md sections 3-4, 7):
 * strict parsing in the order of section 3.1, key derivation, the size
 * arithmetic, and building a header for a writer. Pure functions over
 * bytes: no I/O; the KMS is reached through a {@link KekSource}.
 */
public final class SealedHeader {
  public static final int SIZE = 1024;
  public static final int TAG = 16;
  public static final int PREFIX = 7;
  static final byte[] MAGIC = {(byte) 0x89, 'S', 'E', 'A', 'L', 'I', 'O', '\n'};
  private static final int OFF_SALT = 16;
  private static final int OFF_PREFIX = 48;
  private static final int OFF_MINOR = 55;
  private static final int OFF_KEK_ID = 56;
  private static final int OFF_MKID_LEN = 72;
  private static final int OFF_MKID = 73;
  private static final int MKID_MAX = 160;
  private static final int OFF_WKEK_LEN = 233;
  private static final int OFF_WKEK = 235;
  private static final int OFF_COMMIT = 900;
  private static final int OFF_DEK_NONCE = 932;
  private static final int OFF_WRAPPED_DEK = 944;
  private static final int OFF_MAC = 992;
  private static final byte[] DEK_AAD = "sealio/v1/dek".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] LABEL_10 = "sealio/v1".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] LABEL_11 = "sealio/v1.1".getBytes(StandardCharsets.US_ASCII);
  public static final long MAX_SEGMENTS = 1L << 32;

  final byte[] bytes; // the whole header as stored
  final int segmentLog2;
  final int minor;
  final String masterKeyId;
  final String wrappedKek;

  private SealedHeader(byte[] bytes, int segmentLog2, int minor, String masterKeyId, String wrappedKek) {
    this.bytes = bytes;
    this.segmentLog2 = segmentLog2;
    this.minor = minor;
    this.masterKeyId = masterKeyId;
    this.wrappedKek = wrappedKek;
  }

  public int segmentSize() {
    return 1 << segmentLog2;
  }

  public int minorVersion() {
    return minor;
  }

  public String masterKeyId() {
    return masterKeyId;
  }

  byte[] noncePrefix() {
    return Arrays.copyOfRange(bytes, OFF_PREFIX, OFF_PREFIX + PREFIX);
  }

  /**
   * Steps 1-3 of section 3.1 on the first {@code got} bytes of a file
   * ({@code head} holds at least min(got, 1024) bytes).
   */
  public static SealedHeader parse(byte[] head, int got, String file, boolean requireCommitment)
      throws SealedFileException {
    int magic = Math.min(got, MAGIC.length);
    if (got == 0 || !Arrays.equals(head, 0, magic, MAGIC, 0, magic)) {
      throw new SealedFileException(Kind.NOT_SEALED, file,
          "not a sealed file (no sealio magic): plaintext or another format is never passed through");
    }
    if (got < 12) {
      throw new SealedFileException(Kind.PAYLOAD, file, "truncated sealed file (cut inside the header)");
    }
    if (head[8] != 1 || head[9] != 1) {
      throw new SealedFileException(Kind.UNSUPPORTED, file,
          "unsupported sealed format version " + (head[8] & 0xff) + " / suite " + (head[9] & 0xff));
    }
    if (got < SIZE) {
      throw new SealedFileException(Kind.PAYLOAD, file, "truncated sealed file (cut inside the header)");
    }
    int minor = head[OFF_MINOR] & 0xff;
    if (minor > 1) {
      throw new SealedFileException(Kind.UNSUPPORTED, file, "unsupported minor version " + minor);
    }
    if (requireCommitment && minor != 1) {
      throw new SealedFileException(Kind.UNSUPPORTED, file,
          "version 1.0 file has no key commitment (strict mode requires 1.1)");
    }
    byte[] h = Arrays.copyOf(head, SIZE);
    if (ByteBuffer.wrap(h, 12, 4).getInt() != SIZE) {
      throw malformed(file, "header size");
    }
    int log2 = h[10] & 0xff;
    if (log2 < 12 || log2 > 22 || h[11] != 0) {
      throw malformed(file, "segment size or reserved byte");
    }
    int n = h[OFF_MKID_LEN] & 0xff;
    if (n > MKID_MAX || !zero(h, OFF_MKID + n, OFF_WKEK_LEN)) {
      throw malformed(file, "master key id");
    }
    int w = ((h[OFF_WKEK_LEN] & 0xff) << 8) | (h[OFF_WKEK_LEN + 1] & 0xff);
    int wkekEnd = minor == 1 ? OFF_COMMIT : OFF_DEK_NONCE;
    if (w < 1 || w > wkekEnd - OFF_WKEK || !zero(h, OFF_WKEK + w, wkekEnd)) {
      throw malformed(file, "wrapped KEK length or padding");
    }
    for (int i = OFF_WKEK; i < OFF_WKEK + w; i++) {
      if (h[i] < 0x20 || h[i] > 0x7e) {
        throw malformed(file, "wrapped KEK is not printable ASCII");
      }
    }
    String mkid;
    try {
      mkid = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(h, OFF_MKID, n)).toString();
    } catch (CharacterCodingException e) {
      throw malformed(file, "master key id is not UTF-8");
    }
    String wkek = new String(h, OFF_WKEK, w, StandardCharsets.US_ASCII);
    return new SealedHeader(h, log2, minor, mkid, wkek);
  }

  private static SealedFileException malformed(String file, String what) {
    return new SealedFileException(Kind.FORMAT, file, "malformed sealed header (" + what + ")");
  }

  private static boolean zero(byte[] b, int from, int to) {
    for (int i = from; i < to; i++) {
      if (b[i] != 0) {
        return false;
      }
    }
    return true;
  }

  /**
   * Steps 4-8: unwrap the KEK (cached), the DEK, derive the keys, check the
   * commitment (1.1) and the MAC. Returns K_seg.
   */
  public byte[] open(KekSource kms, byte[] aad, String file) throws SealedFileException {
    byte[] kek;
    try {
      kek = KekCache.unwrap(kms, masterKeyId, wrappedKek);
    } catch (SealedFileException e) {
      throw e;
    } catch (Exception e) {
      throw new SealedFileException(Kind.HEADER, file, "the KMS did not unwrap the file's KEK under master key '"
          + masterKeyId + "' (" + e.getMessage() + ")");
    }
    byte[] dek = null;
    byte[] okm = null;
    try {
      try {
        Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
        gcm.init(Cipher.DECRYPT_MODE, new SecretKeySpec(kek, "AES"),
            new GCMParameterSpec(128, bytes, OFF_DEK_NONCE, 12));
        gcm.updateAAD(DEK_AAD);
        gcm.updateAAD(bytes, OFF_KEK_ID, 16);
        dek = gcm.doFinal(bytes, OFF_WRAPPED_DEK, 48);
      } catch (AEADBadTagException e) {
        throw authFailure(file);
      }
      okm = derive(dek, bytes, minor, aad);
      if (minor == 1 && !MessageDigest.isEqual(Arrays.copyOfRange(okm, 64, 96),
          Arrays.copyOfRange(bytes, OFF_COMMIT, OFF_COMMIT + 32))) {
        throw authFailure(file);
      }
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(okm, 32, 32, "HmacSHA256"));
      mac.update(bytes, 0, OFF_MAC);
      if (!MessageDigest.isEqual(mac.doFinal(), Arrays.copyOfRange(bytes, OFF_MAC, SIZE))) {
        throw authFailure(file);
      }
      return Arrays.copyOf(okm, 32);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM / HMAC-SHA256 unavailable in this JVM", e);
    } finally {
      wipe(dek);
      wipe(okm);
    }
  }

  private static SealedFileException authFailure(String file) {
    return new SealedFileException(Kind.HEADER, file, "header authentication failed (wrong key or AAD, or "
        + "tampered header; a file sealed with bindPath cannot be read under another name)");
  }

  static void wipe(byte[] b) {
    if (b != null) {
      Arrays.fill(b, (byte) 0);
    }
  }

  /** HKDF-SHA256 of section 4: 64 bytes (1.0) or 96 (1.1). */
  static byte[] derive(byte[] dek, byte[] header, int minor, byte[] aad) throws GeneralSecurityException {
    byte[] label = minor == 1 ? LABEL_11 : LABEL_10;
    int length = minor == 1 ? 96 : 64;
    ByteBuffer info = ByteBuffer.allocate(label.length + 16 + PREFIX + 32);
    info.put(label).put(header, 0, 16).put(header, OFF_PREFIX, PREFIX)
        .put(MessageDigest.getInstance("SHA-256").digest(aad));
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(Arrays.copyOfRange(header, OFF_SALT, OFF_SALT + 32), "HmacSHA256"));
    byte[] prk = mac.doFinal(dek);
    mac.init(new SecretKeySpec(prk, "HmacSHA256"));
    wipe(prk);
    byte[] okm = new byte[length];
    byte[] t = new byte[0];
    for (int i = 1, at = 0; at < length; i++) {
      mac.update(t);
      mac.update(info.array());
      mac.update((byte) i);
      t = mac.doFinal();
      System.arraycopy(t, 0, okm, at, Math.min(32, length - at));
      at += 32;
    }
    return okm;
  }

  /**
   * Plaintext size for a file of {@code fileSize} bytes (section 7), or -1
   * when no sealed file of this segment size has that size.
   */
  public static long plaintextSize(long fileSize, int segmentSize) {
    long c = fileSize - SIZE;
    if (c < TAG) {
      return -1;
    }
    long full = (long) segmentSize + TAG;
    long n = (c + full - 1) / full;
    long r = c - (n - 1) * full;
    if ((r < TAG + 1 && !(r == TAG && n == 1)) || n > MAX_SEGMENTS) {
      return -1;
    }
    return c - TAG * n;
  }

  /** Number of segments of a plaintext of {@code size} bytes. */
  public static long segments(long size, int segmentSize) {
    return Math.max(1, (size + segmentSize - 1) / segmentSize);
  }

  /** What a writer draws for one file (every value random, except in vector tests). */
  public static final class Inputs {
    public byte[] dek;
    public byte[] kekId;
    public byte[] kek;
    public String wrappedKek;
    public byte[] salt;
    public byte[] noncePrefix;
    public byte[] dekNonce;
    public String masterKeyId;
    public int segmentLog2 = 16;
    public int minor = 1;
    public byte[] aad = new byte[0];
  }

  /** The header and K_seg ([0]: header, [1]: K_seg) for {@code in} (section 5.1). */
  public static byte[][] build(Inputs in) throws GeneralSecurityException {
    byte[] mkid = in.masterKeyId.getBytes(StandardCharsets.UTF_8);
    byte[] wkek = in.wrappedKek.getBytes(StandardCharsets.US_ASCII);
    int room = (in.minor == 1 ? OFF_COMMIT : OFF_DEK_NONCE) - OFF_WKEK;
    if (mkid.length > MKID_MAX || wkek.length < 1 || wkek.length > room) {
      throw new GeneralSecurityException("master key id or wrapped KEK too long for the header");
    }
    for (byte b : wkek) {
      if (b < 0x20 || b > 0x7e) {
        throw new GeneralSecurityException("the KMS returned a wrapped KEK that is not printable ASCII");
      }
    }
    byte[] h = new byte[SIZE];
    System.arraycopy(MAGIC, 0, h, 0, 8);
    h[8] = 1;
    h[9] = 1;
    h[10] = (byte) in.segmentLog2;
    ByteBuffer.wrap(h, 12, 4).putInt(SIZE);
    System.arraycopy(in.salt, 0, h, OFF_SALT, 32);
    System.arraycopy(in.noncePrefix, 0, h, OFF_PREFIX, PREFIX);
    h[OFF_MINOR] = (byte) in.minor;
    System.arraycopy(in.kekId, 0, h, OFF_KEK_ID, 16);
    h[OFF_MKID_LEN] = (byte) mkid.length;
    System.arraycopy(mkid, 0, h, OFF_MKID, mkid.length);
    h[OFF_WKEK_LEN] = (byte) (wkek.length >> 8);
    h[OFF_WKEK_LEN + 1] = (byte) wkek.length;
    System.arraycopy(wkek, 0, h, OFF_WKEK, wkek.length);
    System.arraycopy(in.dekNonce, 0, h, OFF_DEK_NONCE, 12);
    Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
    gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(in.kek, "AES"), new GCMParameterSpec(128, in.dekNonce));
    gcm.updateAAD(DEK_AAD);
    gcm.updateAAD(in.kekId);
    gcm.doFinal(in.dek, 0, 32, h, OFF_WRAPPED_DEK);
    byte[] okm = derive(in.dek, h, in.minor, in.aad);
    try {
      if (in.minor == 1) {
        System.arraycopy(okm, 64, h, OFF_COMMIT, 32);
      }
      Mac mac = Mac.getInstance("HmacSHA256");
      mac.init(new SecretKeySpec(okm, 32, 32, "HmacSHA256"));
      mac.update(h, 0, OFF_MAC);
      System.arraycopy(mac.doFinal(), 0, h, OFF_MAC, 32);
      return new byte[][] {h, Arrays.copyOf(okm, 32)};
    } finally {
      wipe(okm);
    }
  }
}
