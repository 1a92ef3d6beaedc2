#include "policy/schema.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "policy/suggest.h"

namespace havengate::policy {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

ValueType TypeOf(const FieldDescriptor* field) {
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return field->message_type()->full_name() == "google.protobuf.Timestamp"
                 ? ValueType::kTimestamp
                 : ValueType::kMessage;
    case FieldDescriptor::CPPTYPE_STRING:
      return field->type() == FieldDescriptor::TYPE_BYTES ? ValueType::kBytes
                                                          : ValueType::kString;
    case FieldDescriptor::CPPTYPE_ENUM:
      return ValueType::kEnum;
    case FieldDescriptor::CPPTYPE_BOOL:
      return ValueType::kBool;
    case FieldDescriptor::CPPTYPE_DOUBLE:
    case FieldDescriptor::CPPTYPE_FLOAT:
      return ValueType::kDouble;
    default:
      return ValueType::kInteger;
  }
}

}  // namespace

std::string DescribeType(ValueType type, bool repeated) {
  absl::string_view one;
  switch (type) {
    case ValueType::kMessage: one = "a group of fields"; break;
    case ValueType::kString: one = "text"; break;
    case ValueType::kEnum: one = "a choice from a list"; break;
    case ValueType::kBool: one = "yes/no"; break;
    case ValueType::kInteger: one = "a whole number"; break;
    case ValueType::kDouble: one = "a number"; break;
    case ValueType::kBytes: one = "binary data"; break;
    case ValueType::kTimestamp: one = "a time"; break;
  }
  return repeated ? absl::StrCat("a list of ", one) : std::string(one);
}

const google::protobuf::Reflection* ReflectionOf(const Descriptor* d) {
  return google::protobuf::MessageFactory::generated_factory()->GetPrototype(d)->GetReflection();
}

BodySchema::BodySchema(v1::ItemKind kind, const Descriptor* body)
    : kind_(kind), body_(body) {
  nodes_.push_back(SchemaNode{});
  nodes_[0].type = ValueType::kMessage;
  nodes_[0].reflection = ReflectionOf(body);
  std::vector<const Descriptor*> stack = {body};
  for (int i = 0; i < body->field_count(); ++i) {
    Add(body->field(i), 0, "", stack);
  }
  nodes_[0].end = size();
  if (body->field_count() > 64) std::abort();  // see Add()
  nodes_[0].leaf = size() == 1;
  for (int i = 1; i < size(); ++i) by_path_[nodes_[i].path] = i;
}

void BodySchema::Add(const FieldDescriptor* field, int parent,
                     const std::string& prefix,
                     std::vector<const Descriptor*>& stack) {
  int index = size();
  SchemaNode node;
  node.field = field;
  node.parent = parent;
  node.path = prefix.empty() ? field->name()
                             : absl::StrCat(prefix, ".", field->name());
  node.type = TypeOf(field);
  node.repeated = field->is_repeated();
  node.geo_point = node.type == ValueType::kMessage &&
                   field->message_type() == v1::GeoPoint::descriptor();
  node.cpp_type = field->cpp_type();
  if (node.cpp_type == FieldDescriptor::CPPTYPE_MESSAGE) {
    node.reflection = ReflectionOf(field->message_type());
    node.prototype =
        google::protobuf::MessageFactory::generated_factory()->GetPrototype(field->message_type());
  }
  nodes_.push_back(node);
  const Descriptor* message =
      node.type == ValueType::kMessage ? field->message_type() : nullptr;
  // A message type already on the path would recurse forever; such a field
  // is treated as a leaf (shared or withheld whole). The havengate schema
  // has none today.
  bool recursive = message != nullptr &&
                   std::find(stack.begin(), stack.end(), message) != stack.end();
  if (message != nullptr && !recursive) {
    stack.push_back(message);
    std::string path = nodes_[index].path;
    for (int i = 0; i < message->field_count(); ++i) {
      Add(message->field(i), index, path, stack);
    }
    stack.pop_back();
  }
  nodes_[index].end = size();
  nodes_[index].leaf = nodes_[index].end == index + 1;
  // The engine keeps one presence bit per field of a message.
  if (message != nullptr && message->field_count() > 64) std::abort();
}

absl::string_view BodySchema::kind_name() const {
  return kind_ == v1::ALERT ? "alert" : "report";
}

absl::StatusOr<int> BodySchema::Find(absl::string_view path) const {
  if (path == "*") return 0;
  auto it = by_path_.find(path);
  if (it != by_path_.end()) return it->second;
  if (path.empty()) return absl::InvalidArgumentError("empty field path");
  // Walk the path to say which step is wrong.
  int current = 0;
  std::string walked;
  for (absl::string_view step : absl::StrSplit(path, '.')) {
    const SchemaNode& at = nodes_[current];
    if (current != 0 && at.leaf) {
      return absl::InvalidArgumentError(absl::StrCat(
          "`", path, "`: `", walked, "` is ", DescribeType(at.type, at.repeated),
          " and has no sub-fields"));
    }
    std::vector<std::string> names;
    int found = -1;
    for (int child = current + 1; child < at.end; child = nodes_[child].end) {
      names.push_back(nodes_[child].field->name());
      if (nodes_[child].field->name() == step) found = child;
    }
    if (found < 0) {
      std::string where = !walked.empty() ? absl::StrCat("`", walked, "`")
                          : kind_ == v1::ALERT ? "an alert"
                                               : "a report";
      return absl::InvalidArgumentError(
          absl::StrCat("`", path, "`: ", where, " has no field `", step, "`",
                       DidYouMean(step, names)));
    }
    walked = nodes_[found].path;
    current = found;
  }
  return current;  // Not reached: a full walk finds the path in by_path_.
}

const BodySchema& BodySchema::Alert() {
  static const BodySchema* schema =
      new BodySchema(v1::ALERT, v1::Alert::descriptor());
  return *schema;
}

const BodySchema& BodySchema::Report() {
  static const BodySchema* schema =
      new BodySchema(v1::REPORT, v1::IntelligenceReport::descriptor());
  return *schema;
}

const BodySchema* BodySchema::ForKind(v1::ItemKind kind) {
  switch (kind) {
    case v1::ALERT:
      return &Alert();
    case v1::REPORT:
      return &Report();
    default:
      return nullptr;
  }
}

void FieldSet::SetRange(int begin, int end) {
  for (int w = begin >> 6; begin < end; ++w) {
    int to = std::min(end, (w + 1) * 64);
    words_[w] |= RangeMask(begin & 63, to - w * 64);
    begin = to;
  }
}

bool FieldSet::Empty() const {
  for (uint64_t w : words_) {
    if (w != 0) return false;
  }
  return true;
}

bool FieldSet::IsSubsetOf(const FieldSet& other) const {
  for (size_t i = 0; i < words_.size(); ++i) {
    if (words_[i] & ~other.words_[i]) return false;
  }
  return true;
}

FieldSet& FieldSet::operator|=(const FieldSet& other) {
  for (size_t i = 0; i < words_.size(); ++i) words_[i] |= other.words_[i];
  return *this;
}

void FieldSet::Subtract(const FieldSet& other) {
  for (size_t i = 0; i < words_.size(); ++i) words_[i] &= ~other.words_[i];
}

void FieldSet::Clear() {
  for (uint64_t& w : words_) w = 0;
}

}  // namespace havengate::policy
