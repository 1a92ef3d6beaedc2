#include "policy/item_paths.h"

#include <charconv>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "google/protobuf/util/time_util.h"
#include "policy/schema.h"
#include "proto/item_validation.h"

namespace havengate::policy {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

std::string Format(const Message& m, const FieldDescriptor* f, int index) {
  const Reflection* r = m.GetReflection();
  bool rep = index >= 0;
  switch (f->cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      return rep ? r->GetRepeatedString(m, f, index) : r->GetString(m, f);
    case FieldDescriptor::CPPTYPE_ENUM:
      return rep ? r->GetRepeatedEnum(m, f, index)->name() : r->GetEnum(m, f)->name();
    case FieldDescriptor::CPPTYPE_BOOL:
      return (rep ? r->GetRepeatedBool(m, f, index) : r->GetBool(m, f)) ? "true" : "false";
    case FieldDescriptor::CPPTYPE_INT32:
      return absl::StrCat(rep ? r->GetRepeatedInt32(m, f, index) : r->GetInt32(m, f));
    case FieldDescriptor::CPPTYPE_INT64:
      return absl::StrCat(rep ? r->GetRepeatedInt64(m, f, index) : r->GetInt64(m, f));
    case FieldDescriptor::CPPTYPE_UINT32:
      return absl::StrCat(rep ? r->GetRepeatedUInt32(m, f, index) : r->GetUInt32(m, f));
    case FieldDescriptor::CPPTYPE_UINT64:
      return absl::StrCat(rep ? r->GetRepeatedUInt64(m, f, index) : r->GetUInt64(m, f));
    case FieldDescriptor::CPPTYPE_FLOAT:
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double v = f->cpp_type() == FieldDescriptor::CPPTYPE_FLOAT
                     ? (rep ? r->GetRepeatedFloat(m, f, index) : r->GetFloat(m, f))
                     : (rep ? r->GetRepeatedDouble(m, f, index) : r->GetDouble(m, f));
      char buffer[64];
      auto result = std::to_chars(buffer, buffer + sizeof(buffer), v);  // shortest
      return std::string(buffer, result.ptr);
    }
    case FieldDescriptor::CPPTYPE_MESSAGE: {
      const Message& sub = rep ? r->GetRepeatedMessage(m, f, index) : r->GetMessage(m, f);
      if (f->message_type() == google::protobuf::Timestamp::descriptor()) {
        return google::protobuf::util::TimeUtil::ToString(
            static_cast<const google::protobuf::Timestamp&>(sub));
      }
      return "{...}";
    }
  }
  return "";
}

void Collect(const Message& m, const std::vector<const FieldDescriptor*>& steps,
             size_t step, std::vector<std::string>* out) {
  const FieldDescriptor* f = steps[step];
  const Reflection* r = m.GetReflection();
  bool last = step + 1 == steps.size();
  if (f->is_repeated()) {
    for (int i = 0, n = r->FieldSize(m, f); i < n; ++i) {
      if (last) {
        out->push_back(Format(m, f, i));
      } else {
        Collect(r->GetRepeatedMessage(m, f, i), steps, step + 1, out);
      }
    }
    return;
  }
  if (!r->HasField(m, f)) return;
  if (last) {
    out->push_back(Format(m, f, -1));
  } else {
    Collect(r->GetMessage(m, f), steps, step + 1, out);
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ValuesAtPath(const v1::Item& item,
                                                      absl::string_view path) {
  std::vector<std::string> steps = absl::StrSplit(path, '.');
  const BodySchema* schema = BodySchema::ForKind(KindOf(item));
  const Message* root = nullptr;
  const google::protobuf::Descriptor* d = nullptr;
  if (schema != nullptr && schema->body()->FindFieldByName(steps[0]) != nullptr) {
    root = KindOf(item) == v1::ALERT ? static_cast<const Message*>(&item.alert())
                                     : static_cast<const Message*>(&item.report());
    d = schema->body();
  } else {
    root = &item;
    d = v1::Item::descriptor();
  }
  std::vector<const FieldDescriptor*> fields;
  for (const std::string& step : steps) {
    const FieldDescriptor* f = d == nullptr ? nullptr : d->FindFieldByName(step);
    if (f == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "`", path, "` is not a field of ",
          KindOf(item) == v1::ALERT ? "an alert" : KindOf(item) == v1::REPORT ? "a report" : "an item",
          " or its envelope"));
    }
    fields.push_back(f);
    d = f->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE ? f->message_type() : nullptr;
  }
  std::vector<std::string> out;
  Collect(*root, fields, 0, &out);
  return out;
}

std::vector<std::string> PresentLeafPaths(const v1::Item& item) {
  const BodySchema* schema = BodySchema::ForKind(KindOf(item));
  std::vector<std::string> out;
  if (schema == nullptr) return out;
  for (int i = 1; i < schema->size(); ++i) {
    if (!schema->node(i).leaf) continue;
    auto values = ValuesAtPath(item, schema->node(i).path);
    if (values.ok() && !values->empty()) out.push_back(schema->node(i).path);
  }
  return out;
}

}  // namespace havengate::policy
