// MetricsServer: the Prometheus scrape endpoint (GET /metrics) on its own
// port, HTTPS only. It presents the gateway's certificate and requires a
// client certificate issued by the organisation's own CA (and not revoked,
// if a CRL is given): a monitoring system gets a certificate from the
// organisation's CA like any other client. There is no plaintext listener.
// TLS 1.2 or later; built on cpp-httplib (Debian's libcpp-httplib, which
// is compiled with OpenSSL).
//
// The certificate, key, CA and CRL files are read at start; restart the
// gateway to pick up rotated files for this listener.
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
  // Scrapers must present a certificate issued by this CA.
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
  // Stops listening and waits for the serving threads. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace havengate::metrics

#endif  // HAVENGATE_SERVER_METRICS_METRICS_SERVER_H_
