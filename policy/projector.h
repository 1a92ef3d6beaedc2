// Internal to the policy library: projection, the part of a decision that
// builds what a partner receives. Per decision the engine (engine.cc) calls
// ProjectionSource once (the item to project from, a cleaned copy if need
// be, and a PresenceTape of the fields its body holds, shared by all
// partners); per partner it merges the matching rules into a Merged and
// calls ProjectBody (projector.cc) to build that partner's body. Pseudonyms
// go through a PseudonymCache shared by all partners of one decision.
#ifndef HAVENGATE_POLICY_PROJECTOR_H_
#define HAVENGATE_POLICY_PROJECTOR_H_

#include <cstdint>
#include <string>

#include "absl/container/inlined_vector.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"
#include "havengate/v1/item.pb.h"
#include "policy/plan.h"

namespace havengate::policy::internal {

// Inline: asked for every field of every message a decision reads.
inline bool HasValue(const google::protobuf::Reflection* r, const google::protobuf::Message& m,
                     const google::protobuf::FieldDescriptor* f) {
  return f->is_repeated() ? r->FieldSize(m, f) > 0 : r->HasField(m, f);
}

// Which fields each message of a body holds, computed once per decision
// and shared by all partners, so projecting for a partner does not ask
// reflection "is this field set?" again for every field of every element.
// Records are in preorder of message instances; `next` is the index just
// past an instance's subtree, so a projection can skip what it does not
// release. Walking also notices what needs cleaning (see ProjectionSource).
class PresenceTape {
 public:
  struct Record {
    uint64_t present = 0;  // bit k: the k-th field of the schema node is set
    int next = 0;
  };

  void Build(const BodySchema& schema, const google::protobuf::Message& body) {
    records_.clear();
    dirty_ = false;
    Walk(schema, 0, body);
  }
  bool dirty() const { return dirty_; }
  const Record& operator[](int i) const { return records_[i]; }

 private:
  void Walk(const BodySchema& schema, int node, const google::protobuf::Message& m);

  absl::InlinedVector<Record, 32> records_;
  bool dirty_ = false;
};

// The item to project from: `item` itself, or a cleaned copy in `storage`;
// `tape` describes the body of the one returned.
const v1::Item& ProjectionSource(const v1::Item& item, v1::Item* storage, PresenceTape* tape);

// Pseudonyms computed during one Decide, shared by all partners: the same
// name pseudonymised for four partners costs one HMAC.
class PseudonymCache {
 public:
  const std::string& Get(const TransformSpec& spec, absl::string_view value) {
    for (const Entry& e : entries_) {
      if (e.key == spec.key_index && e.value == value) return e.pseudonym;
    }
    entries_.emplace_back();
    Entry& e = entries_.back();
    e.key = spec.key_index;
    e.value = std::string(value);
    spec.pseudonymiser->PseudonymiseTo(value, &e.pseudonym);
    return e.pseudonym;
  }

 private:
  struct Entry {
    int key;
    // A copy: the value may live in a projected message that is about to
    // be overwritten with its pseudonym.
    std::string value;
    std::string pseudonym;
  };
  // A deque-like container would keep references stable; entries are only
  // read through the reference returned until the next Get, so a vector
  // that may reallocate is fine.
  absl::InlinedVector<Entry, 8> entries_;
};

// What the matching rules decide for one partner and item kind.
struct Merged {
  explicit Merged(int size)
      : released(size), withheld(size), redact(size), redact_roots(size),
        visible(size), transformed(size), best(size, nullptr) {}
  FieldSet released;      // union of share minus union of withhold
  FieldSet withheld;      // union of withhold
  FieldSet redact;        // removed by redact (closure)
  FieldSet redact_roots;  // nodes named by a redact
  FieldSet visible;       // released and not redacted
  FieldSet transformed;   // nodes with a non-redact transform
  absl::InlinedVector<const TransformSpec*, 64> best;
  // Rule indexes of the rules that match the item for this partner (`to`,
  // `kinds`, `when`), in policy order, and which of them may release it:
  // a rule held back by a gate (restricted level, received item) or whose
  // condition could not be evaluated still protects, never releases.
  absl::InlinedVector<int, 8> matched;
  absl::InlinedVector<bool, 8> releases;
  bool any_releases = false;
};

// Builds a partner's body `dst` (an empty message) from the source body
// `src` described by `tape`, keeping only what `merged` releases, and
// records in `out` the fields released, withheld and transformed. True if
// any field was set.
bool ProjectBody(const BodySchema& schema, const PresenceTape& tape, const Merged& merged,
                 const google::protobuf::Message& src, PseudonymCache& cache,
                 google::protobuf::Message* dst, PartnerDecision* out);

}  // namespace havengate::policy::internal

#endif  // HAVENGATE_POLICY_PROJECTOR_H_
