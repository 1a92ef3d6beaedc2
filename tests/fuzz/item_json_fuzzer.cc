// Fuzz target: item ingest as integration clients push it — proto3 JSON
// parsed strictly (proto/json.h), then validated (proto/item_validation.h).
//
// Properties: parsing and validation never crash or hang; an error names
// what is wrong (a non-empty message); an item ValidateItem accepts is also
// accepted as a received item (those checks are a subset), can be stored
// and forwarded — its binary form parses back to the same item — and its
// JSON form parses back to the same item.
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "proto/item_validation.h"
#include "proto/json.h"
#include "tests/fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace havengate;
  using namespace havengate::fuzz;
  using google::protobuf::util::MessageDifferencer;
  // Over twice the item size limit: larger inputs are refused before
  // parsing by gRPC's receive limit.
  if (size > (2 << 20)) return 0;
  absl::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<v1::Item> item = ParseJsonAs<v1::Item>(json);
  if (!item.ok()) {
    HG_FUZZ_CHECK(absl::IsInvalidArgument(item.status()), item.status().ToString());
    HG_FUZZ_CHECK(!item.status().message().empty(), "");
    return 0;
  }
  absl::Status valid = ValidateItem(*item);
  absl::Status received = ValidateReceivedItem(*item);
  if (!valid.ok()) {
    HG_FUZZ_CHECK(absl::IsInvalidArgument(valid) || absl::IsResourceExhausted(valid),
                  valid.ToString());
    HG_FUZZ_CHECK(!valid.message().empty(), "");
    return 0;
  }
  HG_FUZZ_CHECK(received.ok(), received.ToString());

  std::string bytes;
  HG_FUZZ_CHECK(item->SerializeToString(&bytes), item->DebugString());
  v1::Item parsed;
  HG_FUZZ_CHECK(parsed.ParseFromString(bytes), item->DebugString());
  HG_FUZZ_CHECK(MessageDifferencer::Equals(parsed, *item), item->DebugString());

  std::string printed = ToJson(*item);
  absl::StatusOr<v1::Item> reparsed = ParseJsonAs<v1::Item>(printed);
  HG_FUZZ_CHECK(reparsed.ok(), absl::StrCat(reparsed.status().ToString(), "\n", printed));
  HG_FUZZ_CHECK(MessageDifferencer::Equals(*reparsed, *item), printed);
  return 0;
}
