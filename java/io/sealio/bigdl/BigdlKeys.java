/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.bigdl;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Base64;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;

/**
 * BigDL PPML's key sources, with BigDL's arithmetic (sealio.bigdl.keys):
 * a plaintext primary key (base64 AES key wrapping data-key strings with
 * AES/ECB/PKCS5) or SimpleKeyManagementService (digit arithmetic on the
 * primary key file's first line). The settings are those of
 * sealio.bigdl.config: a JSON key file under the same names, else the same
 * environment variables, so no key ever sits in a Hadoop or Spark conf.
 */
final class BigdlKeys {
  static final String[][] ENV = {
      {"primary_key_plaintext", "SEALIO_BIGDL_PRIMARY_KEY"},
      {"simple_app_id", "SEALIO_BIGDL_APP_ID"},
      {"simple_api_key", "SEALIO_BIGDL_API_KEY"},
      {"primary_key_path", "SEALIO_BIGDL_PRIMARY_KEY_PATH"},
      {"ehsm_url", "SEALIO_EHSM_URL"},
      {"ehsm_app_id", "SEALIO_EHSM_APP_ID"},
      {"ehsm_api_key", "SEALIO_EHSM_API_KEY"},
      {"data_key_path", "SEALIO_BIGDL_DATA_KEY_PATH"},
  };
  private static final int KEY_FILE_MAX = 64 << 10;

  /** A data-key string's two keys, as BigDL derives them from its ASCII bytes. */
  static final class DataKey {
    final byte[] hmacKey;
    final byte[] aesKey;

    DataKey(String text) {
      byte[] secret = text.getBytes(StandardCharsets.UTF_8);
      hmacKey = Arrays.copyOfRange(secret, 0, 16); // Java copyOfRange: zero-padded, as BigDL
      aesKey = Arrays.copyOfRange(secret, 16, 32);
    }

    @Override
    public String toString() {
      return "DataKey(<redacted>)";
    }
  }

  private final byte[] primary; // plaintext primary key, or null
  private final String simplePk; // SimpleKMS primary key line, or null

  private BigdlKeys(byte[] primary, String simplePk) {
    this.primary = primary;
    this.simplePk = simplePk;
  }

  @Override
  public String toString() {
    return primary != null ? "BigdlKeys(plaintext primary key <redacted>)" : "BigdlKeys(SimpleKMS <redacted>)";
  }

  /** The settings from the JSON key file {@code keyFile} (when not empty), else the environment. */
  static Map<String, String> settings(String keyFile) throws IOException {
    Map<String, String> out = new HashMap<>();
    if (keyFile != null && !keyFile.isEmpty()) {
      byte[] raw = readSmall(keyFile, "BigDL key file");
      JsonNode doc;
      try {
        doc = new ObjectMapper().readTree(raw); // its message may quote the file: never passed on
      } catch (IOException e) {
        throw new IOException("BigDL key file " + keyFile + ": cannot read it as JSON (" + e.getClass().getSimpleName()
            + ")");
      }
      if (doc == null || !doc.isObject()) {
        throw new IOException("BigDL key file " + keyFile + ": must be a JSON object of strings");
      }
      Iterator<Map.Entry<String, JsonNode>> it = doc.fields();
      while (it.hasNext()) {
        Map.Entry<String, JsonNode> e = it.next();
        if (envName(e.getKey()) == null || !e.getValue().isTextual()) {
          throw new IOException("BigDL key file " + keyFile + ": unknown or non-string setting '" + e.getKey() + "'");
        }
        out.put(e.getKey(), e.getValue().asText());
      }
      return out;
    }
    for (String[] pair : ENV) {
      String v = System.getenv(pair[1]);
      if (v != null && !v.isEmpty()) {
        out.put(pair[0], v);
      }
    }
    return out;
  }

  private static String envName(String setting) {
    for (String[] pair : ENV) {
      if (pair[0].equals(setting)) {
        return pair[1];
      }
    }
    return null;
  }

