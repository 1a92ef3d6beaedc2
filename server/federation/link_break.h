// LinkBreak: why a peer link's session ended or could not start, as a closed
// set of names for logs, the `reason` label of
// havengate_peer_link_breaks_total and the federation health detail.
//
// The sending link (PeerLink) classifies each break from what it saw: no
// connection, a failed TLS handshake, or the status (and trailing metadata)
// the receiving gateway ended the Exchange stream with. The receiving side
// (FederationService) names its transient conditions in the trailing
// metadata key kBreakReasonKey so that a full disk is told apart from a call
// limit (both RESOURCE_EXHAUSTED).
//
// Pure functions; any thread.
#ifndef HAVENGATE_SERVER_FEDERATION_LINK_BREAK_H_
#define HAVENGATE_SERVER_FEDERATION_LINK_BREAK_H_

#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "grpcpp/support/status.h"

namespace havengate::server {

enum class LinkBreak {
  kPeerUnreachable,   // no connection: refused, timed out, no route
  kHandshakeRefused,  // the TLS handshake failed (either side's trust)
  kRefusedByPeer,     // the peer answered PERMISSION_DENIED/UNAUTHENTICATED
  kPeerOutOfSpace,    // the peer's storage is full (RESOURCE_EXHAUSTED)
  kPeerBusy,          // the peer's call limits refused the stream
  kPeerUnavailable,   // the peer answered UNAVAILABLE (shutting down, store)
  kStreamBroken,      // the connection or stream broke mid-way
  kLocalError,        // this gateway could not read its own outbox
};

// Every value, for metrics shown at zero from the start.
inline constexpr LinkBreak kAllLinkBreaks[] = {
    LinkBreak::kPeerUnreachable, LinkBreak::kHandshakeRefused,
    LinkBreak::kRefusedByPeer,   LinkBreak::kPeerOutOfSpace,
    LinkBreak::kPeerBusy,        LinkBreak::kPeerUnavailable,
    LinkBreak::kStreamBroken,    LinkBreak::kLocalError};

// "peer_unreachable", "handshake_refused", ...
absl::string_view LinkBreakName(LinkBreak reason);

// Trailing metadata the receiving gateway sets on a transient end of an
// Exchange stream; values are kOutOfSpaceValue and kUnavailableValue.
inline constexpr char kBreakReasonKey[] = "havengate-break-reason";
inline constexpr char kOutOfSpaceValue[] = "out_of_space";
inline constexpr char kUnavailableValue[] = "unavailable";

// Why an Exchange stream that was connected ended with `status`;
// `peer_reason` is the kBreakReasonKey trailer ("" if absent).
LinkBreak ClassifyStreamEnd(const grpc::Status& status,
                            absl::string_view peer_reason);

// Why a connection attempt failed, from the error gRPC reports for a call
// on the failed channel ("" if none was obtained).
LinkBreak ClassifyConnectFailure(absl::string_view error);

// Whether the peer is up and answered that it cannot take messages for now
// (out of space, unavailable) or the stream broke mid-way: the link then
// retries within a short cap instead of backing off exponentially.
bool RetrySoon(LinkBreak reason);

}  // namespace havengate::server

#endif  // HAVENGATE_SERVER_FEDERATION_LINK_BREAK_H_
