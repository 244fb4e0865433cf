#!/usr/bin/python3
"""Kafka TLS, mTLS and SASL settings of steppewatchd reach librdkafka and behave (RELIABILITY.md, Security).

librdkafka's mock cluster has no TLS, so the "broker" here is a TLS listener on loopback (Python's
ssl module, certificates made for each run by the `openssl` command) that speaks just enough of
the Kafka protocol to see what the real daemon sends: it answers ApiVersions, SaslHandshake and
SaslAuthenticate and records every request header (api_key, version) and the SASL payloads.
What the tests prove, with the real steppewatchd and Debian's librdkafka:
  - security.protocol=ssl + ssl.ca.location: the TLS handshake completes and Kafka requests
    (ApiVersions, api_key 18) follow inside it;
  - a wrong CA: the daemon logs a certificate-verification error, keeps running and retrying,
    /healthz stays 200 (liveness does not depend on the broker) and /metrics shows
    steppewatch_brokers_down 1;
  - mTLS: the client certificate is presented, its key decrypted with ssl.key.password_file;
  - sasl_ssl: after TLS the client sends SaslHandshake (api_key 17) for the configured mechanism
    (PLAIN, SCRAM-SHA-512), and SaslAuthenticate carries the username and (PLAIN) the password
    read from sasl.password_file / STEPPEWATCH_KAFKA_SASL_PASSWORD_FILE: the `*_file` plumbing
    works end to end;
  - the password (and the key password) never appears in the daemon's log, the `--check-config`
    output or the /metrics page, and --check-config shows the key as <redacted>.
No sleeps for work: every wait polls a condition with a deadline (support.wait_until).
"""
import os
import socket
import ssl
import struct
import subprocess
import threading
import unittest

import support as sw

API_SASL_HANDSHAKE = 17
API_VERSIONS = 18
API_SASL_AUTHENTICATE = 36
# What the fake broker advertises in ApiVersions: enough for librdkafka's SASL path (KIP-152:
# SaslHandshake v1 + SaslAuthenticate), nothing it would go on to use for real work.
ADVERTISED = {API_VERSIONS: (0, 3), API_SASL_HANDSHAKE: (0, 1), API_SASL_AUTHENTICATE: (0, 1),
              3: (0, 4)}  # Metadata: so that the client's feature check passes
ERR_SASL_AUTHENTICATION_FAILED = 58
# Each test waits this long for the client's first requests: librdkafka connects at once and
# retries after a failure within a second (reconnect.backoff.ms 100 ms doubling up to 10 s), so a
# healthy machine needs ~1 s; the margin is for the shared 2-core CI machine.
WAIT_S = 60

PASSWORD = "Sw-t0p-s3cret-" + os.urandom(6).hex()
KEY_PASSWORD = "Sw-key-s3cret-" + os.urandom(6).hex()
USERNAME = "steppewatch"


def openssl(*args, cwd):
  subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(d):
  """A CA with a server certificate (localhost, 127.0.0.1), a client certificate whose key is
  encrypted with KEY_PASSWORD, and an unrelated CA. EC P-256 keys: fast to make."""
  ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
  for ca in ("ca", "other-ca"):
    openssl("req", "-x509", *ec, "-nodes", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
            "-days", "2", "-subj", f"/CN=steppewatch test {ca}", cwd=d)
  with open(os.path.join(d, "server.ext"), "w") as f:
    f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
  with open(os.path.join(d, "client.ext"), "w") as f:
    f.write("extendedKeyUsage=clientAuth\n")
  openssl("req", *ec, "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj",
          "/CN=localhost", cwd=d)
  openssl("req", *ec, "-keyout", "client.key", "-passout", f"pass:{KEY_PASSWORD}", "-out",
          "client.csr", "-subj", "/CN=steppewatch-client", cwd=d)
  for name in ("server", "client"):
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext",
            cwd=d)


def kafka_string(data, at):
  n = struct.unpack_from(">h", data, at)[0]
  if n < 0:
    return None, at + 2
  return data[at + 2:at + 2 + n].decode("utf-8", "replace"), at + 2 + n


def uvarint(n):
  out = bytearray()
  while True:
    b = n & 0x7F
    n >>= 7
    out.append(b | (0x80 if n else 0))
    if not n:
      return bytes(out)