  /** The key source the settings name: SimpleKMS wins over a plaintext primary key, as in Python. */
  static BigdlKeys fromSettings(Map<String, String> s) throws IOException {
    if (nonEmpty(s.get("ehsm_url"))) {
      throw new IOException("the bigdl filesystem reads keys from a plaintext primary key or SimpleKMS; "
          + "eHSM is not supported on the JVM side (decrypt with `sealio bigdl` instead)");
    }
    if (nonEmpty(s.get("simple_app_id")) || nonEmpty(s.get("simple_api_key"))) {
      String app = s.get("simple_app_id");
      String path = s.get("primary_key_path");
      if (!nonEmpty(app) || !nonEmpty(s.get("simple_api_key")) || !nonEmpty(path)) {
        throw new IOException("SimpleKMS needs an app id, an api key and the primary key file "
            + "(simple_app_id, simple_api_key, primary_key_path)");
      }
      String text = new String(readSmall(path, "the SimpleKMS primary key file"), StandardCharsets.UTF_8);
      String[] lines = text.split("\\R", -1);
      String pk = lines.length == 0 ? "" : lines[0].trim(); // BigDL reads the file's first line
      if (pk.length() < 16) {
        throw new IOException("the SimpleKMS primary key must be at least 16 characters "
            + "(app id + 4 digits, as BigDL writes it)");
      }
      if (!pk.startsWith(app)) {
        throw new IOException("the SimpleKMS primary key does not belong to this app id "
            + "(BigDL's primary key file starts with the app id)");
      }
      return new BigdlKeys(null, pk);
    }
    String b64 = s.get("primary_key_plaintext");
    if (nonEmpty(b64)) {
      return new BigdlKeys(decodePrimary(b64), null);
    }
    throw new IOException("no BigDL key source: set fs.<scheme>.key.file to a JSON key file "
        + "(primary_key_plaintext, or simple_app_id + simple_api_key + primary_key_path) "
        + "or $SEALIO_BIGDL_PRIMARY_KEY in the environment of every executor");
  }

  /** The base64 plaintext primary key as AES key bytes (16, 24 or 32). */
  static byte[] decodePrimary(String b64) throws IOException {
    byte[] key;
    try {
      key = Base64.getDecoder().decode(b64.trim());
    } catch (IllegalArgumentException e) {
      throw new IOException("the BigDL primary key must be base64 text");
    }
    if (key.length != 16 && key.length != 24 && key.length != 32) {
      throw new IOException("the BigDL primary key decodes to " + key.length + " bytes; AES needs 16, 24 or 32");
    }
    return key;
  }

  /** The plaintext primary key, or null under SimpleKMS. */
  byte[] primaryKey() {
    return primary == null ? null : primary.clone();
  }

  /** The data-key string {@code encrypted} (a header's or a .meta's encryptedDataKey) wraps. */
  String unwrap(String encrypted) throws IOException {
    if (simplePk != null) {
      if (encrypted.length() < 16) {
        throw new IOException("the SimpleKMS encrypted data key is shorter than 16 characters");
      }
      StringBuilder b = new StringBuilder(32);
      for (int i = 0; i < 16; i++) { // Java %: the sign of the dividend, as BigDL's Scala
        b.append(48 + ((encrypted.charAt(i) - 48) - (simplePk.charAt(i) - 48) + 10) % 10);
      }
      return b.toString();
    }
    byte[] ct;
    try {
      ct = Base64.getDecoder().decode(encrypted);
    } catch (IllegalArgumentException e) {
      throw new IOException("the BigDL encrypted data key is not base64");
    }
    if (ct.length == 0 || ct.length % 16 != 0) {
      throw new IOException("the BigDL encrypted data key has a bad length");
    }
    try {
      Cipher c = Cipher.getInstance("AES/ECB/PKCS5Padding");
      c.init(Cipher.DECRYPT_MODE, new SecretKeySpec(primary, "AES"));
      return new String(c.doFinal(ct), StandardCharsets.UTF_8);
    } catch (GeneralSecurityException e) {
      throw new IOException("the BigDL data key did not decrypt under this primary key "
          + "(wrong primary key or corrupted header)");
    }
  }

  private static boolean nonEmpty(String s) {
    return s != null && !s.isEmpty();
  }

  private static byte[] readSmall(String path, String what) throws IOException {
    File f = new File(path);
    if (f.length() > KEY_FILE_MAX) {
      throw new IOException(what + " " + path + " is larger than any key file");
    }
    try {
      return Files.readAllBytes(f.toPath());
    } catch (IOException e) {
      throw new IOException(what + " " + path + ": cannot read it (" + e.getClass().getSimpleName() + ")");
    }
  }
}
