// ScrapeMetrics: GET /metrics from a gateway's HTTPS metrics endpoint as
// Prometheus would (a client certificate of the gateway's own CA, the
// gateway's certificate verified), parsed strictly (exposition_parser.h).
// For tests and tools that check what a running gateway exposes.
#ifndef HAVENGATE_SERVER_METRICS_SCRAPE_H_
#define HAVENGATE_SERVER_METRICS_SCRAPE_H_

#include <string>

#include "absl/status/statusor.h"
#include "server/metrics/exposition_parser.h"

namespace havengate::metrics {

struct ScrapeTarget {
  int port = 0;               // on 127.0.0.1, verified as "localhost"
  std::string ca;             // the gateway's CA certificate
  std::string certificate;    // a client certificate of that CA
  std::string private_key;
};

// UNAVAILABLE if the endpoint cannot be reached or does not answer 200;
// INVALID_ARGUMENT if the page is not valid exposition text.
[[nodiscard]] absl::StatusOr<Exposition> ScrapeMetrics(const ScrapeTarget& target);

}  // namespace havengate::metrics

#endif  // HAVENGATE_SERVER_METRICS_SCRAPE_H_
