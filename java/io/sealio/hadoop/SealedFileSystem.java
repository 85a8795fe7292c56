/*
 * Licensed under the Apache License, Version 2.0.
 */
package io.sealio.hadoop;

import java.io.FileNotFoundException;
import java.io.IOException;
import java.net.URI;
import java.nio.channels.FileChannel;
import java.nio.file.Paths;
import java.nio.file.StandardOpenOption;
import java.util.UUID;
import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FSDataInputStream;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.FileAlreadyExistsException;
import org.apache.hadoop.fs.FileStatus;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;

/**
 * A Hadoop FileSystem of sealed files (docs/FORMAT.md) over another one, so
 * stock Spark reads and writes them with its own readers and committers:
 * {@code sealed://AUTHORITY/PATH} is the file {@code INNER://AUTHORITY/PATH}
 * of the inner filesystem ({@code fs.sealed.inner.scheme}, default
 * {@code file}; the local one is used raw, without .crc files). Listed sizes
 * are plaintext sizes, computed from ciphertext sizes without reading files;
 * reads decrypt only the segments they touch; writes go to a hidden
 * temporary published by rename on close. docs/SPARK.md lists the keys.
 */
public class SealedFileSystem extends WrappingFileSystem {
  public static final String PREFIX = "fs.sealed.";
  public static final String KEYS = PREFIX + "keys";
  public static final String MASTER_KEY = PREFIX + "master.key";
  public static final String INNER_SCHEME = PREFIX + "inner.scheme";
  public static final String SEGMENT_SIZE = PREFIX + "segment.size";
  public static final String JNI_ENABLED = PREFIX + "jni.enabled";
  public static final String JNI_LIBRARY = PREFIX + "jni.library";
  public static final String REQUIRE_COMMITMENT = PREFIX + "require.commitment";
  public static final String BATCH_BYTES = PREFIX + "batch.bytes";
  public static final String VAULT_TOKEN_FILE = PREFIX + "vault.token.file";
  public static final String AWS_CREDENTIALS_FILE = PREFIX + "aws.credentials.file";
  public static final String TEMP_SUFFIX = ".sealio-tmp"; // as sealio.io.atomic: listings hide these
  private static final byte[] NO_AAD = new byte[0];

  private String keysConfig;
  private String masterKey;
  private int segmentLog2;
  private boolean jni;
  private boolean requireCommitment;
  private int batchBytes;
  private String vaultTokenFile;
  private String awsCredentialsFile;
  private volatile KekSource kms;

  public SealedFileSystem() {
    super("sealed");
  }

  @Override
  public void initialize(URI name, Configuration conf) throws IOException {
    initializeInner(name, conf, INNER_SCHEME);
    int segmentSize = conf.getInt(SEGMENT_SIZE, 1 << 16);
    segmentLog2 = Integer.numberOfTrailingZeros(segmentSize);
    if (Integer.bitCount(segmentSize) != 1 || segmentLog2 < 12 || segmentLog2 > 22) {
      throw new IOException(SEGMENT_SIZE + " must be a power of two from 4096 to 4194304");
    }
    keysConfig = conf.getTrimmed(KEYS, "");
    if (keysConfig.isEmpty()) {
      String env = System.getenv("SEALIO_KEYRING");
      if (env != null && !env.isEmpty()) {
        keysConfig = env.startsWith("local://") ? env : "local://" + new java.io.File(env).getAbsolutePath();
      }
    }
    masterKey = conf.getTrimmed(MASTER_KEY, "");
    jni = conf.getBoolean(JNI_ENABLED, true);
    if (jni) {
      String lib = conf.getTrimmed(JNI_LIBRARY, "");
      if (lib.isEmpty()) {
        lib = System.getenv("SEALIO_JNI_LIBRARY");
      }
      jni = NativeGcm.load(lib);
    }
    requireCommitment = conf.getBoolean(REQUIRE_COMMITMENT, false);
    batchBytes = conf.getInt(BATCH_BYTES, 1 << 20);
    vaultTokenFile = conf.getTrimmed(VAULT_TOKEN_FILE, "");
    awsCredentialsFile = conf.getTrimmed(AWS_CREDENTIALS_FILE, "");
  }

  /** "jni" when this instance decrypts through the C core, else "jce". */
  public String cipherName() {
    return jni ? "jni" : "jce";
  }

  /** Load the JNI library at {@code path} now (the first one loaded stays); true when it runs here. */
  public static boolean loadNative(String path) {
    return NativeGcm.load(path);
  }

  /** Why the JNI library did not load, or null. */
  public static String jniFailure() {
    return NativeGcm.failure();
  }

