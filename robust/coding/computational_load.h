// Normalized computational load per worker per round (fraction of one job's data), as in
// Krishnan et al. (ICLR 2023), for gradient coding and the two sequential schemes under the
// (B, W, lambda)-bursty model. Example n=100, B=2, W=3, lambda=2: GC 0.03, SR-SGC 0.02,
// M-SGC 0.015. The schedulers' own NormalizedLoad() must agree with these. Pure; thread-safe.
#pragma once

namespace tributary::robust::coding {

// GC tolerating s stragglers: (s+1)/n.
double GcLoad(int n, int s);
// The s that SR-SGC uses: ceil(B*lambda / (W-1+B)).
int SrSgcStragglers(int burst, int window, int lambda);
// SR-SGC: GcLoad(n, SrSgcStragglers(B, W, lambda)).
double SrSgcLoad(int n, int burst, int window, int lambda);
// M-SGC: (lambda+1)(W-1+B) / (n (B + (W-1)(lambda+1))).
double MSgcLoad(int n, int burst, int window, int lambda);

}  // namespace tributary::robust::coding
