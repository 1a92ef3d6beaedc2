// A decision as an officer sees it in a preview: per partner whether it
// receives the item, why, the projected item, the rules that matched and
// the explanation. One form for `havenctl policy preview` offline and for
// the gateway's PolicyAdmin.Preview, so both read the same.
#ifndef HAVENGATE_POLICY_PREVIEW_H_
#define HAVENGATE_POLICY_PREVIEW_H_

#include "havengate/v1/policy_admin.pb.h"
#include "policy/policy.h"

namespace havengate::policy {

// Consumes `decision` (the projected items are moved).
v1::PreviewPolicyResponse ToPreview(Decision decision);

}  // namespace havengate::policy

#endif  // HAVENGATE_POLICY_PREVIEW_H_
