// MetricsServer: the Prometheus scrape endpoint (GET /metrics) on its own
// port, HTTPS only. It presents the gateway's certificate and applies the
// trust of the gRPC port: the scraper's certificate must be an integration
// client's of this organisation (spiffe://<domain>/client/<name>, issued by
// the organisation's CA, not revoked), verified by the same code as the
// gRPC port's (pki::VerifyPeerCertificate); an officer's or a gateway's
// certificate, or one without a SPIFFE id, is refused in the handshake. A
// monitoring system gets a client certificate like any other client. There
// is no plaintext listener. TLS 1.2 or later; built on cpp-httplib
// (Debian's libcpp-httplib, which is compiled with OpenSSL).
//
// The CA and CRL are re-read when they change on disk (a revocation takes
// effect at the next handshake); the served certificate and key are read
// at start and again by ReloadIdentity (the gateway's SIGHUP).
//
// Thread-safe. Serves on two threads of its own; `render` is called on
// them, concurrently with everything else.
#ifndef HAVENGATE_SERVER_METRICS_METRICS_SERVER_H_
#define HAVENGATE_SERVER_METRICS_METRICS_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace havengate::metrics {

struct MetricsServerOptions {
  // host:port; port 0 picks a free port (see port()).
  std::string listen_address;
  // The identity served: the gateway's certificate (leaf first) and key.
  std::string certificate_file;
  std::string private_key_file;
  // Scrapers must present a client certificate of this trust domain,
  // issued by this CA.
  std::string trust_domain;
  std::string client_ca_file;
  // Optional CRL of that CA.
  std::string crl_file;
};

class MetricsServer {
 public:
  // Listens and starts serving `render()` as text/plain; version=0.0.4.
  // INVALID_ARGUMENT naming the file for unusable certificates, keys or
  // CAs; UNAVAILABLE if the address cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      const MetricsServerOptions& options, std::function<std::string()> render);

  virtual ~MetricsServer() = default;
  virtual int port() const = 0;
  // Reads the certificate and key files again: if they are a matching pair
  // and the certificate is valid now, the next handshakes present them;
  // otherwise why not (the identity served stays).
  [[nodiscard]] virtual absl::Status ReloadIdentity() = 0;
  // Stops listening and waits for the serving threads. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace havengate::metrics

#endif  // HAVENGATE_SERVER_METRICS_METRICS_SERVER_H_
