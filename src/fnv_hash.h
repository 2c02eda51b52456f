// FnvHash: 64-bit FNV-1a, the project's one non-cryptographic hash: names a
// configuration's shared files, checks a shared record is whole. Never for
// secrets (see app.cpp's Fingerprint).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace healthcheck {

class FnvHash {
 public:
  FnvHash& Add(const void* data, size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < size; ++i) hash_ = (hash_ ^ bytes[i]) * 1099511628211ull;
    return *this;
  }
  // `text` and a NUL after it, so that ("ab", "c") and ("a", "bc") differ.
  FnvHash& AddText(std::string_view text) {
    const char end = '\0';
    return Add(text.data(), text.size()).Add(&end, 1);
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 14695981039346656037ull;
};

}  // namespace healthcheck
