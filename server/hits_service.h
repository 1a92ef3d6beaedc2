// The Hits service (hits.proto): integration clients page through the hits
// their gateway recorded. Hits are also events of Inbox.Subscribe (with
// `include_hits` or `hits_only`).
//
// Thread-safe; borrows the authenticator, limits and store, which must
// outlive it.
#ifndef HAVENGATE_SERVER_HITS_SERVICE_H_
#define HAVENGATE_SERVER_HITS_SERVICE_H_

#include "havengate/v1/cooperation.grpc.pb.h"
#include "havengate/v1/hits.grpc.pb.h"
#include "server/cooperation/hit_asker.h"
#include "server/limits/caller_limits.h"
#include "server/policy_holder/policy_holder.h"
#include "server/security/authenticator.h"
#include "server/store/store.h"

namespace havengate::server {

class HitsService final : public v1::Hits::Service {
 public:
  HitsService(const security::Authenticator& authenticator,
              limits::CallerLimits& limits, store::Store& store);

  grpc::Status List(grpc::ServerContext* context,
                    const v1::ListHitsRequest* request,
                    v1::ListHitsResponse* response) override;

 private:
  const security::Authenticator& authenticator_;
  limits::CallerLimits& limits_;
  store::Store& store_;
};

// HitQuestions (cooperation.proto): an integration client asks the
// partners whether they hold anything under a key. The value becomes a key
// as this gateway's policy indexes it (a personal value in clear becomes
// its pseudonym under the matching key; without one it is refused); the
// asker audits each partner's outcome.
class HitQuestionsService final : public v1::HitQuestions::Service {
 public:
  HitQuestionsService(const security::Authenticator& authenticator,
                      limits::CallerLimits& limits, const PolicyHolder& policies,
                      HitAsker& asker);

  grpc::Status Ask(grpc::ServerContext* context, const v1::AskHitsRequest* request,
                   v1::AskHitsResponse* response) override;

 private:
  const security::Authenticator& authenticator_;
  limits::CallerLimits& limits_;
  const PolicyHolder& policies_;
  HitAsker& asker_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_HITS_SERVICE_H_