class FakeTlsBroker:
  """A TLS listener on 127.0.0.1 that records what Kafka clients send (see the module doc)."""

  def __init__(self, pki, client_ca=None, sasl_mechanism=None):
    self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    self.ctx.load_cert_chain(os.path.join(pki, "server.pem"), os.path.join(pki, "server.key"))
    if client_ca:  # mTLS: a client certificate signed by this CA is required
      self.ctx.verify_mode = ssl.CERT_REQUIRED
      self.ctx.load_verify_locations(client_ca)
    self.sasl_mechanism = sasl_mechanism
    self.lock = threading.Lock()
    self.handshakes = []        # TLS versions of completed handshakes
    self.handshake_errors = []  # why a handshake failed (server side)
    self.client_subjects = []   # mTLS: the CN of each client certificate
    self.requests = []          # (api_key, api_version) in arrival order
    self.mechanisms = []        # SaslHandshake mechanism names
    self.auth_payloads = []     # SaslAuthenticate auth_bytes
    self.conns = []
    self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    self.sock.bind(("127.0.0.1", 0))
    self.sock.listen(16)
    self.port = self.sock.getsockname()[1]
    self.stopping = False
    threading.Thread(target=self._accept, daemon=True).start()

  def snapshot(self):
    with self.lock:
      return {"handshakes": list(self.handshakes), "errors": list(self.handshake_errors),
              "subjects": list(self.client_subjects), "requests": list(self.requests),
              "mechanisms": list(self.mechanisms), "auth": list(self.auth_payloads)}

  def _accept(self):
    while not self.stopping:
      try:
        conn, _ = self.sock.accept()
      except OSError:
        return
      self.conns.append(conn)
      threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

  def _serve(self, conn):
    conn.settimeout(30)
    try:
      tls = self.ctx.wrap_socket(conn, server_side=True)
    except (ssl.SSLError, OSError) as e:
      with self.lock:
        self.handshake_errors.append(str(e))
      conn.close()
      return
    with self.lock:
      self.handshakes.append(tls.version())
      peer = tls.getpeercert()
      if peer:
        self.client_subjects.append(dict(x[0] for x in peer["subject"]).get("commonName"))
    try:
      while True:
        head = self._read(tls, 4)
        frame = self._read(tls, struct.unpack(">i", head)[0])
        api_key, version, correlation = struct.unpack_from(">hhi", frame, 0)
        _, at = kafka_string(frame, 8)  # client_id
        with self.lock:
          self.requests.append((api_key, version))
        body = None
        if api_key == API_VERSIONS and self.sasl_mechanism:
          # Answered only on the SASL path, which needs it to go on to SaslHandshake: a client
          # that learns the broker lacks InitProducerId stops with a fatal idempotence error.
          body = self._api_versions(version)
        elif api_key == API_SASL_HANDSHAKE:
          mechanism, _ = kafka_string(frame, at)
          with self.lock:
            self.mechanisms.append(mechanism)
          ok = mechanism == self.sasl_mechanism
          body = struct.pack(">hi", 0 if ok else 33, 1) + struct.pack(
              ">h", len(self.sasl_mechanism)) + self.sasl_mechanism.encode()
        elif api_key == API_SASL_AUTHENTICATE:
          n = struct.unpack_from(">i", frame, at)[0]
          with self.lock:
            self.auth_payloads.append(frame[at + 4:at + 4 + n])
          message = b"test broker: authentication refused"
          body = struct.pack(">hh", ERR_SASL_AUTHENTICATION_FAILED, len(message)) + message
          body += struct.pack(">i", 0) + (struct.pack(">q", 0) if version >= 1 else b"")
        if body is None:
          continue  # anything else gets no answer: the client times out and reconnects
        tls.sendall(struct.pack(">ii", 4 + len(body), correlation) + body)
    except (OSError, ValueError, struct.error):
      pass
    finally:
      tls.close()

  @staticmethod
  def _read(tls, n):
    buf = b""
    while len(buf) < n:
      chunk = tls.recv(n - len(buf))
      if not chunk:
        raise ValueError("closed")
      buf += chunk
    return buf

  @staticmethod
  def _api_versions(version):
    if version >= 3:  # flexible: compact array and tagged fields (KIP-482, KIP-511)
      body = struct.pack(">h", 0) + uvarint(len(ADVERTISED) + 1)
      for key, (lo, hi) in ADVERTISED.items():
        body += struct.pack(">hhh", key, lo, hi) + uvarint(0)
      return body + struct.pack(">i", 0) + uvarint(0)
    body = struct.pack(">hi", 0, len(ADVERTISED))
    for key, (lo, hi) in ADVERTISED.items():
      body += struct.pack(">hhh", key, lo, hi)
    return body + (struct.pack(">i", 0) if version >= 1 else b"")

  def stop(self):
    self.stopping = True
    self.sock.close()
    for c in self.conns:
      try:
        c.close()
      except OSError:
        pass


