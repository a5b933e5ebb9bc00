#include "robust/coding/straggler_model.h"

#include <cassert>
#include <string>

namespace tributary::robust::coding {

Status BurstyStragglerModel::Validate(int n, int burst, int window, int lambda) {
  if (n < 1 || burst < 1 || window < burst || lambda < 0 || lambda > n) {
    return Status::InvalidArgument(
        "the (B, W, lambda) straggler model needs 1 <= B <= W and 0 <= lambda <= n (got B=" +
        std::to_string(burst) + ", W=" + std::to_string(window) +
        ", lambda=" + std::to_string(lambda) + ", n=" + std::to_string(n) + ")");
  }
  return Status::Ok();
}

BurstyStragglerModel::BurstyStragglerModel(int n, int burst, int window, int lambda)
    : n_(n), burst_(burst), window_(window), lambda_(lambda) {
  assert(Validate(n, burst, window, lambda).ok());
}

bool BurstyStragglerModel::Admits(const std::vector<bool>& stragglers) const {
  assert(static_cast<int>(stragglers.size()) == n_);
  const int rounds = static_cast<int>(recent_.size());
  int distinct = 0;
  for (int w = 0; w < n_; ++w) {
    bool in_window = stragglers[w];
    for (int k = 0; k < rounds && !in_window; ++k) in_window = recent_[k][w];
    distinct += in_window;
    if (!stragglers[w]) continue;
    // Rounds r-a for a in [B, W-1]; recent_[rounds - a] is round r-a.
    for (int a = burst_; a <= window_ - 1 && a <= rounds; ++a) {
      if (recent_[rounds - a][w]) return false;
    }
  }
  return distinct <= lambda_;
}

void BurstyStragglerModel::Record(std::vector<bool> stragglers) {
  assert(static_cast<int>(stragglers.size()) == n_);
  recent_.push_back(std::move(stragglers));
  while (static_cast<int>(recent_.size()) > window_ - 1) recent_.pop_front();
}

}  // namespace tributary::robust::coding
