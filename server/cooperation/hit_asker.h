// The asking side of hit/no-hit questions (cooperation.proto): sends one
// question to each partner asked, in parallel, each under its own
// deadline, over the same mutual-TLS credentials as the peer links, and
// audits every question with its outcome (HIT_QUESTION_ASKED) — a refusal
// or a partner that did not answer included. It never sends a personal
// value in clear: the key it is given is already a pseudonym code for
// personal types (CompiledPolicy::MatchKeyFor).
//
// Thread-safe: AddPeer and RemovePeer may run while questions are asked.
#ifndef HAVENGATE_SERVER_COOPERATION_HIT_ASKER_H_
#define HAVENGATE_SERVER_COOPERATION_HIT_ASKER_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "havengate/v1/cooperation.grpc.pb.h"
#include "server/store/store.h"

namespace havengate::server {

struct HitQuestionRequest {
  v1::MatchKey key;
  // Partner ids; empty: every peer added.
  std::vector<std::string> partners;
  std::string case_reference;
  absl::Duration timeout = absl::Seconds(5);
  // The client that asked (SPIFFE id), for the audit.
  std::string actor;
};

// `prefix` and 24 random hex digits: the id a gateway gives a question
// (`q-`) or a request (`rq-`) it sends.
std::string NewRandomId(absl::string_view prefix);

class HitAsker {
 public:
  // `store` must outlive the asker.
  explicit HitAsker(store::Store& store);

  // A partner's gateway at `address`, reached with `credentials`.
  void AddPeer(const std::string& partner, const std::string& address,
               std::shared_ptr<grpc::ChannelCredentials> credentials);
  // No longer asks `partner` (removed by a configuration reload).
  void RemovePeer(const std::string& partner);

  // Asks; one answer per partner, in the order asked. INVALID_ARGUMENT if
  // a partner named is not a peer; the audit failing fails the call
  // (answers are not returned unaudited).
  [[nodiscard]] absl::StatusOr<v1::AskHitsResponse> Ask(
      const HitQuestionRequest& request);

 private:
  store::Store& store_;
  std::mutex mu_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;  // guarded by mu_
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_COOPERATION_HIT_ASKER_H_
