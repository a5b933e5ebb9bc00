// ReadTokenFile: a bearer token kept in a file (an operator token, an enrolment token), as the
// node and the command line read it: surrounding whitespace and the final newline dropped, at
// least 16 characters left. Files keep secrets out of command lines and process listings.
#pragma once

#include <string>

#include "common/result.h"

namespace tributary {

// The token in `path`; `flag` names the option in error messages ("--operator-token-file").
Result<std::string> ReadTokenFile(const std::string& path, const std::string& flag);

}  // namespace tributary
