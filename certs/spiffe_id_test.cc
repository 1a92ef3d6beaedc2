#include "certs/spiffe_id.h"

#include "gtest/gtest.h"

namespace havengate::pki {
namespace {

TEST(SpiffeIdTest, Placeholder) { EXPECT_TRUE(SpiffeId::Parse("spiffe://a.example/gateway").ok()); }

}  // namespace
}  // namespace havengate::pki
