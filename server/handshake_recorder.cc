#include "server/handshake_recorder.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/logging/log.h"
#include "server/audit/audit_record.h"

namespace havengate::server {

void HandshakeRecorder::OnHandshakeRejected(const security::HandshakeRejection& rejection) {
  absl::string_view reason = pki::RejectReasonName(rejection.reason);
  metrics_.TlsHandshakeFailed(reason);
  int64_t second = absl::ToUnixSeconds(absl::Now());
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (second != second_) {
      second_ = second;
      recorded_this_second_ = 0;
    }
    if (++recorded_this_second_ > kMaxRecordsPerSecond) return;
  }
  log::Warn("handshake_refused", {{"reason", reason},
                                  {"claimed", rejection.claimed_spiffe_id},
                                  {"detail", rejection.detail}});
  v1::AuditRecord record =
      audit::MakeAuditRecord(v1::CALL_REJECTED, rejection.claimed_spiffe_id);
  record.set_reason(absl::StrCat("TLS handshake refused: ", reason));
  record.set_detail(rejection.detail);
  store_.AppendAuditAsync({std::move(record)}, [](absl::Status) {});
}

void HandshakeRecorder::OnReloadProblem(const absl::Status& problem) {
  log::Error("tls_reload_failed", {{"reason", problem.message()}});
}

void HandshakeRecorder::OnIdentityRotated(absl::string_view serial) {
  log::Info("tls_certificate_rotated", {{"serial", serial}});
}

}  // namespace havengate::server
