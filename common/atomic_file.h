// WriteFileAtomically: replaces a file so that a crash at any moment leaves either the old
// contents or the new, never a mix: the bytes go to PATH.tmp, which is fsynced, renamed over
// PATH, and the directory fsynced so the rename itself is durable.
//
// Files of 1 MiB or more from a 4 KiB-aligned buffer (a model in a pool slot) are written with
// O_DIRECT where the file system supports it: from the caller's memory to the disk, without a
// copy into the page cache, which costs the CPU as much as the copy and which nothing reads
// (the file is read back only after a restart).
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
