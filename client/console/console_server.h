// ConsoleServer: the policy officers' console — a small web server on
// 127.0.0.1 only, for one officer, in front of their gateway. It holds no
// authority of its own: every page is a call to the gateway over mutual
// TLS with the officer's certificate (PolicyAdmin, Evidence, health), and
// the gateway authorises and audits each as that officer. A client or
// gateway certificate drives nothing: the gateway refuses, and the page
// shows its refusal.
//
// Browser safety: the URL carries a one-time token exchanged for a session
// cookie (SessionGuard); every POST must carry the session's CSRF token and
// come from this origin; requests for any other Host are refused (DNS
// rebinding); every response has a strict Content-Security-Policy (only
// this origin, no inline script or style), X-Frame-Options: DENY, nosniff,
// referrers only to itself, and no caching. Pages are rendered here (pages.h) with every
// value escaped.
//
// Thread-safety: Start/Stop from one thread; requests are served on the
// server's own threads.
#ifndef HAVENGATE_CLIENT_CONSOLE_CONSOLE_SERVER_H_
#define HAVENGATE_CLIENT_CONSOLE_CONSOLE_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/client.h"

namespace havengate::console {

struct ConsoleOptions {
  // The officer's connection to their gateway.
  client::ConnectionOptions connection;
  // Port on 127.0.0.1; 0 picks a free one.
  int port = 0;
};

class ConsoleServer {
 public:
  // Connects (lazily) and starts listening. INVALID_ARGUMENT / NOT_FOUND
  // for bad connection settings; UNAVAILABLE if the port cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ConsoleServer>> Start(
      const ConsoleOptions& options);
  virtual ~ConsoleServer() = default;

  // http://127.0.0.1:<port>/login?token=<one-time token>
  virtual std::string url() const = 0;
  virtual int port() const = 0;
  // Stops serving; idempotent.
  virtual void Stop() = 0;
};

}  // namespace havengate::console

#endif  // HAVENGATE_CLIENT_CONSOLE_CONSOLE_SERVER_H_
