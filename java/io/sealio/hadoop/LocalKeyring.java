/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * sealio's local keyring file (docs/FORMAT.md appendix A, the Python
 * {@code sealio.LocalKeyring}): named, versioned 32-byte master keys;
 * {@code wrap} gives {@code "sealio-lk1:<version>:" + base64(nonce || GCM(master, key,
 * "sealio/keyring/v1/wrap\0" + name + "\0" + version))} under the newest
 * version, and {@code unwrap} uses the version the text names, so wrapped
 * keys from both sides are interchangeable. A passphrase-protected
 * keyring is refused: the JVM side does not run scrypt.
 */
public final class LocalKeyring extends ConfiguredKekSource {
  private static final String PREFIX = "sealio-lk1";
  private static final byte[] WRAP_AAD = "sealio/keyring/v1/wrap\0".getBytes(StandardCharsets.US_ASCII);
  private static final long MAX_BYTES = 4L << 20;
  private static final SecureRandom RANDOM = new SecureRandom();

  private final String path;
  private final Map<String, TreeMap<Integer, byte[]>> keys;

  private LocalKeyring(String config, String path, Map<String, TreeMap<Integer, byte[]>> keys, String def) {
    super(config, def);
    this.path = path;
    this.keys = keys;
  }

  /** Load {@code local:///abs/path/keyring.json} (the Python configuration string). */
  public static LocalKeyring fromConfig(String config) throws IOException {
    URI parsed;
    try {
      parsed = URI.create(config);
    } catch (IllegalArgumentException e) {
      throw new IOException("sealio keys must be local:///absolute/path/keyring.json");
    }
    String host = parsed.getHost();
    if (!"local".equals(parsed.getScheme()) || parsed.getPath() == null || !parsed.getPath().startsWith("/")
        || (host != null && !host.isEmpty() && !host.equals("localhost")) || parsed.getQuery() != null
        || parsed.getUserInfo() != null) {
      throw new IOException("a local keyring is configured as local:///absolute/path/keyring.json "
          + "(the JVM side also reads vault+https://... and aws-kms://...)");
    }
    return load("local://" + parsed.getPath(), parsed.getPath());
  }

  /**
   * Load the keyring file at {@code path} as it is named (no URI to check):
   * the parquet KMS client's entry, which shares this parsing but wraps in
   * parquet-java's own format with {@link #masterKeys}.
   */
  public static LocalKeyring fromPath(String path) throws IOException {
    return load("local://" + path, path);
  }

  private static LocalKeyring load(String config, String path) throws IOException {
    File f = new File(path);
    if (f.length() > MAX_BYTES) {
      throw new IOException("keyring " + path + " is larger than 4 MiB: refused unread");
    }
    JsonNode doc;
    try {
      doc = new ObjectMapper().readTree(f);
    } catch (IOException e) {
      throw new IOException("cannot read keyring " + path + " (" + e.getClass().getSimpleName() + ")");
    }
    if (doc == null || !"sealio-keyring".equals(doc.path("format").asText()) || doc.path("version").asInt() != 1) {
      throw new IOException(path + " is not a sealio keyring (version 1)");
    }
    if (doc.has("kdf") || doc.has("sealed")) {
      throw new IOException("keyring " + path + " is passphrase-protected; the JVM side reads only "
          + "unprotected keyrings (mode 0600)");
    }
    Map<String, TreeMap<Integer, byte[]>> out = new HashMap<>();
    Iterator<Map.Entry<String, JsonNode>> names = doc.path("keys").fields();
    while (names.hasNext()) {
      Map.Entry<String, JsonNode> entry = names.next();
      TreeMap<Integer, byte[]> versions = new TreeMap<>();
      for (JsonNode item : entry.getValue().path("versions")) {
        byte[] key;
        try {
          key = Base64.getDecoder().decode(item.path("key").asText());
        } catch (IllegalArgumentException e) {
          key = new byte[0];
        }
        int v = item.path("version").asInt(0);
        if (key.length != 32 || !item.path("version").canConvertToInt() || v < 1 || versions.containsKey(v)) {
          throw new IOException("keyring " + path + " is malformed (master key '" + entry.getKey() + "')");
        }
        versions.put(v, key);
      }
      if (versions.isEmpty()) {
        throw new IOException("keyring " + path + " is malformed (master key '" + entry.getKey() + "')");
      }
      out.put(entry.getKey(), versions);
    }
    String def = doc.path("default").isTextual() ? doc.path("default").asText() : null;
    return new LocalKeyring(config, path, out, def);
  }

  private TreeMap<Integer, byte[]> versions(String name) throws IOException {
    TreeMap<Integer, byte[]> found = keys.get(name);
    if (found == null) {
      throw new IOException("master key '" + name + "' is not in keyring " + path);
    }
    return found;
  }

  /** The versions of master key {@code name}, newest first (parquet-java's local wrap tries each). */
  public List<byte[]> masterKeys(String name) throws IOException {
    return new ArrayList<>(versions(name).descendingMap().values());
  }

  private static byte[] aad(String name, int version) {
    return joined(WRAP_AAD, name + "\0" + version);
  }

  @Override
  public String wrapKey(byte[] key, String masterKeyId) throws IOException {
    Map.Entry<Integer, byte[]> newest = versions(masterKeyId).lastEntry();
    byte[] nonce = new byte[12];
    RANDOM.nextBytes(nonce);
    try {
      Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
      gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(newest.getValue(), "AES"), new GCMParameterSpec(128, nonce));
      gcm.updateAAD(aad(masterKeyId, newest.getKey()));
      byte[] ct = gcm.doFinal(key);
      byte[] raw = new byte[12 + ct.length];
      System.arraycopy(nonce, 0, raw, 0, 12);
      System.arraycopy(ct, 0, raw, 12, ct.length);
      return PREFIX + ":" + newest.getKey() + ":" + Base64.getEncoder().encodeToString(raw);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM unavailable in this JVM", e);
    }
  }

  @Override
  public byte[] unwrapKey(String wrappedKey, String masterKeyId) throws IOException {
    String[] parts = wrappedKey.split(":", -1);
    if (parts.length != 3 || !PREFIX.equals(parts[0]) || !parts[1].matches("[1-9][0-9]{0,9}")) {
      throw new IOException("wrapped key is malformed or not from a sealio keyring");
    }
    int v;
    try {
      v = Integer.parseInt(parts[1]);
    } catch (NumberFormatException e) {
      throw new IOException("wrapped key is malformed or not from a sealio keyring");
    }
    byte[] master = versions(masterKeyId).get(v);
    if (master == null) {
      throw new IOException("master key '" + masterKeyId + "' version " + v + " is not in keyring " + path);
    }
    byte[] raw;
    try {
      raw = Base64.getDecoder().decode(parts[2]);
    } catch (IllegalArgumentException e) {
      raw = new byte[0];
    }
    if (raw.length < 28) {
      throw new IOException("wrapped key is malformed or not from a sealio keyring");
    }
    try {
      Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
      gcm.init(Cipher.DECRYPT_MODE, new SecretKeySpec(master, "AES"), new GCMParameterSpec(128, raw, 0, 12));
      gcm.updateAAD(aad(masterKeyId, v));
      return gcm.doFinal(raw, 12, raw.length - 12);
    } catch (AEADBadTagException e) {
      throw new IOException("wrapped key did not authenticate under master key '" + masterKeyId + "' v" + v);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("AES-GCM unavailable in this JVM", e);
    }
  }
}
