// The body schema as the policy engine sees it: the tree of field paths of
// one body message (`Alert` or `IntelligenceReport`), numbered in preorder so
// that every subtree is a contiguous range of node indexes, and `FieldSet`,
// a bit set over those nodes.
//
// Rules compile their `share`, `withhold` and transforms into FieldSets;
// deciding an item is then word-wise OR / AND-NOT and range tests, with no
// string handling. `google.protobuf.Timestamp` fields are leaves (a time is
// shared or withheld whole); every other message field has its sub-fields
// as children, also through repeated fields (`containers.number`).
//
// A BodySchema is immutable after construction and thread-safe. FieldSet is
// a plain value.
#ifndef HAVENGATE_POLICY_SCHEMA_H_
#define HAVENGATE_POLICY_SCHEMA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "havengate/v1/item.pb.h"

namespace havengate::policy {

// What kind of value a schema node holds; decides which transforms apply.
enum class ValueType {
  kMessage,    // A message with sub-fields (e.g. `location`, `containers`).
  kString,
  kEnum,
  kBool,
  kInteger,
  kDouble,
  kBytes,
  kTimestamp,  // google.protobuf.Timestamp, a leaf.
};

// "text", "a time", "a list of ...": for messages to policy officers.
std::string DescribeType(ValueType type, bool repeated);

struct SchemaNode {
  // Null for the root (the body itself).
  const google::protobuf::FieldDescriptor* field = nullptr;
  int parent = -1;
  // One past the last node of this node's subtree.
  int end = 0;
  // Path from the body, e.g. `containers.number`; empty for the root.
  std::string path;
  ValueType type = ValueType::kMessage;
  bool repeated = false;
  // True if the node has no children.
  bool leaf = false;
  // True for a `GeoPoint` message (round_geo applies to it as a whole).
  bool geo_point = false;
  google::protobuf::FieldDescriptor::CppType cpp_type =
      google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE;
  // For message-typed nodes (and the root): the reflection of that message
  // type, looked up once here because GetReflection() is costly per call.
  const google::protobuf::Reflection* reflection = nullptr;
  // For message-typed nodes: the default instance, to create new ones
  // without reflection's per-call factory lookup.
  const google::protobuf::Message* prototype = nullptr;
};

// The reflection of generated message type `d` (valid for every instance).
const google::protobuf::Reflection* ReflectionOf(const google::protobuf::Descriptor* d);

class BodySchema {
 public:
  // Builds the tree for `body` (Alert or IntelligenceReport descriptor).
  BodySchema(v1::ItemKind kind, const google::protobuf::Descriptor* body);

  v1::ItemKind kind() const { return kind_; }
  // "alert" / "report": for messages.
  absl::string_view kind_name() const;
  const google::protobuf::Descriptor* body() const { return body_; }
  int size() const { return static_cast<int>(nodes_.size()); }
  const SchemaNode& node(int index) const { return nodes_[index]; }

  // Node of `path` (`*` is the root, i.e. the whole body). INVALID_ARGUMENT
  // with a reason for officers ("`containers.numbr`: containers has no field
  // `numbr` (did you mean `number`?)") otherwise.
  [[nodiscard]] absl::StatusOr<int> Find(absl::string_view path) const;

  // The schema of each body kind, built once.
  static const BodySchema& Alert();
  static const BodySchema& Report();
  // Alert() or Report(); nullptr for ITEM_KIND_UNSPECIFIED.
  static const BodySchema* ForKind(v1::ItemKind kind);

 private:
  void Add(const google::protobuf::FieldDescriptor* field, int parent,
           const std::string& prefix,
           std::vector<const google::protobuf::Descriptor*>& stack);

  v1::ItemKind kind_;
  const google::protobuf::Descriptor* body_;
  std::vector<SchemaNode> nodes_;
  absl::flat_hash_map<std::string, int> by_path_;
};

// A set of schema nodes.
class FieldSet {
 public:
  FieldSet() = default;
  explicit FieldSet(int size) : words_((size + 63) / 64, 0) {}

  void Set(int i) { words_[i >> 6] |= uint64_t{1} << (i & 63); }
  bool Test(int i) const { return (words_[i >> 6] >> (i & 63)) & 1; }
  void SetRange(int begin, int end);
  // Inline: called for every field of every decision.
  bool AnyInRange(int begin, int end) const {
    for (int w = begin >> 6; begin < end; ++w) {
      int to = end < (w + 1) * 64 ? end : (w + 1) * 64;
      if (words_[w] & RangeMask(begin & 63, to - w * 64)) return true;
      begin = to;
    }
    return false;
  }
  bool AllInRange(int begin, int end) const {
    for (int w = begin >> 6; begin < end; ++w) {
      int to = end < (w + 1) * 64 ? end : (w + 1) * 64;
      uint64_t mask = RangeMask(begin & 63, to - w * 64);
      if ((words_[w] & mask) != mask) return false;
      begin = to;
    }
    return true;
  }
  bool Empty() const;
  bool IsSubsetOf(const FieldSet& other) const;
  FieldSet& operator|=(const FieldSet& other);
  // Removes every member of `other`.
  void Subtract(const FieldSet& other);
  void Clear();
  bool operator==(const FieldSet& other) const { return words_ == other.words_; }

 private:
  // Bits [from_bit, to_bit) of one word; 0 <= from_bit < to_bit <= 64.
  static uint64_t RangeMask(int from_bit, int to_bit) {
    uint64_t high = to_bit >= 64 ? ~uint64_t{0} : (uint64_t{1} << to_bit) - 1;
    return high & ~((uint64_t{1} << from_bit) - 1);
  }
  absl::InlinedVector<uint64_t, 2> words_;
};

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_SCHEMA_H_
