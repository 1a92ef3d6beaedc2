// The gRPC faces of requests for withheld fields (requests.proto) over the
// FieldRequestDesk: FieldRequestExchange for peer gateways (configured
// peers only; others are CALL_REJECTED), and FieldRequests for this
// organisation's integration clients (Request, List with `sent`) and its
// policy officers (List, Show, Approve, Refuse: officer certificates
// only, PERMISSION_DENIED and audited for anyone else).
//
// Thread-safe; borrows everything it is given, which must outlive it.
#ifndef HAVENGATE_SERVER_FIELD_REQUESTS_SERVICE_H_
#define HAVENGATE_SERVER_FIELD_REQUESTS_SERVICE_H_

#include <mutex>
#include <set>
#include <string>

#include "havengate/v1/requests.grpc.pb.h"
#include "server/limits/caller_limits.h"
#include "server/officer_calls.h"
#include "server/requests/field_request_desk.h"
#include "server/security/authenticator.h"
#include "server/store/store.h"

namespace havengate::server {

class FieldRequestExchangeService final : public v1::FieldRequestExchange::Service {
 public:
  FieldRequestExchangeService(std::set<std::string> peers,
                              const security::Authenticator& authenticator,
                              limits::CallerLimits& limits, FieldRequestDesk& desk,
                              store::Store& store);

  grpc::Status Submit(grpc::ServerContext* context, const v1::FieldRequestSubmission* request,
                      v1::FieldRequestReceipt* response) override;

  // The configured peers from now on (configuration reload).
  void SetPeers(std::set<std::string> peers);

 private:
  bool IsPeer(const std::string& organisation);

  std::mutex mu_;
  std::set<std::string> peers_;  // guarded by mu_
  const security::Authenticator& authenticator_;
  limits::CallerLimits& limits_;
  FieldRequestDesk& desk_;
  store::Store& store_;
};

class FieldRequestsService final : public v1::FieldRequests::Service {
 public:
  FieldRequestsService(const security::Authenticator& authenticator,
                       limits::CallerLimits& limits, FieldRequestDesk& desk,
                       store::Store& store);

  grpc::Status Request(grpc::ServerContext* context, const v1::NewFieldRequest* request,
                       v1::FieldRequest* response) override;
  grpc::Status List(grpc::ServerContext* context, const v1::ListFieldRequestsRequest* request,
                    v1::ListFieldRequestsResponse* response) override;
  grpc::Status Show(grpc::ServerContext* context, const v1::FieldRequestId* request,
                    v1::FieldRequestView* response) override;
  grpc::Status Approve(grpc::ServerContext* context, const v1::FieldRequestDecision* request,
                       v1::FieldRequest* response) override;
  grpc::Status Refuse(grpc::ServerContext* context, const v1::FieldRequestDecision* request,
                      v1::FieldRequest* response) override;

 private:
  const security::Authenticator& authenticator_;
  limits::CallerLimits& limits_;
  FieldRequestDesk& desk_;
  OfficerCalls officers_;
};

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_FIELD_REQUESTS_SERVICE_H_