  private KekSource keys() throws IOException {
    KekSource k = kms;
    if (k == null) {
      synchronized (this) {
        if (kms == null) {
          if (keysConfig.isEmpty()) {
            throw new IOException("sealed filesystem: set " + KEYS + " = local:///absolute/path/keyring.json "
                + "or vault+https://HOST:PORT/MOUNT/keys/NAME "
                + "(or $SEALIO_KEYRING in the environment of every executor)");
          }
          kms = keysConfig.startsWith("vault+") ? VaultTransit.fromConfig(keysConfig, vaultTokenFile)
              : keysConfig.startsWith("aws-kms://") ? AwsKms.fromConfig(keysConfig, awsCredentialsFile)
              : LocalKeyring.fromConfig(keysConfig);
        }
        k = kms;
      }
    }
    return k;
  }

  @Override
  protected long outerLength(FileStatus st) {
    long plain = SealedHeader.plaintextSize(st.getLen(), 1 << segmentLog2);
    return plain >= 0 ? plain : st.getLen(); // not a sealed size: opening the file names the problem
  }

  @Override
  protected boolean listed(FileStatus st) {
    return !st.getPath().getName().endsWith(TEMP_SUFFIX);
  }

  private static String shown(Path p) {
    return p.toString();
  }

  @Override
  public FSDataInputStream open(Path f, int bufferSize) throws IOException {
    Path p = toInner(f);
    FileSystem inner = inner();
    FileStatus st = inner.getFileStatus(p);
    if (st.isDirectory()) {
      throw new FileNotFoundException(shown(f) + " is a directory");
    }
    String name = shown(makeQualified(f));
    if ("file".equals(innerScheme())) { // pread straight into the cipher's buffers
      FileChannel ch = FileChannel.open(Paths.get(p.toUri()), StandardOpenOption.READ);
      return new FSDataInputStream(SealedInputStream.open(ch, st.getLen(), name, keys(), NO_AAD, requireCommitment,
          jni, 1 << segmentLog2, batchBytes));
    }
    FSDataInputStream raw = inner.open(p, bufferSize);
    return new FSDataInputStream(SealedInputStream.open(raw, st.getLen(), name, keys(), NO_AAD, requireCommitment,
        jni, 1 << segmentLog2, batchBytes));
  }

  @Override
  public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite, int bufferSize,
      short replication, long blockSize, Progressable progress) throws IOException {
    Path target = toInner(f);
    FileSystem inner = inner();
    if (!overwrite && inner.exists(target)) {
      throw new FileAlreadyExistsException(shown(f) + " already exists");
    }
    String master = masterKey.isEmpty() ? keys().defaultMasterKey() : masterKey;
    if (master == null || master.isEmpty()) {
      throw new IOException("sealed filesystem: writing needs " + MASTER_KEY + " (or a keyring with a default key)");
    }
    Path tmp = new Path(target.getParent(), "." + target.getName() + "." + UUID.randomUUID() + TEMP_SUFFIX);
    FSDataOutputStream raw = inner.create(tmp, permission, false, bufferSize, replication, blockSize, progress);
    SealedOutputStream.Target publish = new SealedOutputStream.Target() {
      @Override
      public void commit() throws IOException {
        if (!overwrite && inner.exists(target)) {
          discard();
          throw new FileAlreadyExistsException(shown(f) + " was created while it was being written");
        }
        if (!inner.rename(tmp, target)) {
          if (!overwrite || !inner.delete(target, false) || !inner.rename(tmp, target)) {
            discard();
            throw new IOException(shown(f) + ": could not publish the sealed file");
          }
        }
      }

      @Override
      public void discard() {
        try {
          inner.delete(tmp, false);
        } catch (IOException ignored) {
          // a leftover temporary is hidden from listings and never read
        }
      }
    };
    return new FSDataOutputStream(new SealedOutputStream(raw, publish, shown(makeQualified(f)), keys(), master,
        segmentLog2, jni, batchBytes, NO_AAD), statistics);
  }

  @Override
  public FSDataOutputStream append(Path f, int bufferSize, Progressable progress) throws IOException {
    throw new UnsupportedOperationException(shown(f) + ": sealed files cannot be appended to (rewrite them)");
  }

  @Override
  public boolean rename(Path src, Path dst) throws IOException {
    return inner().rename(toInner(src), toInner(dst));
  }

  @Override
  public boolean delete(Path f, boolean recursive) throws IOException {
    return inner().delete(toInner(f), recursive);
  }

  @Override
  public boolean mkdirs(Path f, FsPermission permission) throws IOException {
    return inner().mkdirs(toInner(f), permission);
  }
}
