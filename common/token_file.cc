#include "common/token_file.h"

#include <fstream>
#include <iterator>

namespace tributary {

Result<std::string> ReadTokenFile(const std::string& path, const std::string& flag) {
  constexpr std::size_t kMinTokenLength = 16;
  constexpr const char* kSpace = " \t\r\n";
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(flag + ": cannot read " + path);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto first = token.find_first_not_of(kSpace);
  if (first == std::string::npos) {
    token.clear();
  } else {
    token = token.substr(first, token.find_last_not_of(kSpace) - first + 1);
  }
  if (token.size() < kMinTokenLength) {
    return Status::InvalidArgument(flag + ": " + path + " must hold a token of at least " +
                                   std::to_string(kMinTokenLength) + " characters");
  }
  return token;
}

}  // namespace tributary
