// Preflight: everything a gateway start checks, checked without starting
// anything — for `havengate --check-config`, and as the first step of every
// start, so that a start that would fail fails before it creates a store,
// an audit log, TLS state or a policy history entry.
//
// Checks, beyond the syntax LoadGatewayConfig already validated: the policy
// compiles, is written for this organisation and names only configured
// peers; the gateway certificate and key are readable, match, the key is
// owner-only, and the certificate is this organisation's gateway
// (spiffe://<organisation.domain>/gateway); the own CA, the CRL and every
// peer's CA and CRL are readable and parse; the store can be created or
// written (missing directories are created by the store: the nearest
// existing one must be writable); the listen and metrics ports are free.
//
// Creates and changes nothing. Thread-safe (pure apart from reading files
// and binding-then-closing test sockets).
#ifndef HAVENGATE_SERVER_PREFLIGHT_PREFLIGHT_H_
#define HAVENGATE_SERVER_PREFLIGHT_PREFLIGHT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "server/config/config.h"

namespace havengate::preflight {

struct PreflightOptions {
  // Bind-and-release the listen and metrics ports to see they are free.
  // Off where another process legitimately holds them (a reload check of
  // the running gateway's own configuration).
  bool check_ports = true;
};

// OK, or FAILED_PRECONDITION listing every problem found, one per line,
// each naming the config key and the file or value concerned.
[[nodiscard]] absl::Status CheckBeforeStart(const config::GatewayConfig& config,
                                            const PreflightOptions& options = {});

}  // namespace havengate::preflight

#endif  // HAVENGATE_SERVER_PREFLIGHT_PREFLIGHT_H_
