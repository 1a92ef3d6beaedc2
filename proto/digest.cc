#include "proto/digest.h"

#include <openssl/evp.h>

#include <cstdlib>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace havengate {

std::string DeterministicBytes(const google::protobuf::Message& message) {
  // Sized once: grown through a StringOutputStream, the string was
  // reallocated and zero-filled several times for every item.
  const size_t size = message.ByteSizeLong();
  std::string out(size, '\0');
  google::protobuf::io::ArrayOutputStream array(out.data(),
                                                static_cast<int>(size));
  google::protobuf::io::CodedOutputStream coded(&array);
  coded.SetSerializationDeterministic(true);
  message.SerializeWithCachedSizes(&coded);
  return out;
}

std::string Sha256Hex(absl::string_view bytes) {
  // Fetched once: OpenSSL 3 looks the algorithm up in its providers on
  // every call otherwise.
  static EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  unsigned char hash[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  // SHA-256 of bytes in memory cannot fail short of memory exhaustion.
  if (kSha256 == nullptr ||
      EVP_Digest(bytes.data(), bytes.size(), hash, &size, kSha256, nullptr) !=
          1) {
    std::abort();
  }
  std::string out;
  AppendHex(absl::string_view(reinterpret_cast<const char*>(hash), size), &out);
  return out;
}

void AppendHex(absl::string_view bytes, std::string* out) {
  static constexpr char kDigits[] = "0123456789abcdef";
  const size_t start = out->size();
  out->resize(start + 2 * bytes.size());
  char* p = out->data() + start;
  for (unsigned char c : bytes) {
    *p++ = kDigits[c >> 4];
    *p++ = kDigits[c & 0xF];
  }
}

}  // namespace havengate
