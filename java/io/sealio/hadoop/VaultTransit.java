/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.net.URI;
import java.net.URLDecoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.time.Duration;
import java.util.Base64;
import java.util.regex.Pattern;

/**
 * HashiCorp Vault / OpenBao Transit as the KMS, with the JDK's HTTP client
 * and the same wire format as sealio's Python {@code sealio.kms.vault}: a
 * KEK is sent to {@code MOUNT/encrypt/NAME} with associated data
 * {@code "sealio/vault-transit/v1\0" + NAME}, and Vault's {@code vault:vN:...}
 * ciphertext is the wrapped KEK. Configuration string:
 * {@code vault+https://HOST:PORT/MOUNT[/keys/NAME][?timeout=S&namespace=NS]}.
 * The token never comes from configuration: {@code $VAULT_TOKEN},
 * {@code $BAO_TOKEN}, the file named by {@code fs.sealed.vault.token.file}
 * or {@code $SEALIO_VAULT_TOKEN_FILE}, else {@code ~/.vault-token}.
 */
public final class VaultTransit extends ConfiguredKekSource {
  private static final Pattern NAME = Pattern.compile("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$");
  private static final Pattern MOUNT =
      Pattern.compile("^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,63}){0,7}$");
  private static final Pattern CIPHERTEXT = Pattern.compile("^vault:v[1-9][0-9]{0,9}:[A-Za-z0-9+/]+={0,2}$");
  private static final byte[] AAD = "sealio/vault-transit/v1\0".getBytes(StandardCharsets.US_ASCII);
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String base;
  private final String mount;
  private final String namespace;
  private final Duration timeout;
  private final String token;
  private final HttpClient http;

  private VaultTransit(String config, String base, String mount, String defaultKey, String namespace,
      Duration timeout, String token) {
    super(config, defaultKey);
    this.base = base;
    this.mount = mount;
    this.namespace = namespace;
    this.timeout = timeout;
    this.token = token;
    this.http = HttpClient.newBuilder().connectTimeout(timeout).followRedirects(HttpClient.Redirect.NEVER).build();
  }

  /** Parse the configuration string; {@code tokenFile} (may be null) names a file holding the token. */
  public static VaultTransit fromConfig(String config, String tokenFile) throws IOException {
    URI u;
    try {
      u = URI.create(config);
    } catch (IllegalArgumentException e) {
      throw bad();
    }
    String scheme = u.getScheme() == null ? "" : u.getScheme().toLowerCase();
    if (!scheme.equals("vault+http") && !scheme.equals("vault+https") || u.getHost() == null
        || u.getUserInfo() != null || u.getFragment() != null) {
      throw bad();
    }
    String path = URLDecoder.decode(u.getRawPath() == null ? "" : u.getRawPath(), StandardCharsets.UTF_8);
    path = path.replaceAll("^/+|/+$", "");
    int at = path.lastIndexOf("/keys/");
    String mount = at < 0 ? path : path.substring(0, at);
    String name = at < 0 ? null : path.substring(at + 6);
    if (mount.isEmpty() || !MOUNT.matcher(mount).matches() || (name != null && !NAME.matcher(name).matches())) {
      throw bad();
    }
    String namespace = null;
    Duration timeout = Duration.ofSeconds(10);
    if (u.getRawQuery() != null) {
      for (String kv : u.getRawQuery().split("&")) {
        String[] p = kv.split("=", 2);
        String v = p.length > 1 ? URLDecoder.decode(p[1], StandardCharsets.UTF_8) : "";
        if (p[0].equals("timeout")) {
          try {
            timeout = Duration.ofMillis((long) (Double.parseDouble(v) * 1000));
          } catch (NumberFormatException e) {
            throw new IOException("Vault option timeout must be a number of seconds");
          }
        } else if (p[0].equals("namespace")) {
          namespace = v;
        } else if (!p[0].equals("retries")) {
          throw new IOException("unknown Vault option '" + p[0] + "' (timeout, retries, namespace)");
        }
      }
    }
    String base = scheme.substring(6) + "://" + u.getRawAuthority();
    return new VaultTransit(config, base, mount, name, namespace, timeout, token(tokenFile));
  }

