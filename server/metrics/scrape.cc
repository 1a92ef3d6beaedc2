#include "server/metrics/scrape.h"

#include <memory>

#include "absl/strings/str_cat.h"
#include "httplib.h"

namespace havengate::metrics {

absl::StatusOr<Exposition> ScrapeMetrics(const ScrapeTarget& target) {
  auto cli = std::make_unique<httplib::SSLClient>("localhost", target.port,
                                                  target.certificate, target.private_key);
  cli->set_hostname_addr_map({{"localhost", "127.0.0.1"}});
  cli->set_ca_cert_path(target.ca);
  cli->enable_server_certificate_verification(true);
  cli->set_connection_timeout(5, 0);
  cli->set_read_timeout(5, 0);
  httplib::Result res = cli->Get("/metrics");
  if (!res) {
    return absl::UnavailableError(absl::StrCat("GET /metrics on port ", target.port, ": ",
                                               httplib::to_string(res.error())));
  }
  if (res->status != 200) {
    return absl::UnavailableError(
        absl::StrCat("GET /metrics on port ", target.port, ": HTTP ", res->status));
  }
  return ParseExposition(res->body);
}

}  // namespace havengate::metrics
