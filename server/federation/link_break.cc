#include "server/federation/link_break.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace havengate::server {

absl::string_view LinkBreakName(LinkBreak reason) {
  switch (reason) {
    case LinkBreak::kPeerUnreachable:
      return "peer_unreachable";
    case LinkBreak::kHandshakeRefused:
      return "handshake_refused";
    case LinkBreak::kRefusedByPeer:
      return "refused_by_peer";
    case LinkBreak::kPeerOutOfSpace:
      return "peer_out_of_space";
    case LinkBreak::kPeerBusy:
      return "peer_busy";
    case LinkBreak::kPeerUnavailable:
      return "peer_unavailable";
    case LinkBreak::kStreamBroken:
      return "stream_broken";
    case LinkBreak::kLocalError:
      return "local_error";
  }
  return "stream_broken";
}

LinkBreak ClassifyStreamEnd(const grpc::Status& status,
                            absl::string_view peer_reason) {
  if (peer_reason == kOutOfSpaceValue) return LinkBreak::kPeerOutOfSpace;
  if (peer_reason == kUnavailableValue) return LinkBreak::kPeerUnavailable;
  switch (status.error_code()) {
    case grpc::StatusCode::PERMISSION_DENIED:
    case grpc::StatusCode::UNAUTHENTICATED:
      return LinkBreak::kRefusedByPeer;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // Without the trailer: the peer's call limits (or an older peer).
      return LinkBreak::kPeerBusy;
    default:
      // Transport errors (reset, closed socket, keepalive timeout) and
      // anything unexpected, OK included: the peer ended the stream early.
      return LinkBreak::kStreamBroken;
  }
}

LinkBreak ClassifyConnectFailure(absl::string_view error) {
  // A connection that was accepted and then failed before HTTP/2 began
  // failed in the TLS handshake: a peer that does not trust this gateway's
  // certificate closes the socket after its last handshake message.
  const std::string lower = absl::AsciiStrToLower(error);
  for (absl::string_view sign : {"handshake", "ssl", "tls", "certificate",
                                 "socket closed", "connection reset",
                                 "end of file"}) {
    if (absl::StrContains(lower, sign)) return LinkBreak::kHandshakeRefused;
  }
  return LinkBreak::kPeerUnreachable;
}

bool RetrySoon(LinkBreak reason) {
  return reason == LinkBreak::kPeerOutOfSpace ||
         reason == LinkBreak::kPeerUnavailable ||
         reason == LinkBreak::kStreamBroken;
}

}  // namespace havengate::server
