#include "server/metrics/metrics_server.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "certs/trust_anchor_files.h"
#include "certs/x509.h"
#include "httplib.h"

namespace havengate::metrics {
namespace {

constexpr char kContentType[] = "text/plain; version=0.0.4; charset=utf-8";

// The last OpenSSL error, for messages; clears the queue.
std::string OpenSslReason() {
  unsigned long code = ERR_peek_last_error();
  std::string reason = code != 0 ? ERR_reason_error_string(code) != nullptr
                                       ? ERR_reason_error_string(code)
                                       : "unknown"
                                 : "unknown";
  ERR_clear_error();
  return reason;
}

// The SSL_CTX slot holding the scrapers' trust anchor (pki::TrustAnchorFiles).
int AnchorIndex() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// OpenSSL's verify callback: at the leaf, after OpenSSL's own chain check,
// the gRPC port's check — the current CA and CRL (re-read if changed), a
// SPIFFE id in the trust domain, and the client role. Fails closed.
int VerifyScraper(int preverify_ok, X509_STORE_CTX* store) {
  if (preverify_ok != 1) return 0;
  if (X509_STORE_CTX_get_error_depth(store) != 0) return 1;
  auto* ssl = static_cast<SSL*>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* anchor = ssl == nullptr ? nullptr
                                : static_cast<pki::TrustAnchorFiles*>(SSL_CTX_get_ex_data(
                                      SSL_get_SSL_CTX(ssl), AnchorIndex()));
  X509* leaf = X509_STORE_CTX_get_current_cert(store);
  if (anchor == nullptr || leaf == nullptr) return 0;
  (void)anchor->Refresh();  // a broken new file keeps the last good one
  X509_up_ref(leaf);
  pki::Certificate certificate = pki::Certificate::FromX509(pki::X509Ptr(leaf));
  pki::VerifyOptions options;
  options.at = absl::Now();
  options.purpose = pki::Purpose::kClientAuth;
  absl::StatusOr<pki::SpiffeId> id =
      pki::VerifyPeerCertificate(certificate, {}, anchor->Current()->anchor, options);
  if (!id.ok() || id->role() != pki::Role::kClient) {
    X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REJECTED);
    return 0;
  }
  return 1;
}

// The certificate chain and key this listener presents, replaced as a
// whole by ReloadIdentity; read once per handshake. Thread-safe.
class ServedIdentity {
 public:
  struct Pair {
    std::vector<pki::Certificate> chain;  // leaf first
    pki::PrivateKey key;
  };

  // Reads and checks the files: the key matches the leaf, which is valid now.
  static absl::StatusOr<std::shared_ptr<const Pair>> Read(const MetricsServerOptions& o) {
    absl::StatusOr<std::vector<pki::Certificate>> chain =
        pki::ReadCertificatesFile(o.certificate_file);
    if (!chain.ok()) return chain.status();
    absl::StatusOr<pki::PrivateKey> key = pki::PrivateKey::ReadFile(o.private_key_file);
    if (!key.ok()) return key.status();
    const pki::Certificate& leaf = chain->front();
    if (!key->Matches(leaf)) {
      return absl::InvalidArgumentError(absl::StrCat(
          o.private_key_file, ": not the private key of ", o.certificate_file));
    }
    const absl::Time now = absl::Now();
    if (now < leaf.not_before() || now > leaf.not_after()) {
      return absl::InvalidArgumentError(
          absl::StrCat(o.certificate_file, ": the certificate is not valid now"));
    }
    return std::make_shared<const Pair>(Pair{*std::move(chain), *std::move(key)});
  }

  std::shared_ptr<const Pair> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return current_;
  }
  void Replace(std::shared_ptr<const Pair> pair) {
    std::lock_guard<std::mutex> lock(mu_);
    current_ = std::move(pair);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const Pair> current_;  // guarded by mu_
};

// OpenSSL's certificate callback, at each handshake: presents the identity
// in force (SSL_use_cert_and_key takes its own references).
int PresentIdentity(SSL* ssl, void* arg) {
  std::shared_ptr<const ServedIdentity::Pair> pair =
      static_cast<const ServedIdentity*>(arg)->Get();
  if (pair == nullptr) return 1;  // the context's own, set up at start
  STACK_OF(X509)* chain = sk_X509_new_null();
  if (chain == nullptr) return 0;
  for (size_t i = 1; i < pair->chain.size(); ++i) {
    sk_X509_push(chain, pair->chain[i].native());
  }
  int ok = SSL_use_cert_and_key(ssl, pair->chain.front().native(), pair->key.native(),
                                chain, /*override=*/1);
  sk_X509_free(chain);  // the entries belong to `pair`
  return ok == 1 ? 1 : 0;
}

// Sets up the server context; on failure says what, naming the file.
bool SetUpContext(SSL_CTX& ctx, const MetricsServerOptions& o, pki::TrustAnchorFiles* anchor,
                  ServedIdentity* identity, std::string* problem) {
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                SSL_OP_CIPHER_SERVER_PREFERENCE |
                                SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(&ctx, o.certificate_file.c_str()) != 1) {
    *problem = absl::StrCat(o.certificate_file, ": not a usable certificate (",
                            OpenSslReason(), ")");
    return false;
  }
  if (SSL_CTX_use_PrivateKey_file(&ctx, o.private_key_file.c_str(),
                                  SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(&ctx) != 1) {
    *problem = absl::StrCat(o.private_key_file,
                            ": not the private key of the certificate (",
                            OpenSslReason(), ")");
    return false;
  }
  SSL_CTX_set_cert_cb(&ctx, PresentIdentity, identity);
  // Trust exactly the organisation's CA, for client certificates.
  if (SSL_CTX_load_verify_locations(&ctx, o.client_ca_file.c_str(), nullptr) != 1) {
    *problem = absl::StrCat(o.client_ca_file, ": not a usable CA certificate (",
                            OpenSslReason(), ")");
    return false;
  }
  STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
  if (names == nullptr) {
    *problem = absl::StrCat(o.client_ca_file, ": no CA certificate in it");
    return false;
  }
  SSL_CTX_set_client_CA_list(&ctx, names);
  // No intermediates in a havengate PKI: the client's certificate and the
  // CA that issued it. OpenSSL checks the chain; VerifyScraper then applies
  // havengate's own check (SPIFFE id, role, the CRL as it is now).
  SSL_CTX_set_ex_data(&ctx, AnchorIndex(), anchor);
  SSL_CTX_set_verify_depth(&ctx, 1);
  SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, VerifyScraper);
  return true;
}

