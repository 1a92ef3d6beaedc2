// Gateway: one havengate node, assembled from its configuration — the
// store, the mutual-TLS listener, the services, the health service — and
// its orderly shutdown. main() only parses flags and runs this.
#ifndef HAVENGATE_SERVER_GATEWAY_H_
#define HAVENGATE_SERVER_GATEWAY_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/config/config.h"

namespace havengate::server {

class Gateway {
 public:
  // Opens the store, loads certificates and starts listening. Returns
  // INVALID_ARGUMENT / NOT_FOUND / UNAVAILABLE naming what is wrong (a
  // certificate file, the store, the listen address) and starts nothing.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Gateway>> Start(
      const config::GatewayConfig& config);

  virtual ~Gateway() = default;

  // The port the gateway listens on (useful when the config asked for 0).
  virtual int port() const = 0;

  // SIGHUP: reads the configuration file at `config_path` again and
  // applies it as a whole, or refuses it as a whole (the running
  // configuration stays): peers added, removed or changed (only their
  // links restart; a removed peer's handshakes and calls are refused from
  // then on, its outbox is kept), the item and call limits, and the policy
  // file (re-read at once). A file that changes a setting only a restart
  // applies (listen address, store, organisation, ...) is refused, saying
  // so. Logged (one line per problem), counted
  // (havengate_config_reload_total), shown in health
  // (havengate.v1.Config) and, when applied, audited (CONFIG_RELOADED).
  // Returns why the file was refused.
  virtual absl::Status Reload(const std::string& config_path) = 0;

  // Stops accepting calls, lets in-flight calls finish for up to `grace`,
  // then cancels the rest, flushes and closes the store. Idempotent.
  virtual void Shutdown(absl::Duration grace) = 0;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_GATEWAY_H_
