// ModelChecksum: the XXH3-64 of a published model, which the pulls that waited for the model
// start sending before it is known.
//
// Publish hands those pulls their model first and hashes it after (under the control plane's
// lock), so their bytes go out beside the hash rather than behind it. Such a pull announces the
// checksum as a trailer (ModelHeader.checksum_in_trailer) and takes it with Wait() once its
// bytes are out. The hash began before the first byte went out and reads memory faster than a
// connection sends, so that wait, where there is one, is short; Publish always sets the value.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>

namespace tributary::gateway {

class ModelChecksum {
 public:
  void Set(uint64_t checksum) {
    {
      std::lock_guard lock(mu_);
      value_ = checksum;
    }
    known_.notify_all();
  }

  uint64_t Wait() const {
    std::unique_lock lock(mu_);
    known_.wait(lock, [this] { return value_.has_value(); });
    return *value_;
  }

 private:
  mutable std::mutex mu_;
  mutable std::condition_variable known_;
  std::optional<uint64_t> value_;
};

}  // namespace tributary::gateway
