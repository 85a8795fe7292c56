/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.bigdl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.sealio.hadoop.WrappingFileSystem;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.Iterator;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FSInputStream;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;

/**
 * A read-only Hadoop FileSystem of BigDL PPML's encrypted CSV/JSON/text
 * output, so stock Spark reads it without BigDL's jars:
 * {@code bigdl://AUTHORITY/PATH} is the plaintext of
 * {@code INNER://AUTHORITY/PATH} ({@code fs.<scheme>.inner.scheme}, default
 * {@code file}, used raw: BigDL's .crc sidecars are not checked, the MAC is).
 *
 * <p>{@code fs.<scheme>.format} is {@code common} (BigDL >= 2.3's default:
 * 400-byte header, AES-CBC, HMAC-SHA256 over the ciphertext, verified over
 * the whole part before its first byte is returned) or {@code native}
 * ({@code nativeaescbc}: IV and AES-CBC, no MAC, so nothing but the padding
 * can be checked). The format is configured, never guessed, so a damaged
 * common header cannot downgrade a part to the unauthenticated format.
 * Keys: {@code fs.<scheme>.key.file}, a JSON key file as
 * sealio.bigdl.config reads it, else the same $SEALIO_BIGDL_* variables in
 * each JVM. Names starting with "." or "_" ({@code .meta}, {@code _SUCCESS},
 * .crc files) are bookkeeping, passed through as they are; a 0-byte part is
 * an empty partition. Listed sizes are exact plaintext sizes (the final
 * block is decrypted at listing), so Spark may split a part anywhere.
 */
public class BigdlFileSystem extends WrappingFileSystem {
  static final int HEADER_SIZE = 400;
  static final int IV_SIZE = 16;
  static final int MAC_SIZE = 32;
  static final int META_MAX = 64 << 10;

  private boolean common;
  private String keyFile;
  private int chunkSize;
  private volatile BigdlKeys keys;
  private final Map<String, BigdlKeys.DataKey> dataKeys = new ConcurrentHashMap<>();

  public BigdlFileSystem() {
    super("bigdl");
  }

  @Override
  public void initialize(URI name, Configuration conf) throws IOException {
    String prefix = "fs." + name.getScheme() + ".";
    initializeInner(name, conf, prefix + "inner.scheme");
    String fmt = conf.getTrimmed(prefix + "format", "common").toLowerCase(Locale.ROOT);
    if (fmt.equals("common")) {
      common = true;
    } else if (fmt.equals("native") || fmt.equals("nativeaescbc")) {
      common = false;
    } else {
      throw new IOException(prefix + "format must be common or native (BigDL's nativeaescbc), not '" + fmt + "'");
    }
    keyFile = conf.getTrimmed(prefix + "key.file", "");
    chunkSize = conf.getInt(prefix + "chunk.size", 1 << 20);
    if (chunkSize < 16 || chunkSize % 16 != 0) {
      throw new IOException(prefix + "chunk.size must be a positive multiple of 16");
    }
  }

  private BigdlKeys keys() throws IOException {
    BigdlKeys k = keys;
    if (k == null) {
      synchronized (this) {
        if (keys == null) {
          keys = BigdlKeys.fromSettings(BigdlKeys.settings(keyFile));
        }
        k = keys;
      }
    }
    return k;
  }

  /** BigDL's data files: nothing whose name starts with "." or "_" holds data. */
  static boolean isPart(Path p) {
    String n = p.getName();
    return !n.startsWith(".") && !n.startsWith("_");
  }

  @Override
  protected long outerLength(FileStatus st) {
    return st.getLen() > 0 && isPart(st.getPath()) ? plaintextLength(st) : st.getLen();
  }

  /**
   * The exact plaintext size from the header and the final block (no MAC
   * check: that is open's job). A part that cannot be sized is listed at an
   * upper bound, so no split loses data and opening it names the problem.
   */
  private long plaintextLength(FileStatus st) {
    long len = st.getLen();
    long bound = Math.max(0, len - (common ? HEADER_SIZE + MAC_SIZE : IV_SIZE) - 1);
    try (FSDataInputStream raw = inner().open(st.getPath())) {
      Part part = locate(raw, len, st.getPath());
      return BigdlInputStream.plaintextSize(raw, part.name, part.start, part.end, part.iv, part.aesKey);
    } catch (IOException | RuntimeException e) {
      return bound;
    }
  }

