#include "gpu/cuda/cuda_rule.h"

#include <cmath>
#include <functional>
#include <numeric>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <cuda_runtime_api.h>
#include <spdlog/spdlog.h>

#include "gpu/cuda/kernels.h"
#include "gpu/cuda/reductions.h"
#include "robust/bulyan.h"
#include "robust/coordinate_wise.h"
#include "robust/flag_aggregator.h"
#include "robust/gram.h"
#include "robust/krum.h"
#include "robust/norm_clipping.h"
#include "robust/normalized_mean.h"
#include "robust/rule_factory.h"

namespace tributary::gpu::cuda {
namespace {

using robust::UpdateViews;

// Page-locked host memory for a rule's aggregate (cudaMallocHost), grown as rounds need: the
// results come back by DMA, without pinning the caller's buffer every round.
class PinnedScratch {
 public:
  PinnedScratch() = default;
  PinnedScratch(const PinnedScratch&) = delete;
  PinnedScratch& operator=(const PinnedScratch&) = delete;
  ~PinnedScratch() { Release(); }

  // n doubles, or nothing when CUDA cannot lock that much.
  std::optional<std::span<double>> Get(std::size_t n) {
    if (n > capacity_) {
      Release();
      void* data = nullptr;
      if (cudaMallocHost(&data, n * sizeof(double)) != cudaSuccess) {
        (void)cudaGetLastError();
        return std::nullopt;
      }
      data_ = static_cast<double*>(data);
      capacity_ = n;
    }
    return std::span<double>(data_, n);
  }

 private:
  void Release() {
    if (data_ != nullptr) (void)cudaFreeHost(data_);
    data_ = nullptr;
    capacity_ = 0;
  }

  double* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// What a rule computes at Finish(), given the round's updates and their weights.
using CudaMath = std::function<Status(DeviceReductions&, UpdateViews, std::span<const double>,
                                      std::span<double>)>;

class CudaRule final : public robust::RobustRule {
 public:
  // cpu: the same rule on the CPU, whose Begin() checks the round's preconditions.
  CudaRule(std::unique_ptr<robust::RobustRule> cpu, std::unique_ptr<DeviceReductions> device,
           CudaMath math)
      : cpu_(std::move(cpu)), device_(std::move(device)), math_(std::move(math)) {}

  std::string_view Name() const override { return cpu_->Name(); }
  bool IsAssociative() const override { return cpu_->IsAssociative(); }

  Status Begin(const aggregator::RoundInfo& info) override {
    updates_.clear();
    weights_.clear();
    device_->Forget();
    begun_ = false;
    if (info.dim == 0) return Status::InvalidArgument(std::string(Name()) + ": dimension 0");
    // The held rules' Begin() only checks; fedavg's would allocate its CPU sum for nothing.
    if (!cpu_->IsAssociative()) TRIBUTARY_RETURN_IF_ERROR(cpu_->Begin(info));
    dim_ = info.dim;
    begun_ = true;
    return Status::Ok();
  }

  Status Add(std::span<const float> update, double weight) override {
    const std::string name(Name());
    if (!begun_) return Status::FailedPrecondition(name + ": Add() before Begin()");
    if (update.size() != dim_) {
      return Status::InvalidArgument(name + ": update has " + std::to_string(update.size()) +
                                     " values, the round " + std::to_string(dim_));
    }
    if (!(std::isfinite(weight) && weight > 0.0)) {
      return Status::InvalidArgument(name + ": an update's weight must be finite and > 0");
    }
    TRIBUTARY_RETURN_IF_ERROR(device_->Stage(update));  // its copy overlaps the round
    updates_.push_back(update);
    weights_.push_back(weight);
    return Status::Ok();
  }

 protected:
  std::span<double> FinishScratch(std::size_t n) override {
    const std::optional<std::span<double>> pinned = pinned_scratch_.Get(n);
    return pinned ? *pinned : RobustRule::FinishScratch(n);
  }

