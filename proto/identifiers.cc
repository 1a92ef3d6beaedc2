#include "proto/identifiers.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace havengate {
namespace {

bool AllOf(absl::string_view s, bool (*pred)(unsigned char)) {
  for (char c : s) {
    if (!pred(static_cast<unsigned char>(c))) return false;
  }
  return true;
}
bool IsUpper(unsigned char c) { return c >= 'A' && c <= 'Z'; }
bool IsDigit(unsigned char c) { return c >= '0' && c <= '9'; }
bool IsUpperAlnum(unsigned char c) { return IsUpper(c) || IsDigit(c); }

absl::Status Invalid(absl::string_view reason) {
  return absl::InvalidArgumentError(reason);
}

// ISO 6346 letter values: A=10, then consecutive, skipping multiples of 11.
int LetterValue(char c) {
  int value = 10;
  for (char l = 'A'; l < c; ++l) {
    ++value;
    if (value % 11 == 0) ++value;
  }
  return value;
}

}  // namespace

int ContainerCheckDigit(absl::string_view first_ten) {
  int sum = 0;
  for (int i = 0; i < 10; ++i) {
    char c = first_ten[i];
    int value = IsDigit(static_cast<unsigned char>(c)) ? c - '0' : LetterValue(c);
    sum += value << i;
  }
  return (sum % 11) % 10;
}

absl::Status ValidateContainerNumber(absl::string_view number) {
  if (number.size() != 11 || !AllOf(number.substr(0, 3), IsUpper) ||
      (number[3] != 'U' && number[3] != 'J' && number[3] != 'Z') ||
      !AllOf(number.substr(4), IsDigit)) {
    return Invalid(
        "must be an ISO 6346 container number: 3-letter owner code, U, J or "
        "Z, 6 digits and a check digit, e.g. CSQU3054383");
  }
  int expected = ContainerCheckDigit(number.substr(0, 10));
  int actual = number[10] - '0';
  if (expected != actual) {
    return Invalid(absl::StrCat("check digit is ", actual, ", expected ",
                                expected, " (ISO 6346)"));
  }
  return absl::OkStatus();
}

int ImoCheckDigit(absl::string_view first_six) {
  int sum = 0;
  for (int i = 0; i < 6; ++i) sum += (first_six[i] - '0') * (7 - i);
  return sum % 10;
}

absl::Status ValidateImoNumber(absl::string_view imo) {
  if (imo.size() != 10 || imo.substr(0, 3) != "IMO" ||
      !AllOf(imo.substr(3), IsDigit)) {
    return Invalid("must be IMO followed by 7 digits, e.g. IMO9319466");
  }
  int expected = ImoCheckDigit(imo.substr(3, 6));
  int actual = imo[9] - '0';
  if (expected != actual) {
    return Invalid(absl::StrCat("check digit is ", actual, ", expected ",
                                expected, " (IMO number)"));
  }
  return absl::OkStatus();
}

absl::Status ValidateMmsi(absl::string_view mmsi) {
  if (mmsi.size() != 9 || !AllOf(mmsi, IsDigit)) {
    return Invalid(absl::StrCat("must be 9 digits, got ", mmsi.size(),
                                " characters"));
  }
  if (mmsi[0] < '2' || mmsi[0] > '7') {
    return Invalid(
        "must start with a ship station's country digits (2 to 7), e.g. "
        "244123456");
  }
  return absl::OkStatus();
}

absl::Status ValidateUnLocode(absl::string_view code) {
  auto locode_char = [](unsigned char c) {
    return IsUpper(c) || (c >= '2' && c <= '9');
  };
  if (code.size() != 5 || !AllOf(code.substr(0, 2), IsUpper) ||
      !AllOf(code.substr(2), +locode_char)) {
    return Invalid(
        "must be a UN/LOCODE: 2-letter country code and 3 characters, e.g. "
        "NLRTM");
  }
  return absl::OkStatus();
}

absl::Status ValidateEori(absl::string_view eori) {
  if (eori.size() < 3 || eori.size() > 17 ||
      !AllOf(eori.substr(0, 2), IsUpper) ||
      !AllOf(eori.substr(2), IsUpperAlnum)) {
    return Invalid(
        "must be an EORI number: country code and up to 15 letters or "
        "digits, e.g. NL123456789");
  }
  return absl::OkStatus();
}

absl::Status ValidateCountryCode(absl::string_view code) {
  if (code.size() != 2 || !AllOf(code, IsUpper)) {
    return Invalid("must be a 2-letter ISO 3166 country code, e.g. NL");
  }
  return absl::OkStatus();
}

absl::Status ValidateOrganisationId(absl::string_view id) {
  auto org_char = [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || IsDigit(c) || c == '-';
  };
  if (id.size() < 2 || id.size() > 63 || !AllOf(id, +org_char) ||
      id.front() == '-' || id.back() == '-') {
    return Invalid(
        "must be an organisation id: 2 to 63 lower-case letters, digits or "
        "'-', e.g. police-nl");
  }
  return absl::OkStatus();
}

absl::Status ValidateItemId(absl::string_view id) {
  auto id_char = [](unsigned char c) {
    return IsUpperAlnum(c) || (c >= 'a' && c <= 'z') || c == '.' || c == '_' ||
           c == ':' || c == '-';
  };
  if (id.empty()) return Invalid("is required");
  if (id.size() > 128) return Invalid("is longer than 128 characters");
  if (!AllOf(id, +id_char)) {
    return Invalid("may only hold letters, digits and . _ : -");
  }
  return absl::OkStatus();
}

absl::Status ValidateIsoDate(absl::string_view date) {
  if (date.size() != 10 || date[4] != '-' || date[7] != '-' ||
      !AllOf(date.substr(0, 4), IsDigit) || !AllOf(date.substr(5, 2), IsDigit) ||
      !AllOf(date.substr(8, 2), IsDigit)) {
    return Invalid("must be a date written YYYY-MM-DD");
  }
  int year = std::stoi(std::string(date.substr(0, 4)));
  int month = std::stoi(std::string(date.substr(5, 2)));
  int day = std::stoi(std::string(date.substr(8, 2)));
  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30,
                                         31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) return Invalid("has no such month");
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  int days = kDaysInMonth[month - 1] + (month == 2 && leap ? 1 : 0);
  if (day < 1 || day > days) return Invalid("has no such day in that month");
  return absl::OkStatus();
}

absl::Status ValidateSha256Hex(absl::string_view hex) {
  auto hex_char = [](unsigned char c) {
    return IsDigit(c) || (c >= 'a' && c <= 'f');
  };
  if (hex.size() != 64 || !AllOf(hex, +hex_char)) {
    return Invalid("must be 64 lower-case hexadecimal characters (SHA-256)");
  }
  return absl::OkStatus();
}

}  // namespace havengate