  /** Where one part's ciphertext lies and its keys (tag and HMAC key null without a MAC). */
  private static final class Part {
    final String name;
    final long start;
    final long end;
    final byte[] iv;
    final byte[] aesKey;
    final byte[] hmacKey;
    final byte[] tag;

    Part(String name, long start, long end, byte[] iv, byte[] aesKey, byte[] hmacKey, byte[] tag) {
      this.name = name;
      this.start = start;
      this.end = end;
      this.iv = iv;
      this.aesKey = aesKey;
      this.hmacKey = hmacKey;
      this.tag = tag;
    }
  }

  /** Parse one part's layout and find its keys (nothing decrypted or verified yet). */
  private Part locate(FSDataInputStream raw, long len, Path innerPath) throws IOException {
    String name = toOuter(innerPath).toString();
    if (common) {
      if (len < HEADER_SIZE + 16 + MAC_SIZE || (len - HEADER_SIZE - MAC_SIZE) % 16 != 0) {
        throw new BigdlFileException(name, "truncated or not a BigDL common-format file (" + len + " bytes)");
      }
      byte[] head = new byte[HEADER_SIZE];
      raw.readFully(0, head, 0, HEADER_SIZE);
      int keyLen = readInt(head, 0);
      int ivLen = readInt(head, 4);
      if (ivLen != IV_SIZE || keyLen < 0 || keyLen > HEADER_SIZE - 8 - IV_SIZE) {
        throw new BigdlFileException(name, "not a BigDL common-format file (header lengths " + keyLen + "/" + ivLen
            + ")");
      }
      String edk = new String(head, 8, keyLen, StandardCharsets.UTF_8);
      byte[] iv = java.util.Arrays.copyOfRange(head, 8 + keyLen, 8 + keyLen + IV_SIZE);
      if (edk.isEmpty()) { // BigDL's Python generate_encrypted_file writes no key: the directory's .meta has it
        edk = meta(innerPath.getParent(), name);
        if (edk == null || edk.isEmpty()) {
          throw new BigdlFileException(name, "the header carries no data key and the directory has no .meta "
              + "encryptedDataKey");
        }
      }
      BigdlKeys.DataKey dk = dataKey(edk, name);
      byte[] tag = new byte[MAC_SIZE];
      raw.readFully(len - MAC_SIZE, tag, 0, MAC_SIZE);
      return new Part(name, HEADER_SIZE, len - MAC_SIZE, iv, dk.aesKey, dk.hmacKey, tag);
    }
    if (len < 2 * IV_SIZE || len % 16 != 0) {
      throw new BigdlFileException(name, "not a BigDL native AES-CBC file (" + len + " bytes)");
    }
    byte[] iv = new byte[IV_SIZE];
    raw.readFully(0, iv, 0, IV_SIZE);
    return new Part(name, IV_SIZE, len, iv, nativeKey(innerPath.getParent(), name), null, null);
  }

  private static int readInt(byte[] b, int at) {
    return ((b[at] & 0xff) << 24) | ((b[at + 1] & 0xff) << 16) | ((b[at + 2] & 0xff) << 8) | (b[at + 3] & 0xff);
  }

  private BigdlKeys.DataKey dataKey(String edk, String name) throws IOException {
    BigdlKeys.DataKey dk = dataKeys.get(edk);
    if (dk == null) {
      try {
        dk = new BigdlKeys.DataKey(keys().unwrap(edk));
      } catch (BigdlFileException e) {
        throw e;
      } catch (IOException e) {
        throw new BigdlFileException(name, e.getMessage());
      }
      dataKeys.putIfAbsent(edk, dk);
    }
    return dk;
  }