  private static IOException bad() {
    return new IOException("a Vault KMS is configured as vault+https://HOST:PORT/MOUNT/keys/NAME");
  }

  private static String token(String tokenFile) throws IOException {
    for (String var : new String[] {"VAULT_TOKEN", "BAO_TOKEN"}) {
      String v = System.getenv(var);
      if (v != null && !v.trim().isEmpty()) {
        return v.trim();
      }
    }
    String named = tokenFile != null && !tokenFile.isEmpty() ? tokenFile : System.getenv("SEALIO_VAULT_TOKEN_FILE");
    Path p = named != null && !named.isEmpty() ? Paths.get(named) : Paths.get(System.getProperty("user.home"),
        ".vault-token");
    try {
      String v = Files.readString(p, StandardCharsets.UTF_8).trim();
      if (!v.isEmpty()) {
        return v;
      }
    } catch (NoSuchFileException e) {
      if (named != null && !named.isEmpty()) {
        throw new IOException("the Vault token file " + p + " does not exist");
      }
    }
    throw new IOException("no Vault token: set VAULT_TOKEN (or BAO_TOKEN) in the executor's environment, or "
        + "name a token file with fs.sealed.vault.token.file or $SEALIO_VAULT_TOKEN_FILE");
  }

  private static String checkName(String name) throws IOException {
    if (name == null || !NAME.matcher(name).matches()) {
      throw new IOException("master key id '" + name + "' is not a Vault Transit key name");
    }
    return name;
  }

  private static String aad(String name) {
    return Base64.getEncoder().encodeToString(joined(AAD, name));
  }

  private JsonNode post(String op, String name, ObjectNode body) throws IOException {
    HttpRequest.Builder req = HttpRequest.newBuilder(URI.create(base + "/v1/" + mount + "/" + op + "/" + name))
        .timeout(timeout).header("X-Vault-Token", token).header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(body)));
    if (namespace != null && !namespace.isEmpty()) {
      req.header("X-Vault-Namespace", namespace);
    }
    HttpResponse<String> resp = send(http, req.build(), "Vault at " + base);
    if (resp.statusCode() != 200) {
      String detail = "";
      try {
        detail = String.join("; ", JSON.readTree(resp.body()).path("errors").findValuesAsText("errors"));
        if (detail.isEmpty()) {
          JsonNode errs = JSON.readTree(resp.body()).path("errors");
          detail = errs.isArray() && errs.size() > 0 ? errs.get(0).asText() : "";
        }
      } catch (IOException ignored) {
        // not JSON: the status says enough
      }
      throw new IOException("Vault at " + base + " refused to " + op + " with Transit key '" + name + "' (HTTP "
          + resp.statusCode() + (detail.isEmpty() ? "" : ": " + detail.substring(0, Math.min(300, detail.length())))
          + ")");
    }
    return JSON.readTree(resp.body()).path("data");
  }

  @Override
  public String wrapKey(byte[] key, String masterKeyId) throws IOException {
    String name = checkName(masterKeyId);
    ObjectNode body = JSON.createObjectNode();
    body.put("plaintext", Base64.getEncoder().encodeToString(key));
    body.put("associated_data", aad(name));
    String ct = post("encrypt", name, body).path("ciphertext").asText("");
    if (!CIPHERTEXT.matcher(ct).matches()) {
      throw new IOException("Vault returned a malformed encrypt response");
    }
    return ct;
  }

  @Override
  public byte[] unwrapKey(String wrappedKey, String masterKeyId) throws IOException {
    String name = checkName(masterKeyId);
    if (!CIPHERTEXT.matcher(wrappedKey).matches()) {
      throw new IOException("wrapped key is not a Vault Transit ciphertext (vault:vN:...)");
    }
    ObjectNode body = JSON.createObjectNode();
    body.put("ciphertext", wrappedKey);
    body.put("associated_data", aad(name));
    try {
      return Base64.getDecoder().decode(post("decrypt", name, body).path("plaintext").asText(""));
    } catch (IllegalArgumentException e) {
      throw new IOException("Vault returned a malformed decrypt response");
    }
  }

  @Override
  public String toString() {
    return "VaultTransit(" + base + "/" + mount + ")"; // never the token
  }
}
