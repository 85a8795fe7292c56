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
import java.nio.file.Path;
import java.nio.file.Paths;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.Base64;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * AWS KMS as the KMS, over the JDK's HTTP client with Signature Version 4
 * (no AWS SDK needed), in the wire format of sealio's Python
 * {@code sealio.kms.aws}: Encrypt/Decrypt with the EncryptionContext
 * {@code {"sealio:master-key-id": ID}}, wrapped KEKs
 * {@code "sealio-aws1:<key id>:<base64 blob>"}, Decrypt only after
 * DescribeKey says the key is Enabled. Configuration string:
 * {@code aws-kms://alias/NAME?region=R[&endpoint=URL&timeout=S]}.
 * Credentials: {@code $AWS_ACCESS_KEY_ID}/{@code $AWS_SECRET_ACCESS_KEY}
 * (/{@code $AWS_SESSION_TOKEN}), else the shared credentials file
 * ({@code fs.sealed.aws.credentials.file}, {@code $AWS_SHARED_CREDENTIALS_FILE},
 * {@code ~/.aws/credentials}; profile {@code $AWS_PROFILE} or default).
 * Instance roles are not read: use the environment or a file.
 */
public final class AwsKms extends ConfiguredKekSource {
  private static final String PREFIX = "sealio-aws1";
  private static final String CONTEXT_KEY = "sealio:master-key-id";
  private static final Pattern ALIAS = Pattern.compile("^alias/[A-Za-z0-9/_-]{1,250}$");
  private static final Pattern KEY_ID =
      Pattern.compile("^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})$");
  private static final Pattern ARN =
      Pattern.compile("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(?:key|alias)/[A-Za-z0-9/_-]{1,250}$");
  private static final Pattern WRAPPED =
      Pattern.compile("^sealio-aws1:((?:[0-9a-f-]{36})|(?:mrk-[0-9a-f]{32})):([A-Za-z0-9+/]+={0,2})$");
  private static final DateTimeFormatter AMZ = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'");
  private static final ObjectMapper JSON = new ObjectMapper();

  private final String key;
  private final String region;
  private final URI endpoint;
  private final Duration timeout;
  private final String[] creds; // access key id, secret, session token or null
  private final HttpClient http;

  private AwsKms(String config, String key, String region, URI endpoint, Duration timeout, String[] creds) {
    super(config, key);
    this.key = key;
    this.region = region;
    this.endpoint = endpoint;
    this.timeout = timeout;
    this.creds = creds;
    this.http = HttpClient.newBuilder().connectTimeout(timeout).followRedirects(HttpClient.Redirect.NEVER).build();
  }

  public static AwsKms fromConfig(String config, String credentialsFile) throws IOException {
    String body = config.substring(config.indexOf("://") + 3);
    int q = body.indexOf('?');
    String keyPart = URLDecoder.decode(q < 0 ? body : body.substring(0, q), StandardCharsets.UTF_8);
    String region = null;
    String endpoint = null;
    Duration timeout = Duration.ofSeconds(10);
    if (q >= 0) {
      for (String kv : body.substring(q + 1).split("&")) {
        String[] p = kv.split("=", 2);
        String v = p.length > 1 ? URLDecoder.decode(p[1], StandardCharsets.UTF_8) : "";
        switch (p[0]) {
          case "region":
            region = v;
            break;
          case "endpoint":
            endpoint = v;
            break;
          case "timeout":
            try {
              timeout = Duration.ofMillis((long) (Double.parseDouble(v) * 1000));
            } catch (NumberFormatException e) {
              throw new IOException("AWS KMS option timeout must be a number of seconds");
            }
            break;
          case "retries":
          case "profile":
            break;
          default:
            throw new IOException("unknown AWS KMS option '" + p[0] + "' (region, endpoint, timeout)");
        }
      }
    }
    if (keyPart.contains("@") || keyPart.isEmpty() || checkKeyId(keyPart, null) == null) {
      throw new IOException("an AWS KMS is configured as aws-kms://alias/NAME?region=..., with a key");
    }
    if (region == null || region.isEmpty()) {
      region = firstEnv("AWS_REGION", "AWS_DEFAULT_REGION");
    }
    if (region == null || !region.matches("[a-z0-9-]{1,32}")) {
      throw new IOException("AWS KMS needs a region: add ?region=... to the configuration or set AWS_REGION");
    }
    URI ep = URI.create(endpoint != null && !endpoint.isEmpty() ? endpoint : "https://kms." + region + ".amazonaws.com");
    if (!("http".equals(ep.getScheme()) || "https".equals(ep.getScheme())) || ep.getHost() == null
        || ep.getUserInfo() != null) {
      throw new IOException("AWS KMS endpoint must be http(s)://HOST[:PORT]");
    }
    return new AwsKms(config, keyPart, region, URI.create(ep.getScheme() + "://" + ep.getRawAuthority() + "/"),
        timeout, credentials(credentialsFile));
  }

  private static String firstEnv(String... names) {
    for (String n : names) {
      String v = System.getenv(n);
      if (v != null && !v.trim().isEmpty()) {
        return v.trim();
      }
    }
    return null;
  }

  private static String[] credentials(String file) throws IOException {
    String id = firstEnv("AWS_ACCESS_KEY_ID");
    String secret = firstEnv("AWS_SECRET_ACCESS_KEY");
    if (id != null && secret != null) {
      return new String[] {id, secret, firstEnv("AWS_SESSION_TOKEN")};
    }
    String named = file != null && !file.isEmpty() ? file : firstEnv("AWS_SHARED_CREDENTIALS_FILE");
    Path p = named != null ? Paths.get(named) : Paths.get(System.getProperty("user.home"), ".aws", "credentials");
    String profile = firstEnv("AWS_PROFILE");
    profile = profile == null ? "default" : profile;
    if (Files.isRegularFile(p)) {
      String section = null;
      String[] found = new String[3];
      for (String raw : Files.readAllLines(p, StandardCharsets.UTF_8)) {
        String line = raw.trim();
        if (line.startsWith("[") && line.endsWith("]")) {
          section = line.substring(1, line.length() - 1).trim();
        } else if (profile.equals(section) && line.contains("=")) {
          String k = line.substring(0, line.indexOf('=')).trim();
          String v = line.substring(line.indexOf('=') + 1).trim();
          int slot = k.equals("aws_access_key_id") ? 0 : k.equals("aws_secret_access_key") ? 1
              : k.equals("aws_session_token") ? 2 : -1;
          if (slot >= 0) {
            found[slot] = v;
          }
        }
      }
      if (found[0] != null && found[1] != null) {
        return found;
      }
    } else if (named != null) {
      throw new IOException("the AWS credentials file " + p + " does not exist");
    }
    throw new IOException("no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the "
        + "executor's environment or name a credentials file with fs.sealed.aws.credentials.file "
        + "(instance roles are not read on the JVM side)");
  }

  /** An alias or bare key id of the configured account and region; an ARN only if it is {@code configured}. */
  private static String checkKeyId(String id, String configured) {
    if (id != null && (ALIAS.matcher(id).matches() || KEY_ID.matcher(id).matches())) {
      return id;
    }
    if (id != null && ARN.matcher(id).matches() && (configured == null || id.equals(configured))) {
      return id;
    }
    return null;
  }

  private String masterKey(String id) throws IOException {
    String ok = checkKeyId(id, key);
    if (ok == null) {
      throw new IOException("master key id '" + id + "' is not an AWS KMS alias (alias/NAME) or key id of the "
          + "configured account and region");
    }
    return ok;
  }

  static String hex(byte[] b) {
    StringBuilder s = new StringBuilder(b.length * 2);
    for (byte x : b) {
      s.append(Character.forDigit((x >> 4) & 15, 16)).append(Character.forDigit(x & 15, 16));
    }
    return s.toString();
  }

  private static byte[] hmac(byte[] key, String data) throws GeneralSecurityException {
    Mac mac = Mac.getInstance("HmacSHA256");
    mac.init(new SecretKeySpec(key, "HmacSHA256"));
    return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
  }

  /**
   * The SigV4 Authorization header of a KMS JSON request (public so tests
   * can check it against botocore's signer).
   */
  public static String authorization(String accessKey, String secret, String sessionToken, String region,
      String amzDate, String host, String target, String body) throws GeneralSecurityException {
    String date = amzDate.substring(0, 8);
    StringBuilder headers = new StringBuilder()
        .append("content-type:application/x-amz-json-1.1\n").append("host:").append(host).append('\n')
        .append("x-amz-date:").append(amzDate).append('\n');
    String signed = "content-type;host;x-amz-date";
    if (sessionToken != null) {
      headers.append("x-amz-security-token:").append(sessionToken).append('\n');
      signed += ";x-amz-security-token";
    }
    headers.append("x-amz-target:").append(target).append('\n');
    signed += ";x-amz-target";
    MessageDigest sha = MessageDigest.getInstance("SHA-256");
    String canonical = "POST\n/\n\n" + headers + "\n" + signed + "\n"
        + hex(sha.digest(body.getBytes(StandardCharsets.UTF_8)));
    String scope = date + "/" + region + "/kms/aws4_request";
    String toSign = "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n"
        + hex(sha.digest(canonical.getBytes(StandardCharsets.UTF_8)));
    byte[] k = hmac(("AWS4" + secret).getBytes(StandardCharsets.UTF_8), date);
    k = hmac(k, region);
    k = hmac(k, "kms");
    k = hmac(k, "aws4_request");
    return "AWS4-HMAC-SHA256 Credential=" + accessKey + "/" + scope + ", SignedHeaders=" + signed + ", Signature="
        + hex(hmac(k, toSign));
  }

  private JsonNode call(String op, ObjectNode payload, String what) throws IOException {
    String body = JSON.writeValueAsString(payload);
    String target = "TrentService." + op;
    String amzDate = ZonedDateTime.now(ZoneOffset.UTC).format(AMZ);
    int port = endpoint.getPort();
    boolean defaultPort = port < 0 || (port == 443 && "https".equals(endpoint.getScheme()))
        || (port == 80 && "http".equals(endpoint.getScheme()));
    String host = endpoint.getHost() + (defaultPort ? "" : ":" + port);
    String auth;
    try {
      auth = authorization(creds[0], creds[1], creds[2], region, amzDate, host, target, body);
    } catch (GeneralSecurityException e) {
      throw new IllegalStateException("HMAC-SHA256 unavailable", e);
    }
    HttpRequest.Builder req = HttpRequest.newBuilder(endpoint).timeout(timeout)
        .header("Content-Type", "application/x-amz-json-1.1").header("X-Amz-Date", amzDate)
        .header("X-Amz-Target", target).header("Authorization", auth)
        .POST(HttpRequest.BodyPublishers.ofString(body));
    if (creds[2] != null) {
      req.header("X-Amz-Security-Token", creds[2]);
    }
    HttpResponse<String> resp = send(http, req.build(), "AWS KMS");
    if (resp.statusCode() != 200) {
      String code = "";
      try {
        code = JSON.readTree(resp.body()).path("__type").asText("");
      } catch (IOException ignored) {
        // not JSON
      }
      code = code.substring(code.lastIndexOf('#') + 1);
      throw new IOException("AWS KMS refused to " + what + " (HTTP " + resp.statusCode()
          + (code.isEmpty() ? "" : ", " + code.substring(0, Math.min(80, code.length()))) + ")");
    }
    return JSON.readTree(resp.body());
  }

  @Override
  public String wrapKey(byte[] kek, String masterKeyId) throws IOException {
    String mkid = masterKey(masterKeyId);
    ObjectNode p = JSON.createObjectNode();
    p.put("KeyId", mkid);
    p.put("Plaintext", Base64.getEncoder().encodeToString(kek));
    p.putObject("EncryptionContext").put(CONTEXT_KEY, mkid);
    JsonNode r = call("Encrypt", p, "wrap under AWS KMS key '" + mkid + "'");
    String arn = r.path("KeyId").asText("");
    String keyId = arn.contains(":key/") ? arn.substring(arn.indexOf(":key/") + 5) : arn;
    String blob = r.path("CiphertextBlob").asText("");
    if (!KEY_ID.matcher(keyId).matches() || blob.isEmpty()) {
      throw new IOException("AWS KMS Encrypt returned no usable key id or ciphertext");
    }
    return PREFIX + ":" + keyId + ":" + blob;
  }

  @Override
  public byte[] unwrapKey(String wrappedKey, String masterKeyId) throws IOException {
    String mkid = masterKey(masterKeyId);
    Matcher m = WRAPPED.matcher(wrappedKey);
    if (!m.matches()) {
      throw new IOException("wrapped key is not from sealio's AWS KMS client (sealio-aws1:...)");
    }
    String keyId = m.group(1);
    ObjectNode d = JSON.createObjectNode();
    d.put("KeyId", keyId);
    String state = call("DescribeKey", d, "describe AWS KMS key " + keyId).path("KeyMetadata").path("KeyState")
        .asText("Unknown");
    if (!"Enabled".equals(state)) {
      throw new IOException("AWS KMS key " + keyId + " is " + state + "; files wrapped under it must be "
          + "re-wrapped (sealio rewrap) before it is disabled");
    }
    ObjectNode p = JSON.createObjectNode();
    p.put("CiphertextBlob", m.group(2));
    p.put("KeyId", keyId);
    p.putObject("EncryptionContext").put(CONTEXT_KEY, mkid);
    String plain = call("Decrypt", p, "unwrap with AWS KMS key " + keyId).path("Plaintext").asText("");
    try {
      return Base64.getDecoder().decode(plain);
    } catch (IllegalArgumentException e) {
      throw new IOException("AWS KMS returned a malformed Decrypt response");
    }
  }

  @Override
  public String toString() {
    return "AwsKms(" + key + ", " + region + ")"; // never the credentials
  }
}
