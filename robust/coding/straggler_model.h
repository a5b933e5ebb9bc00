// The (B, W, lambda)-bursty straggler model of sequential gradient coding (Krishnan, Ebrahimi,
// Khisti, ICLR 2023), checked round by round.
//
// A straggler pattern follows the model when, for every round r:
//   - spatial: at most lambda distinct workers straggle in the window of rounds [r-W+1, r];
//   - temporal: a worker straggling in round r did not straggle in rounds [r-W+1, r-B], so the
//     straggles of one worker inside a window form a single burst of at most B rounds.
// The model sets a sequential scheme's parameters and load, and its guarantee: a pattern inside
// it never makes a round wait. The schedulers themselves close a round whenever every started
// job still decodes in time (sequential_scheduler.h), which every pattern inside the model
// allows. Plain GC is the special case B = W = 1, lambda = s.
// Not thread-safe: one owner records rounds in order.
#pragma once

#include <deque>
#include <vector>

#include "common/status.h"

namespace tributary::robust::coding {

class BurstyStragglerModel {
 public:
  // InvalidArgument unless n >= 1, 1 <= burst <= window and 0 <= lambda <= n.
  static Status Validate(int n, int burst, int window, int lambda);
  // REQUIRES: Validate(n, burst, window, lambda).ok().
  BurstyStragglerModel(int n, int burst, int window, int lambda);

  int burst() const { return burst_; }
  int window() const { return window_; }
  int lambda() const { return lambda_; }

  // Whether the next round may have these stragglers (mask of length n) given the rounds
  // recorded so far.
  bool Admits(const std::vector<bool>& stragglers) const;
  // Appends a round (its stragglers; all false when the round waited for everyone).
  void Record(std::vector<bool> stragglers);

 private:
  int n_, burst_, window_, lambda_;
  std::deque<std::vector<bool>> recent_;  // the last window-1 rounds, oldest first
};

}  // namespace tributary::robust::coding
