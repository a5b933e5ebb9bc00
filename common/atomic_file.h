// WriteFileAtomically: replaces a file so that a crash at any moment leaves either the old
// contents or the new, never a mix: the bytes go to PATH.tmp, which is fsynced, renamed over
// PATH, and the directory fsynced so the rename itself is durable.
#pragma once

#include <sys/types.h>

#include <span>
#include <string>

#include "common/status.h"

namespace tributary {

// Writes `bytes` to `path` (created with `mode`, subject to the umask) atomically and durably.
Status WriteFileAtomically(const std::string& path, std::span<const std::byte> bytes,
                           mode_t mode = 0600);

}  // namespace tributary
