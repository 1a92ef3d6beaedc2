// Format and check-digit rules for the identifiers that appear in items and
// configuration: container numbers (ISO 6346), IMO ship numbers, MMSI,
// UN/LOCODE, EORI, country codes, organisation ids and item ids.
//
// Each function returns OK or INVALID_ARGUMENT with a reason written for the
// person who sent the value (e.g. "check digit is 7, expected 3"). The reason
// never repeats the value itself, so it is safe to log and to audit.
// All functions are pure and thread-safe.
#ifndef HAVENGATE_PROTO_IDENTIFIERS_H_
#define HAVENGATE_PROTO_IDENTIFIERS_H_

#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace havengate {

// ISO 6346: 3-letter owner code, category U/J/Z, 6-digit serial, check digit.
[[nodiscard]] absl::Status ValidateContainerNumber(absl::string_view number);

// Computes the ISO 6346 check digit of the first 10 characters of a
// syntactically valid container number. Exposed for sample-data generators.
int ContainerCheckDigit(absl::string_view first_ten);

// `IMO` followed by 7 digits whose last is the check digit:
// sum(d1*7 + d2*6 + ... + d6*2) mod 10.
[[nodiscard]] absl::Status ValidateImoNumber(absl::string_view imo);

// Computes the IMO check digit of 6 digits. Exposed for generators.
int ImoCheckDigit(absl::string_view first_six);

// 9 digits; the first is 2-7 (a ship station's Maritime Identification Digits).
[[nodiscard]] absl::Status ValidateMmsi(absl::string_view mmsi);

// 2-letter country code + 3 characters from [A-Z2-9], e.g. NLRTM.
[[nodiscard]] absl::Status ValidateUnLocode(absl::string_view code);

// Country code + 1 to 15 upper-case alphanumerics, e.g. NL123456789.
[[nodiscard]] absl::Status ValidateEori(absl::string_view eori);

// ISO 3166-1 alpha-2 in upper case (format only).
[[nodiscard]] absl::Status ValidateCountryCode(absl::string_view code);

// Organisation id: 2 to 63 characters [a-z0-9-], not starting or ending
// with '-', e.g. police-nl.
[[nodiscard]] absl::Status ValidateOrganisationId(absl::string_view id);

// Item id: 1 to 128 characters from [A-Za-z0-9._:-].
[[nodiscard]] absl::Status ValidateItemId(absl::string_view id);

// ISO 8601 calendar date YYYY-MM-DD that exists in the calendar.
[[nodiscard]] absl::Status ValidateIsoDate(absl::string_view date);

// 64 lower-case hexadecimal characters.
[[nodiscard]] absl::Status ValidateSha256Hex(absl::string_view hex);

}  // namespace havengate

#endif  // HAVENGATE_PROTO_IDENTIFIERS_H_
