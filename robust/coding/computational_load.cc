#include "robust/coding/computational_load.h"

namespace tributary::robust::coding {

double GcLoad(int n, int s) { return (s + 1.0) / n; }

int SrSgcStragglers(int burst, int window, int lambda) {
  const int denominator = window - 1 + burst;
  return (burst * lambda + denominator - 1) / denominator;
}

double SrSgcLoad(int n, int burst, int window, int lambda) {
  return GcLoad(n, SrSgcStragglers(burst, window, lambda));
}

double MSgcLoad(int n, int burst, int window, int lambda) {
  const double l1 = lambda + 1.0;
  return l1 * (window - 1 + burst) / (n * (burst + (window - 1) * l1));
}

}  // namespace tributary::robust::coding