class KafkaSecurityTest(unittest.TestCase):
  pki = None
  pki_dir = None

  @classmethod
  def setUpClass(cls):
    cls.pki_dir = sw.TempDir("sw-pki-")
    cls.pki = cls.pki_dir.path
    make_pki(cls.pki)
    cls.password_file = cls.pki_dir.file("kafka-password")
    with open(cls.password_file, "w") as f:
      f.write(PASSWORD + "\n")  # a trailing newline, as `echo` writes it: trimmed by the loader
    cls.key_password_file = cls.pki_dir.file("key-password")
    with open(cls.key_password_file, "w") as f:
      f.write(KEY_PASSWORD + "\n")

  @classmethod
  def tearDownClass(cls):
    cls.pki_dir.cleanup()

  def setUp(self):
    self.tmp = sw.TempDir("sw-sec-")
    self.daemon = None
    self.broker = None
    self.addCleanup(self._clean_up)

  def _clean_up(self):
    if self.daemon:
      self.daemon.stop(timeout=20)
    if self.broker:
      self.broker.stop()
    self.tmp.release()

  # -- helpers

  def start(self, common, sasl_mechanism=None, client_ca=None, env=None):
    self.broker = FakeTlsBroker(self.pki, client_ca=client_ca, sasl_mechanism=sasl_mechanism)
    # IPv4 only: the listener is on 127.0.0.1, and "localhost" is the name in the certificate.
    common = {"broker.address.family": "v4", **common}
    self.config = sw.write_daemon_config(self.tmp, "d", f"localhost:{self.broker.port}",
                                         "sec-test", kafka_common=common)
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
      self.daemon = sw.Daemon(self.tmp, "d", self.config)
    finally:
      for k, v in old.items():
        if v is None:
          os.environ.pop(k)
        else:
          os.environ[k] = v
    self.daemon.wait_ready()
    return self.daemon

  def wait_broker(self, predicate, what):
    def check():
      if not self.daemon.running():
        raise AssertionError(f"daemon exited with {self.daemon.p.returncode}:\n"
                             f"{self.daemon.text()[-3000:]}")
      s = self.broker.snapshot()
      return s if predicate(s) else None
    return sw.wait_until(check, WAIT_S, what, period=0.1)

  def http(self, path):
    url = sw.wait_until(self.daemon.metrics_url, 10, "metrics line")
    return sw.http_get(url.rsplit("/", 1)[0] + path, timeout=10)

  def check_config(self, env=None):
    out = subprocess.run([sw.SWD, "--check-config", "--config", self.config, "--rules",
                          sw.DEFAULT_PACK], capture_output=True, text=True, timeout=300,
                         env={**os.environ, **(env or {})})
    self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
    return out.stdout + out.stderr

  def assert_no_secret(self, text, where):
    for secret in (PASSWORD, KEY_PASSWORD):
      self.assertNotIn(secret, text, f"a password in {where}")

  # -- tests

  def test_tls_with_the_right_ca_completes_the_handshake_then_kafka_requests(self):
    self.start({"security.protocol": "ssl",
                "ssl.ca.location": os.path.join(self.pki, "ca.pem")})
    s = self.wait_broker(lambda s: s["handshakes"] and any(k == API_VERSIONS
                                                           for k, _ in s["requests"]),
                         "a TLS handshake followed by an ApiVersions request")
    self.assertTrue(all(v in ("TLSv1.2", "TLSv1.3") for v in s["handshakes"]), s["handshakes"])
    self.assertEqual(s["errors"], [], "no handshake failed with the right CA")
    self.assertNotIn("certificate verify failed", self.daemon.text())

  def test_wrong_ca_logs_verification_error_keeps_retrying_and_stays_live(self):
    self.start({"security.protocol": "ssl",
                "ssl.ca.location": os.path.join(self.pki, "other-ca.pem")})
    # Two refused handshakes: the daemon retries after the first failure instead of giving up.
    s = self.wait_broker(lambda s: len(s["errors"]) >= 2, "two refused TLS handshakes")
    self.assertEqual(s["handshakes"], [], "no handshake completes with a wrong CA")
    self.assertEqual(s["requests"], [], "no Kafka request leaves the client unencrypted")
    sw.wait_until(lambda: "certificate verify failed" in self.daemon.text(), WAIT_S,
                  "a certificate-verification error in the daemon's log")
    self.assertTrue(self.daemon.running())
    status, body = self.http("/healthz")
    self.assertEqual(status, 200, f"liveness does not depend on the broker: {body}")
    # The outage is visible to monitoring, not only in the log.
    sw.wait_until(lambda: "\nsteppewatch_brokers_down 1" in self.http("/metrics")[1], WAIT_S,
                  "steppewatch_brokers_down 1 on /metrics")
    # The daemon keeps going: more refused handshakes after the first log line.
    seen = len(self.broker.snapshot()["errors"])
    self.wait_broker(lambda s: len(s["errors"]) > seen, "another handshake attempt")
    self.assertEqual(self.daemon.stop(), 0, "SIGTERM still stops it cleanly")

  def test_mtls_presents_the_client_certificate_with_an_encrypted_key(self):
    self.start({"security.protocol": "ssl",
                "ssl.ca.location": os.path.join(self.pki, "ca.pem"),
                "ssl.certificate.location": os.path.join(self.pki, "client.pem"),
                "ssl.key.location": os.path.join(self.pki, "client.key"),
                "ssl.key.password_file": self.key_password_file},
               client_ca=os.path.join(self.pki, "ca.pem"))
    s = self.wait_broker(lambda s: s["subjects"] and s["requests"],
                         "an mTLS handshake with a client certificate, then a request")
    self.assertIn("steppewatch-client", s["subjects"])
    self.assert_no_secret(self.daemon.text(), "the daemon's log")
    out = self.check_config()
    self.assert_no_secret(out, "--check-config output")
    self.assertIn("ssl.key.password: <redacted>", out)

  def sasl_case(self, mechanism, env=None, common_extra=None):
    common = {"security.protocol": "sasl_ssl", "ssl.ca.location": os.path.join(self.pki, "ca.pem"),
              "sasl.mechanisms": mechanism, "sasl.username": USERNAME, **(common_extra or {})}
    self.start(common, sasl_mechanism=mechanism, env=env)
    s = self.wait_broker(lambda s: s["auth"], "a SaslAuthenticate request")
    keys = [k for k, _ in s["requests"]]
    self.assertTrue(s["handshakes"], "SASL runs inside TLS")
    self.assertIn(API_SASL_HANDSHAKE, keys)
    self.assertLess(keys.index(API_SASL_HANDSHAKE), keys.index(API_SASL_AUTHENTICATE))
    self.assertEqual(set(s["mechanisms"]), {mechanism})
    # The refusal reaches the daemon's log as an authentication error, and it keeps running.
    sw.wait_until(lambda: "authentication" in self.daemon.text().lower(), WAIT_S,
                  "an authentication error in the daemon's log")
    self.assertTrue(self.daemon.running())
    self.assertEqual(self.http("/healthz")[0], 200)
    status, metrics = self.http("/metrics")
    self.assertEqual(status, 200)
    self.assert_no_secret(metrics, "/metrics")
    self.assert_no_secret(self.daemon.text(), "the daemon's log")
    out = self.check_config(env=env)
    self.assert_no_secret(out, "--check-config output")
    self.assertIn("sasl.password: <redacted>", out)
    self.assertIn(f'sasl.username: "{USERNAME}"', out)
    return s

  def test_sasl_plain_over_tls_sends_the_password_from_its_file_and_never_logs_it(self):
    s = self.sasl_case("PLAIN", common_extra={"sasl.password_file": self.password_file})
    # RFC 4616: authzid NUL authcid NUL passwd. The file's trailing newline was trimmed.
    self.assertIn(b"\0" + USERNAME.encode() + b"\0" + PASSWORD.encode(), s["auth"])

  def test_sasl_scram_sha512_over_tls_with_the_password_file_from_the_environment(self):
    env = {"STEPPEWATCH_KAFKA_SASL_PASSWORD_FILE": self.password_file}
    s = self.sasl_case("SCRAM-SHA-512", env=env)
    # RFC 5802 client-first-message: gs2 header "n,,", then the user name and a nonce. The
    # password itself never crosses the wire with SCRAM.
    self.assertTrue(s["auth"][0].startswith(b"n,,n=" + USERNAME.encode() + b",r="), s["auth"])
    self.assertNotIn(PASSWORD.encode(), b"".join(s["auth"]))

  def test_oauthbearer_oidc_is_refused_at_start_by_this_librdkafka_build(self):
    # deploy/README.md tells operators OIDC is unavailable with Debian's librdkafka 2.0.2 (built
    # without libcurl). This pins that down: if a rebuilt librdkafka gains OIDC, this fails and
    # the README must change. The client secret must not be echoed in the refusal.
    secret = "oidc-s3cret-" + os.urandom(6).hex()
    cfg = sw.write_daemon_config(self.tmp, "oidc", "localhost:9", "sec-test", kafka_common={
        "security.protocol": "sasl_ssl", "sasl.mechanisms": "OAUTHBEARER",
        "sasl.oauthbearer.method": "oidc", "sasl.oauthbearer.client.id": "steppewatch",
        "sasl.oauthbearer.client.secret": secret,
        "sasl.oauthbearer.token.endpoint.url": "https://localhost:9/token"})
    out = subprocess.run([sw.SWD, "--config", cfg, "--rules", sw.DEFAULT_PACK],
                         capture_output=True, text=True, timeout=120)
    self.assertEqual(out.returncode, 2, out.stdout + out.stderr)
    self.assertIn("not supported in this build", out.stdout + out.stderr)
    self.assertNotIn(secret, out.stdout + out.stderr)


if __name__ == "__main__":
  unittest.main(verbosity=2)
