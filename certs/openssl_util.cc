#include "certs/openssl_util.h"

#include <time.h>

#include <openssl/asn1.h>
#include <openssl/err.h>

#include "absl/strings/str_cat.h"

namespace havengate::pki {

absl::Status OpenSslError(absl::StatusCode code, absl::string_view context) {
  std::string message(context);
  const char* sep = ": ";
  unsigned long err;
  int count = 0;
  while ((err = ERR_get_error()) != 0) {
    // Keep the message short: the first few reasons say what went wrong.
    if (count++ >= 3) continue;
    char buf[256];
    ERR_error_string_n(err, buf, sizeof(buf));
    const char* reason = ERR_reason_error_string(err);
    absl::StrAppend(&message, sep, reason != nullptr ? reason : buf);
    sep = "; ";
  }
  return absl::Status(code, message);
}

absl::Status OpenSslInternalError(absl::string_view context) {
  return OpenSslError(absl::StatusCode::kInternal, context);
}

void ClearOpenSslErrors() { ERR_clear_error(); }

std::string BioToString(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  if (len <= 0 || data == nullptr) return std::string();
  return std::string(data, static_cast<size_t>(len));
}

absl::Status SetAsn1Time(ASN1_TIME* target, absl::Time t) {
  const time_t seconds = absl::ToTimeT(t);
  if (ASN1_TIME_set(target, seconds) == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("time not representable in X.509: ",
                                     absl::FormatTime(t)));
  }
  return absl::OkStatus();
}

absl::Time Asn1TimeToTime(const ASN1_TIME* t) {
  struct tm tm_value = {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm_value) != 1) {
    ClearOpenSslErrors();
    return absl::InfinitePast();
  }
  return absl::FromTimeT(timegm(&tm_value));
}

}  // namespace havengate::pki
