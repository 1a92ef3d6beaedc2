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
};

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
  bool AnyInRange(int begin, int end) const;
  bool AllInRange(int begin, int end) const;
  bool Empty() const;
  bool IsSubsetOf(const FieldSet& other) const;
  FieldSet& operator|=(const FieldSet& other);
  // Removes every member of `other`.
  void Subtract(const FieldSet& other);
  void Clear();
  bool operator==(const FieldSet& other) const { return words_ == other.words_; }

 private:
  absl::InlinedVector<uint64_t, 2> words_;
};

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_SCHEMA_H_
