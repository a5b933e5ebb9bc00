// RuleOptions: the parameters of a robust rule, as a job spec or the offline CLI gives them.
//
// Every field is optional: unset means the rule's default (stated per field). A rule accepts
// only the fields it uses; CreateRule rejects a set field that the named rule does not use,
// so a typo'd or misplaced parameter never passes silently. Field names match the CLI flags
// (--f, --m, --lambda, --iters) and ParameterNames() below.
#pragma once

#include <optional>

namespace tributary::robust {

struct RuleOptions {
  // Declared number of Byzantine clients, >= 0. Used by krum, multikrum (n >= 2f+3), bulyan
  // (n >= 4f+3) and trimmed-mean (n > 2f). Default: 0.
  std::optional<int> f{};
  // multikrum: number of lowest-score updates averaged, 1 <= m <= n-f (default n-f).
  // flag: subspace dimension, 1 <= m < n (default: the smallest power of two >= n/2).
  std::optional<int> m{};
  // flag: weight of the pairwise regularizer, >= 0. Default: 0.
  std::optional<double> lambda{};
  // flag: IRLS iterations (default 4); geomed: Weiszfeld iterations (default 100); cclip:
  // clipping iterations L (default 3). >= 1.
  std::optional<int> iters{};
  // flag: stop when the objective decreases by no more than this (default 1e-10); geomed: stop
  // when the estimate moves by no more than this, relative to its norm (default 1e-8). >= 0.
  std::optional<double> tolerance{};
  // geomed: smoothing ν > 0 of the Weiszfeld weights. Default: 0.1.
  std::optional<double> nu{};
  // cclip: clipping radius τ > 0. Default: 10.
  std::optional<double> tau{};
  // normclip: static clipping norm c > 0. Default: unset, the median update norm of the round.
  std::optional<double> clip_norm{};
};

}  // namespace tributary::robust
