#include "server/federation/link_break.h"

#include "gtest/gtest.h"

namespace havengate::server {
namespace {

TEST(LinkBreakTest, StreamEndsAreNamedByTheirStatusAndThePeersTrailer) {
  const grpc::Status full(grpc::StatusCode::RESOURCE_EXHAUSTED, "storage is full");
  EXPECT_EQ(ClassifyStreamEnd(full, kOutOfSpaceValue), LinkBreak::kPeerOutOfSpace);
  // The same code from the peer's call limits carries no trailer.
  EXPECT_EQ(ClassifyStreamEnd(full, ""), LinkBreak::kPeerBusy);
  const grpc::Status down(grpc::StatusCode::UNAVAILABLE, "shutting down");
  EXPECT_EQ(ClassifyStreamEnd(down, kUnavailableValue), LinkBreak::kPeerUnavailable);
  EXPECT_EQ(ClassifyStreamEnd(grpc::Status(grpc::StatusCode::UNAVAILABLE, "Socket closed"), ""),
            LinkBreak::kStreamBroken);
  EXPECT_EQ(ClassifyStreamEnd(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no"), ""),
            LinkBreak::kRefusedByPeer);
  EXPECT_EQ(ClassifyStreamEnd(grpc::Status(grpc::StatusCode::UNAUTHENTICATED, "no"), ""),
            LinkBreak::kRefusedByPeer);
  EXPECT_EQ(ClassifyStreamEnd(grpc::Status::OK, ""), LinkBreak::kStreamBroken);
}

TEST(LinkBreakTest, ConnectFailuresTellAHandshakeFromNoAnswer) {
  EXPECT_EQ(ClassifyConnectFailure(
                "failed to connect to all addresses; last error: UNKNOWN: "
                "ipv4:127.0.0.1:1: Failed to connect to remote host: Connection refused"),
            LinkBreak::kPeerUnreachable);
  EXPECT_EQ(ClassifyConnectFailure("no connection within the connect timeout"),
            LinkBreak::kPeerUnreachable);
  EXPECT_EQ(ClassifyConnectFailure("Ssl handshake failed: SSL_ERROR_SSL"),
            LinkBreak::kHandshakeRefused);
  EXPECT_EQ(ClassifyConnectFailure("failed to connect to all addresses; last error: "
                                   "UNAVAILABLE: ipv4:127.0.0.1:1: Socket closed"),
            LinkBreak::kHandshakeRefused);
}

TEST(LinkBreakTest, OnlyAPeerThatAnsweredIsRetriedSoon) {
  EXPECT_TRUE(RetrySoon(LinkBreak::kPeerOutOfSpace));
  EXPECT_TRUE(RetrySoon(LinkBreak::kPeerUnavailable));
  EXPECT_FALSE(RetrySoon(LinkBreak::kPeerUnreachable));
  EXPECT_FALSE(RetrySoon(LinkBreak::kHandshakeRefused));
  EXPECT_FALSE(RetrySoon(LinkBreak::kRefusedByPeer));
  for (LinkBreak reason : kAllLinkBreaks) EXPECT_FALSE(LinkBreakName(reason).empty());
}

}  // namespace
}  // namespace havengate::server