  Status Compute(std::span<double> out) override {
    if (!begun_) return Status::FailedPrecondition(std::string(Name()) + ": Finish() before Begin()");
    Status status = math_(*device_, updates_, weights_, out);
    device_->Forget();  // the views are valid only until Finish() returns
    updates_.clear();
    weights_.clear();
    begun_ = false;
    return status;
  }

 private:
  const std::unique_ptr<robust::RobustRule> cpu_;
  const std::unique_ptr<DeviceReductions> device_;
  const CudaMath math_;
  std::size_t dim_ = 0;
  bool begun_ = false;
  std::vector<robust::UpdateView> updates_;
  std::vector<double> weights_;
  PinnedScratch pinned_scratch_;
};

Status FedAvg(DeviceReductions& device, UpdateViews u, std::span<const double> weights,
              std::span<double> out) {
  if (u.empty()) return Status::FailedPrecondition("fedavg: no updates");
  TRIBUTARY_RETURN_IF_ERROR(robust::CheckUpdates("fedavg", u, 1, out));
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  std::vector<double> coefficients(weights.begin(), weights.end());
  for (double& c : coefficients) c /= total;
  return device.WeightedSum(u, coefficients, out);
}

// Rules whose result is Σ c_i x_i with c computed from the Gram matrix.
using GramCoefficients = std::function<Result<std::vector<double>>(const Eigen::MatrixXd&)>;

CudaMath FromGram(std::string name, std::size_t min_updates, GramCoefficients coefficients) {
  return [=](DeviceReductions& device, UpdateViews u, std::span<const double>,
             std::span<double> out) -> Status {
    TRIBUTARY_RETURN_IF_ERROR(robust::CheckUpdates(name, u, min_updates, out));
    TRIBUTARY_ASSIGN_OR_RETURN(Eigen::MatrixXd gram, device.Gram(u));
    TRIBUTARY_ASSIGN_OR_RETURN(std::vector<double> c, coefficients(gram));
    return device.WeightedSum(u, c, out);
  };
}

// Rules whose result is Σ c_i x_i with c computed from the squared norms.
using NormCoefficients = std::function<Result<std::vector<double>>(std::span<const double>)>;

CudaMath FromNorms(std::string name, NormCoefficients coefficients) {
  return [=](DeviceReductions& device, UpdateViews u, std::span<const double>,
             std::span<double> out) -> Status {
    TRIBUTARY_RETURN_IF_ERROR(robust::CheckUpdates(name, u, 1, out));
    TRIBUTARY_ASSIGN_OR_RETURN(std::vector<double> squared_norms, device.SquaredNorms(u));
    TRIBUTARY_ASSIGN_OR_RETURN(std::vector<double> c, coefficients(squared_norms));
    return device.WeightedSum(u, c, out);
  };
}

Status Bulyan(DeviceReductions& device, UpdateViews u, std::size_t f, std::span<double> out) {
  TRIBUTARY_RETURN_IF_ERROR(robust::CheckUpdates("bulyan", u, 4 * f + 3, out));
  TRIBUTARY_ASSIGN_OR_RETURN(Eigen::MatrixXd gram, device.Gram(u));
  if (u.size() - 2 * f > kMaxSelectionRows) return robust::BulyanFromGram(u, gram, f, out);
  TRIBUTARY_ASSIGN_OR_RETURN(std::vector<std::size_t> selected,
                             robust::BulyanSelect(robust::SquaredDistancesFromGram(gram), f));
  std::vector<robust::UpdateView> views;
  for (std::size_t i : selected) views.push_back(u[i]);
  return device.BulyanMean(views, selected.size() - 2 * f, out);
}

// The coordinate-wise rules: on the GPU up to kMaxSelectionRows updates, on the CPU beyond.
CudaMath Selection(std::string name, std::size_t min_updates,
                   std::function<Status(DeviceReductions&, UpdateViews, std::span<double>)> gpu,
                   std::function<Status(UpdateViews, std::span<double>)> cpu) {
  return [=](DeviceReductions& device, UpdateViews u, std::span<const double>,
             std::span<double> out) -> Status {
    TRIBUTARY_RETURN_IF_ERROR(robust::CheckUpdates(name, u, min_updates, out));
    if (u.size() <= kMaxSelectionRows) return gpu(device, u, out);
    spdlog::info("rule {}: {} updates exceed the GPU kernel's {}; this round runs on the CPU",
                 name, u.size(), kMaxSelectionRows);
    return cpu(u, out);
  };
}

Result<CudaMath> MathFor(std::string_view name, const robust::RuleOptions& options) {
  const std::size_t f = static_cast<std::size_t>(options.f.value_or(0));
  std::optional<std::size_t> m;
  if (options.m) m = static_cast<std::size_t>(*options.m);
  if (name == "fedavg") return CudaMath(FedAvg);
  if (name == "krum" || name == "multikrum") {
    if (name == "krum") m = 1;
    return FromGram(std::string(name), 2 * f + 3, [f, m](const Eigen::MatrixXd& gram) {
      return robust::MultiKrumCoefficients(gram, f, m);
    });
  }
  if (name == "flag") {
    robust::FlagParams params;
    params.m = m;
    params.lambda = options.lambda.value_or(params.lambda);
    params.max_iters = options.iters.value_or(params.max_iters);
    params.tolerance = options.tolerance.value_or(params.tolerance);
    return FromGram("flag", 2, [params](const Eigen::MatrixXd& gram) -> Result<std::vector<double>> {
      TRIBUTARY_ASSIGN_OR_RETURN(Eigen::VectorXd c, robust::FlagCoefficients(gram, params));
      return std::vector<double>(c.begin(), c.end());
    });
  }
  if (name == "bulyan") {
    return CudaMath([f](DeviceReductions& device, UpdateViews u, std::span<const double>,
                        std::span<double> out) { return Bulyan(device, u, f, out); });
  }
  if (name == "normclip") {
    const std::optional<double> clip_norm = options.clip_norm;
    return FromNorms("normclip", [clip_norm](std::span<const double> squared_norms) {
      return robust::NormClippingCoefficients(squared_norms, clip_norm);
    });
  }
  if (name == "normalized-mean") {
    return FromNorms("normalized-mean", robust::NormalizedMeanCoefficients);
  }
  if (name == "median") {
    return Selection(
        "median", 1,
        [](DeviceReductions& device, UpdateViews u, std::span<double> out) {
          return device.CoordinateMedian(u, out);
        },
        robust::CoordinateMedian);
  }
  if (name == "trimmed-mean") {
    return Selection(
        "trimmed-mean", 2 * f + 1,
        [f](DeviceReductions& device, UpdateViews u, std::span<double> out) {
          return device.TrimmedMean(u, f, out);
        },
        [f](UpdateViews u, std::span<double> out) { return robust::TrimmedMean(u, f, out); });
  }
  return Status::Unimplemented("rule '" + std::string(name) + "' has no CUDA implementation");
}

}  // namespace

Result<std::unique_ptr<robust::RobustRule>> CreateCudaRule(std::string_view name,
                                                           const robust::RuleOptions& options,
                                                           std::size_t chunk_bytes) {
  TRIBUTARY_ASSIGN_OR_RETURN(std::unique_ptr<robust::RobustRule> cpu,
                             robust::CreateRule(name, options));
  TRIBUTARY_ASSIGN_OR_RETURN(CudaMath math, MathFor(name, options));
  TRIBUTARY_ASSIGN_OR_RETURN(std::unique_ptr<DeviceReductions> device,
                             DeviceReductions::Create(chunk_bytes));
  return std::unique_ptr<robust::RobustRule>(
      std::make_unique<CudaRule>(std::move(cpu), std::move(device), std::move(math)));
}

}  // namespace tributary::gpu::cuda
