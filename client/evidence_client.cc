#include "client/evidence_client.h"

#include "client/unary_call.h"
#include "grpcpp/channel.h"

namespace havengate::client {

EvidenceClient::EvidenceClient(const Client& client)
    : timeout_(client.options().timeout), stub_(v1::Evidence::NewStub(client.channel())) {}

absl::StatusOr<v1::EvidenceRecords> EvidenceClient::Shared(const v1::SharedRequest& request) {
  return UnaryCall(*stub_, &v1::Evidence::Stub::Shared, request, timeout_);
}

absl::StatusOr<v1::EvidenceRecords> EvidenceClient::Received(
    const v1::ReceivedRequest& request) {
  return UnaryCall(*stub_, &v1::Evidence::Stub::Received, request, timeout_);
}

absl::StatusOr<v1::FieldReleasesResponse> EvidenceClient::FieldReleases(
    const v1::FieldReleasesRequest& request) {
  return UnaryCall(*stub_, &v1::Evidence::Stub::FieldReleases, request, timeout_);
}

absl::StatusOr<v1::ChainStatusResponse> EvidenceClient::ChainStatus() {
  return UnaryCall(*stub_, &v1::Evidence::Stub::ChainStatus, v1::ChainStatusRequest(),
                   timeout_);
}

absl::StatusOr<v1::ExtractResponse> EvidenceClient::Extract(const v1::ExtractRequest& request) {
  return UnaryCall(*stub_, &v1::Evidence::Stub::Extract, request, timeout_);
}

absl::StatusOr<v1::ActivityResponse> EvidenceClient::Activity(
    const v1::ActivityRequest& request) {
  return UnaryCall(*stub_, &v1::Evidence::Stub::Activity, request, timeout_);
}

absl::StatusOr<v1::FindItemsResponse> EvidenceClient::FindItems(
    const v1::FindItemsRequest& request) {
  return UnaryCall(*stub_, &v1::Evidence::Stub::FindItems, request, timeout_);
}

absl::StatusOr<v1::RecentHitsResponse> EvidenceClient::RecentHits(
    const v1::RecentHitsRequest& request) {
  return UnaryCall(*stub_, &v1::Evidence::Stub::RecentHits, request, timeout_);
}

}  // namespace havengate::client