  /** The native format's AES key: the plaintext primary key, or under a KMS the key .meta wraps. */
  private byte[] nativeKey(Path dir, String name) throws IOException {
    try {
      byte[] primary = keys().primaryKey();
      if (primary != null) {
        return primary;
      }
      String edk = meta(dir, name);
      if (edk == null || edk.isEmpty()) {
        throw new BigdlFileException(name, "native-format parts need the plaintext primary key, or a KMS and "
            + "the directory's .meta");
      }
      return BigdlKeys.decodePrimary(keys().unwrap(edk));
    } catch (BigdlFileException e) {
      throw e;
    } catch (IOException e) {
      throw new BigdlFileException(name, e.getMessage());
    }
  }

  /** The encryptedDataKey of {@code dir/.meta} (field name case-insensitive), or null without one. */
  private String meta(Path dir, String name) throws IOException {
    Path p = new Path(dir, ".meta");
    if (!inner().exists(p)) {
      return null;
    }
    long len = inner().getFileStatus(p).getLen();
    if (len > META_MAX) {
      throw new BigdlFileException(name, "the directory's .meta is larger than any BigDL .meta");
    }
    byte[] raw = new byte[(int) len];
    try (FSDataInputStream in = inner().open(p)) {
      in.readFully(0, raw, 0, raw.length);
    }
    String text = new String(raw, StandardCharsets.UTF_8).trim();
    if (text.isEmpty()) {
      return null;
    }
    JsonNode doc;
    try {
      doc = new ObjectMapper().readTree(text);
    } catch (IOException e) {
      throw new BigdlFileException(name, "the directory's .meta is not JSON");
    }
    Iterator<Map.Entry<String, JsonNode>> it = doc.fields();
    while (it.hasNext()) {
      Map.Entry<String, JsonNode> e = it.next();
      if (e.getKey().equalsIgnoreCase("encryptedDataKey") && e.getValue().isTextual()) {
        return e.getValue().asText();
      }
    }
    throw new BigdlFileException(name, "the directory's .meta has no encryptedDataKey field");
  }

  @Override
  public FSDataInputStream open(Path f, int bufferSize) throws IOException {
    Path p = toInner(f);
    FileStatus st = inner().getFileStatus(p);
    if (st.isDirectory()) {
      throw new FileNotFoundException(makeQualified(f) + " is a directory");
    }
    FSDataInputStream raw = inner().open(p, bufferSize);
    if (!isPart(p)) {
      return raw; // .meta, _SUCCESS, .crc: bookkeeping, no plaintext
    }
    if (st.getLen() == 0) {
      raw.close();
      return new FSDataInputStream(new Empty()); // BigDL's empty partition
    }
    try {
      Part part = locate(raw, st.getLen(), p);
      return new FSDataInputStream(new BigdlInputStream(raw, part.name, part.start, part.end, part.iv, part.aesKey,
          part.hmacKey, part.tag, chunkSize));
    } catch (IOException | RuntimeException e) {
      raw.close();
      throw e;
    }
  }

  /** A 0-byte part: an empty partition, read as empty. */
  private static final class Empty extends FSInputStream {
    private long pos;

    @Override
    public void seek(long p) throws IOException {
      if (p < 0) {
        throw new java.io.EOFException("negative seek position");
      }
      pos = p;
    }

    @Override
    public long getPos() {
      return pos;
    }

    @Override
    public boolean seekToNewSource(long targetPos) {
      return false;
    }

    @Override
    public int read() {
      return -1;
    }

    @Override
    public int read(byte[] b, int off, int len) {
      return len == 0 ? 0 : -1;
    }
  }

  private IOException readOnly(Path f) {
    return new IOException(makeQualified(f) + ": the BigDL filesystem is read-only (write sealed files "
        + "through sealed://)");
  }

  @Override
  public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite, int bufferSize,
      short replication, long blockSize, Progressable progress) throws IOException {
    throw readOnly(f);
  }

  @Override
  public FSDataOutputStream append(Path f, int bufferSize, Progressable progress) throws IOException {
    throw readOnly(f);
  }

  @Override
  public boolean rename(Path src, Path dst) throws IOException {
    throw readOnly(src);
  }

  @Override
  public boolean delete(Path f, boolean recursive) throws IOException {
    throw readOnly(f);
  }

  @Override
  public boolean mkdirs(Path f, FsPermission permission) throws IOException {
    throw readOnly(f);
  }

  @Override
  public void close() throws IOException {
    dataKeys.clear();
    super.close();
  }
}
