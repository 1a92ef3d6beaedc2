// The answering side of hit/no-hit questions (cooperation.proto): a peer
// gateway asks whether this gateway holds items under a match key. Only a
// configured peer may call (others: CALL_REJECTED); only the key types the
// active policy's `matching.answer` allows that partner are answered
// (others: PERMISSION_DENIED, audited HIT_QUESTION_REFUSED); every answer
// is audited (HIT_QUESTION_ANSWERED) before it leaves. An answer carries
// item references and the policy's contact point, never contents. Each
// question is a call under the peer gateway's call limits.
//
// Thread-safe (peers change on a configuration reload); borrows everything it is given, which must outlive it.
#ifndef HAVENGATE_SERVER_COOPERATION_COOPERATION_SERVICE_H_
#define HAVENGATE_SERVER_COOPERATION_COOPERATION_SERVICE_H_

#include <mutex>
#include <set>
#include <string>

#include "havengate/v1/cooperation.grpc.pb.h"
#include "server/limits/caller_limits.h"
#include "server/policy_holder/policy_holder.h"
#include "server/security/authenticator.h"
#include "server/store/store.h"

namespace havengate::server {

struct CooperationServiceOptions {
  // This organisation's id.
  std::string organisation;
  // Organisation ids of the configured peers: only they may call.
  std::set<std::string> peers;
  // Must outlive the service; null: no limits.
  limits::CallerLimits* caller_limits = nullptr;
  // Questions per partner gateway (limits.hit_questions_per_second), on top
  // of caller_limits. Must outlive the service; null: no limit.
  limits::CallerLimits* question_limits = nullptr;
};

// At most this many item references in one answer.
inline constexpr int kMaxHitReferences = 20;

class CooperationService final : public v1::Cooperation::Service {
 public:
  CooperationService(CooperationServiceOptions options,
                     const security::Authenticator& authenticator,
                     const PolicyHolder& policies, store::Store& store);

  grpc::Status AskHit(grpc::ServerContext* context, const v1::HitQuestion* request,
                      v1::HitAnswer* response) override;

  // The configured peers from now on (configuration reload).
  void SetPeers(std::set<std::string> peers);

 private:
  bool IsPeer(const std::string& organisation);

  std::mutex mu_;
  CooperationServiceOptions options_;  // .peers guarded by mu_
  const security::Authenticator& authenticator_;
  const PolicyHolder& policies_;
  store::Store& store_;
};

// Whether `s` holds printable ASCII only (ids, case references).
bool PrintableAscii(absl::string_view s);

// Checks a question's fields. INVALID_ARGUMENT names the field, never the
// key's value. A personal key type must carry a pseudonym code.
[[nodiscard]] absl::Status ValidateHitQuestion(const v1::HitQuestion& question);

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_COOPERATION_COOPERATION_SERVICE_H_
