// CreateCudaRule: robust/'s rules whose data-sized work runs on the GPU (the names in
// gpu/rule_factory.h's CudaRuleNames()).
//
// A CUDA rule is checked and held like its CPU twin: options are validated by
// robust::CreateRule, Begin() applies the CPU rule's preconditions (n >= 2f+3, ...), Add()
// keeps the update views (valid until Finish(), per AggregationRule) and starts copying the
// update to the device while the round goes on (when the round fits in half the device's free
// memory; chunk_pipeline.h), and Finish() runs:
//   fedavg        one fused pass Σ (w_i/W)·x_i
//   krum, multikrum, flag
//                 the Gram matrix on the GPU (cuBLAS), the n×n selection or IRLS on the CPU
//                 (robust::MultiKrumCoefficients, robust::FlagCoefficients), then one fused
//                 weighted sum on the GPU
//   bulyan        the Gram matrix on the GPU, the selection on the CPU (robust::BulyanSelect),
//                 the per-coordinate window of the selected updates on the GPU
//   normclip, normalized-mean
//                 the squared norms on the GPU, the coefficients on the CPU, then one fused
//                 weighted sum on the GPU
//   median, trimmed-mean
//                 per-coordinate selection on the GPU; rounds of more than kMaxSelectionRows
//                 updates run on the CPU.
// Each rule owns its streams, cuBLAS handles and chunk buffers (2 × chunk_bytes of device
// memory), and the staged rows of its largest round, for its lifetime. Updates never need to
// fit in device memory: rounds that do not fit stream through the chunk buffers at Finish().
//
// Thread safety: as any AggregationRule, one thread at a time per object.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "common/result.h"
#include "gpu/cuda/chunk_pipeline.h"
#include "robust/robust_rule.h"
#include "robust/rule_options.h"

namespace tributary::gpu::cuda {

// Errors: robust::CreateRule's for the name and options; Unimplemented for a rule without a
// CUDA implementation; CUDA's when the device cannot be set up.
Result<std::unique_ptr<robust::RobustRule>> CreateCudaRule(
    std::string_view name, const robust::RuleOptions& options,
    std::size_t chunk_bytes = ChunkPipeline::kDefaultChunkBytes);

}  // namespace tributary::gpu::cuda
