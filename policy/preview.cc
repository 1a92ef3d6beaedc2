#include "policy/preview.h"

#include <string>
#include <utility>

#include "policy/explanation.h"

namespace havengate::policy {

v1::PreviewPolicyResponse ToPreview(Decision decision) {
  v1::PreviewPolicyResponse preview;
  preview.set_policy_version(decision.policy_version);
  for (PartnerDecision& d : decision.partners) {
    v1::PartnerView* view = preview.add_partners();
    view->set_partner(d.partner);
    view->set_released(d.released);
    view->set_reason(std::string(DecisionReasonText(d.reason)));
    if (d.released) *view->mutable_item() = std::move(d.projected);
    for (absl::string_view rule : d.matched_rules) view->add_matched_rules(std::string(rule));
    for (absl::string_view rule : d.protecting_rules) {
      view->add_protecting_rules(std::string(rule));
    }
    if (d.explanation != nullptr) view->set_explanation(d.explanation->ToString());
  }
  return preview;
}

}  // namespace havengate::policy