class MetricsServerImpl final : public MetricsServer {
 public:
  MetricsServerImpl(const MetricsServerOptions& options,
                    std::unique_ptr<pki::TrustAnchorFiles> anchor, std::string* problem)
      : options_(options),
        anchor_(std::move(anchor)),
        server_([&options, anchor = anchor_.get(), identity = &identity_,
                 problem](SSL_CTX& ctx) {
          return SetUpContext(ctx, options, anchor, identity, problem);
        }) {}
  ~MetricsServerImpl() override { Stop(); }

  absl::Status Listen(const std::string& address,
                      std::function<std::string()> render) {
    absl::string_view host = address;
    int port = -1;
    size_t colon = host.rfind(':');
    if (colon == absl::string_view::npos ||
        !absl::SimpleAtoi(host.substr(colon + 1), &port) || port < 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("metrics.listen: ", address, " is not host:port"));
    }
    host = host.substr(0, colon);
    absl::ConsumePrefix(&host, "[");
    absl::ConsumeSuffix(&host, "]");
    std::string bind_host = host.empty() ? "0.0.0.0" : std::string(host);

    server_.new_task_queue = [] { return new httplib::ThreadPool(2); };
    // httplib's default is SO_REUSEPORT, which would let a second listener
    // of the same user share the port and take scrapes. Only reuse a port
    // in TIME_WAIT.
    server_.set_socket_options([](socket_t sock) {
      int yes = 1;
      setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
    });
    server_.set_read_timeout(5, 0);
    server_.set_write_timeout(5, 0);
    server_.set_keep_alive_max_count(20);
    server_.set_payload_max_length(4096);
    server_.Get("/metrics", [render = std::move(render)](
                                const httplib::Request&, httplib::Response& res) {
      res.set_content(render(), kContentType);
    });
    if (port == 0) {
      port_ = server_.bind_to_any_port(bind_host);
    } else if (server_.bind_to_port(bind_host, port)) {
      port_ = port;
    }
    if (port_ <= 0) {
      return absl::UnavailableError(absl::StrCat(
          "metrics.listen: cannot listen on ", address,
          " (address in use, or not an address of this machine)"));
    }
    thread_ = std::thread([this] {
      // A scraper that disconnects while TLS writes to it must not kill the
      // gateway with SIGPIPE: OpenSSL writes with write(2), not with
      // MSG_NOSIGNAL. httplib ignores SIGPIPE process-wide when a server is
      // built, but nothing stops another part of the process from resetting
      // that: blocked here, SIGPIPE is blocked in the serving threads too
      // (they start from this one), and writes just fail with EPIPE.
      sigset_t pipe;
      sigemptyset(&pipe);
      sigaddset(&pipe, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
      server_.listen_after_bind();
    });
    // stop() only works once the loop runs.
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!server_.is_running() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    return absl::OkStatus();
  }

  int port() const override { return port_; }

  absl::Status ReloadIdentity() override {
    absl::StatusOr<std::shared_ptr<const ServedIdentity::Pair>> pair =
        ServedIdentity::Read(options_);
    if (!pair.ok()) {
      return absl::Status(pair.status().code(),
                          absl::StrCat("metrics: ", pair.status().message()));
    }
    identity_.Replace(*std::move(pair));
    return absl::OkStatus();
  }

  void Stop() override {
    if (stopped_.exchange(true)) return;
    if (thread_.joinable()) {
      server_.stop();
      thread_.join();
    }
  }

  bool valid() const { return server_.is_valid(); }

 private:
  const MetricsServerOptions options_;
  // Both before server_: its context uses them.
  std::unique_ptr<pki::TrustAnchorFiles> anchor_;
  ServedIdentity identity_;
  httplib::SSLServer server_;
  int port_ = 0;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    const MetricsServerOptions& options, std::function<std::string()> render) {
  absl::StatusOr<std::unique_ptr<pki::TrustAnchorFiles>> anchor =
      pki::TrustAnchorFiles::Load(options.trust_domain, options.client_ca_file, options.crl_file);
  if (!anchor.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("metrics: ", anchor.status().message()));
  }
  std::string problem;
  auto server = std::make_unique<MetricsServerImpl>(options, *std::move(anchor), &problem);
  if (!server->valid()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics: ", problem.empty() ? "cannot set up TLS" : problem));
  }
  absl::Status listening = server->Listen(options.listen_address, std::move(render));
  if (!listening.ok()) return listening;
  return std::unique_ptr<MetricsServer>(std::move(server));
}

}  // namespace havengate::metrics
