/*
 * Licensed under the Apache License, Version 2.0.
 *
 * A parquet-java KmsClient that wraps Parquet Modular Encryption keys with
 * the master keys of a sealio keyring file, in the local-wrapping format that
 * sealio's Python side uses too:
 *
 *     wrapped = base64( nonce(12) || AES-GCM(master key, key bytes, AAD = master key id) || tag(16) )
 *
 * so Spark's native Parquet reader and writer exchange encrypted files with
 * pyarrow. Wrapping uses the newest version of the named master key; unwrapping
 * tries the versions newest first (the GCM tag tells which one wrapped), so
 * files stay readable after `sealio keygen --rotate`.
 *
 * Configuration (Hadoop properties, e.g. spark.hadoop.* or per-read options):
 *   parquet.encryption.kms.client.class = io.sealio.parquet.SealioKmsClient
 *   sealio.kms = local:///absolute/path/keyring.json   (else the KMS instance
 *                URL if it is local://..., else $SEALIO_KEYRING)
 * Only configuration travels: the key file stays where it is. A keyring that
 * is protected by a passphrase is refused (the JVM side does not run scrypt).
 */
package io.sealio.parquet;

import io.sealio.hadoop.LocalKeyring;
import java.io.IOException;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.List;
import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import org.apache.hadoop.conf.Configuration;
import org.apache.parquet.crypto.KeyAccessDeniedException;
import org.apache.parquet.crypto.ParquetCryptoRuntimeException;
import org.apache.parquet.crypto.keytools.KmsClient;

public final class SealioKmsClient implements KmsClient {
  public static final String KMS_PROPERTY = "sealio.kms";
  private static final int NONCE = 12;
  private static final int TAG_BITS = 128;
  private static final SecureRandom RANDOM = new SecureRandom();

  private LocalKeyring keyring;

  @Override
  public void initialize(Configuration conf, String kmsInstanceID, String kmsInstanceURL, String accessToken)
      throws KeyAccessDeniedException {
    String keyringPath;
    String uri = conf.getTrimmed(KMS_PROPERTY, "");
    if (uri.isEmpty() && kmsInstanceURL != null && kmsInstanceURL.startsWith("local://")) {
      uri = kmsInstanceURL;
    }
    if (uri.isEmpty()) {
      String env = System.getenv("SEALIO_KEYRING");
      if (env == null || env.isEmpty()) {
        throw new ParquetCryptoRuntimeException(
            "SealioKmsClient: set " + KMS_PROPERTY + " = local:///absolute/path/keyring.json (or $SEALIO_KEYRING)");
      }
      keyringPath = env;
    } else {
      keyringPath = pathOf(uri);
    }
    try {
      keyring = LocalKeyring.fromPath(keyringPath); // the keyring file as the sealed filesystem reads it
    } catch (IOException e) {
      throw new ParquetCryptoRuntimeException("SealioKmsClient: " + e.getMessage());
    }
  }

  private static String pathOf(String uri) {
    URI parsed = URI.create(uri);
    String host = parsed.getHost();
    if (!"local".equals(parsed.getScheme()) || parsed.getPath() == null || parsed.getPath().isEmpty()
        || (host != null && !host.isEmpty() && !host.equals("localhost")) || parsed.getQuery() != null) {
      throw new ParquetCryptoRuntimeException(
          "SealioKmsClient: a keyring is configured as local:///absolute/path/keyring.json, not " + uri);
    }
    return parsed.getPath();
  }

  private List<byte[]> versions(String masterKeyIdentifier) throws KeyAccessDeniedException {
    if (keyring == null) {
      throw new KeyAccessDeniedException("SealioKmsClient: not initialized with a keyring");
    }
    try {
      return keyring.masterKeys(masterKeyIdentifier);
    } catch (IOException e) {
      throw new KeyAccessDeniedException("SealioKmsClient: " + e.getMessage());
    }
  }

  @Override
  public String wrapKey(byte[] keyBytes, String masterKeyIdentifier) throws KeyAccessDeniedException {
    byte[] master = versions(masterKeyIdentifier).get(0);
    byte[] nonce = new byte[NONCE];
    RANDOM.nextBytes(nonce);
    try {
      Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
      gcm.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(master, "AES"), new GCMParameterSpec(TAG_BITS, nonce));
      gcm.updateAAD(masterKeyIdentifier.getBytes(StandardCharsets.UTF_8));
      byte[] sealed = gcm.doFinal(keyBytes);
      byte[] out = new byte[NONCE + sealed.length];
      System.arraycopy(nonce, 0, out, 0, NONCE);
      System.arraycopy(sealed, 0, out, NONCE, sealed.length);
      return Base64.getEncoder().encodeToString(out);
    } catch (GeneralSecurityException e) {
      throw new ParquetCryptoRuntimeException("SealioKmsClient: AES-GCM unavailable", e);
    }
  }

  @Override
  public byte[] unwrapKey(String wrappedKey, String masterKeyIdentifier) throws KeyAccessDeniedException {
    byte[] raw;
    try {
      raw = Base64.getDecoder().decode(wrappedKey);
    } catch (IllegalArgumentException e) {
      raw = new byte[0];
    }
    if (raw.length < NONCE + TAG_BITS / 8) {
      throw new KeyAccessDeniedException("SealioKmsClient: wrapped key is malformed");
    }
    byte[] aad = masterKeyIdentifier.getBytes(StandardCharsets.UTF_8);
    for (byte[] master : versions(masterKeyIdentifier)) {
      try {
        Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
        gcm.init(Cipher.DECRYPT_MODE, new SecretKeySpec(master, "AES"), new GCMParameterSpec(TAG_BITS, raw, 0, NONCE));
        gcm.updateAAD(aad);
        return gcm.doFinal(raw, NONCE, raw.length - NONCE);
      } catch (AEADBadTagException e) {
        // another version of this master key may have wrapped it
      } catch (GeneralSecurityException e) {
        throw new ParquetCryptoRuntimeException("SealioKmsClient: AES-GCM unavailable", e);
      }
    }
    throw new KeyAccessDeniedException("SealioKmsClient: wrapped key did not authenticate under any version of '"
        + masterKeyIdentifier + "'");
  }
}
