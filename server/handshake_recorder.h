// HandshakeRecorder: what the gateway does with a refused TLS handshake —
// counts it (metrics), logs it and records it as CALL_REJECTED evidence.
// Audit records are capped per second so that a flood of probes cannot
// flood the evidence log; the metric counts every one.
//
// Thread-safe: the security layer calls it from gRPC's handshake threads.
// `metrics` and `store` are borrowed and must outlive it.
#ifndef HAVENGATE_SERVER_HANDSHAKE_RECORDER_H_
#define HAVENGATE_SERVER_HANDSHAKE_RECORDER_H_

#include <cstdint>
#include <mutex>

#include "server/metrics/gateway_metrics.h"
#include "server/security/server_security.h"
#include "server/store/store.h"

namespace havengate::server {

class HandshakeRecorder final : public security::HandshakeListener {
 public:
  HandshakeRecorder(metrics::GatewayMetrics& metrics, store::Store& store)
      : metrics_(metrics), store_(store) {}

  void OnHandshakeRejected(const security::HandshakeRejection& rejection) override;
  void OnReloadProblem(const absl::Status& problem) override;
  void OnIdentityRotated(absl::string_view serial) override;

 private:
  static constexpr int kMaxRecordsPerSecond = 20;
  metrics::GatewayMetrics& metrics_;
  store::Store& store_;
  std::mutex mu_;
  int64_t second_ = 0;            // guarded by mu_
  int recorded_this_second_ = 0;  // guarded by mu_
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_HANDSHAKE_RECORDER_H_
