#include "proto/digest.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "havengate/v1/item.pb.h"

namespace havengate {
namespace {

TEST(DigestTest, Sha256HexIsBareLowerCaseHex) {
  // FIPS 180-2, appendix B.1.
  EXPECT_EQ(Sha256Hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestTest, AppendHexAppends) {
  std::string out = "ps:";
  AppendHex(std::string("\x00\x7f\xff", 3), &out);
  EXPECT_EQ(out, "ps:007fff");
}

TEST(DigestTest, DeterministicBytesDecodeToTheSameMessage) {
  v1::Item item;
  item.set_item_id("a1");
  item.mutable_alert()->set_title("title");
  const std::string bytes = DeterministicBytes(item);
  EXPECT_EQ(bytes, DeterministicBytes(item));
  v1::Item back;
  ASSERT_TRUE(back.ParseFromString(bytes));
  EXPECT_EQ(back.item_id(), "a1");
  EXPECT_EQ(back.alert().title(), "title");
}

}  // namespace
}  // namespace havengate
