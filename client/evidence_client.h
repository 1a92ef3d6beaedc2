// EvidenceClient: the policy officers' side of the Evidence service
// (evidence.proto): the oversight questions asked of a running gateway,
// for `havenctl audit ... --remote` and the officers' console. The Client's
// connection must carry an officer certificate; any other certificate gets
// PERMISSION_DENIED from the gateway.
//
// Errors are the gateway's status (code and message). Thread-safe.
#ifndef HAVENGATE_CLIENT_EVIDENCE_CLIENT_H_
#define HAVENGATE_CLIENT_EVIDENCE_CLIENT_H_

#include <memory>

#include "absl/status/statusor.h"
#include "client/client.h"
#include "havengate/v1/evidence.grpc.pb.h"

namespace havengate::client {

class EvidenceClient {
 public:
  // `client` must outlive this object.
  explicit EvidenceClient(const Client& client);

  [[nodiscard]] absl::StatusOr<v1::EvidenceRecords> Shared(const v1::SharedRequest& request);
  [[nodiscard]] absl::StatusOr<v1::EvidenceRecords> Received(
      const v1::ReceivedRequest& request);
  [[nodiscard]] absl::StatusOr<v1::FieldReleasesResponse> FieldReleases(
      const v1::FieldReleasesRequest& request);
  [[nodiscard]] absl::StatusOr<v1::ChainStatusResponse> ChainStatus();
  [[nodiscard]] absl::StatusOr<v1::ExtractResponse> Extract(const v1::ExtractRequest& request);
  [[nodiscard]] absl::StatusOr<v1::ActivityResponse> Activity(
      const v1::ActivityRequest& request);
  [[nodiscard]] absl::StatusOr<v1::FindItemsResponse> FindItems(
      const v1::FindItemsRequest& request);
  [[nodiscard]] absl::StatusOr<v1::RecentHitsResponse> RecentHits(
      const v1::RecentHitsRequest& request);

 private:
  absl::Duration timeout_;
  std::unique_ptr<v1::Evidence::Stub> stub_;
};

}  // namespace havengate::client

#endif  // HAVENGATE_CLIENT_EVIDENCE_CLIENT_H_
