// Connection settings shared by havenctl commands that talk to a gateway:
// a connection file (--connection, or $HAVENCTL_CONNECTION, or
// ./havenctl.yaml) whose values individual flags override.
#ifndef HAVENGATE_CLIENT_HAVENCTL_CONNECTION_FLAGS_H_
#define HAVENGATE_CLIENT_HAVENCTL_CONNECTION_FLAGS_H_

#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "client/client.h"

namespace havengate::havenctl {

class ConnectionFlags {
 public:
  // Adds --connection, --address, --cert, --key, --ca, --gateway-id to `cmd`.
  void AddTo(CLI::App& cmd);
  // Resolves the settings and connects.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<client::Client>> Connect() const;
  // As Connect, for calls only integration clients may make (items): a
  // certificate of another role is refused before connecting, with the
  // gateway's words, instead of a call the gateway refuses and audits.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<client::Client>> ConnectAsClient() const;
  [[nodiscard]] absl::StatusOr<client::ConnectionOptions> Resolve() const;

 private:
  std::string connection_file_;
  std::string address_, certificate_, private_key_, ca_, gateway_id_;
};

}  // namespace havengate::havenctl

#endif  // HAVENGATE_CLIENT_HAVENCTL_CONNECTION_FLAGS_H_
