#include "gateway/aggregation_tree.h"

#include <algorithm>
#include <limits>

namespace tributary::gateway {
namespace {

uint64_t CeilDiv(uint64_t a, uint64_t b) { return (a + b - 1) / b; }

// k^level, saturating.
uint64_t Power(uint64_t k, uint32_t level) {
  uint64_t p = 1;
  for (uint32_t i = 0; i < level; ++i) {
    if (p > std::numeric_limits<uint64_t>::max() / k) return std::numeric_limits<uint64_t>::max();
    p *= k;
  }
  return p;
}

}  // namespace

AggregationTree::AggregationTree(uint32_t fan_in, uint64_t max_updates)
    : k_(fan_in >= 2 ? fan_in : std::numeric_limits<uint64_t>::max()),
      fan_in_(fan_in >= 2 ? fan_in : 0),
      max_updates_(max_updates) {}

AggregationTree::NodeId AggregationTree::Create(uint32_t level, uint32_t index) {
  const NodeId id = size();
  Node n;
  n.level = level;
  n.index = index;
  n.top = closed_ && level == top_level_;
  nodes_.push_back(std::move(n));
  by_position_[{level, index}] = id;
  return id;
}

AggregationTree::NodeId AggregationTree::AddUpdate(const Input& update) {
  const auto leaf = static_cast<uint32_t>(updates_++ / k_);
  auto it = by_position_.find({1, leaf});
  const NodeId id = it != by_position_.end() ? it->second : Create(1, leaf);
  nodes_[id].inputs.push_back(update);
  nodes_[id].weight += update.weight;
  return id;
}

// Above the lowest level of one node, every level has one node too (the top above an
// early-flushed node has that node as its one input).
uint64_t AggregationTree::LevelSize(uint32_t level) const {
  uint64_t n = std::max<uint64_t>(1, CeilDiv(updates_, k_));
  for (uint32_t l = 1; l < level; ++l) n = CeilDiv(n, k_);
  return n;
}

uint64_t AggregationTree::ExpectedInputs(uint32_t level, uint32_t index) const {
  const uint64_t below = level == 1 ? updates_ : LevelSize(level - 1);
  return std::min<uint64_t>(k_, below - std::min<uint64_t>(below, uint64_t(index) * k_));
}

void AggregationTree::Close() {
  if (closed_) return;
  closed_ = true;
  if (nodes_.empty()) Create(1, 0);  // an empty round still has a top, which reports it
  // The lowest level of one node, unless that node was flushed as a partial while the round
  // could still outgrow it: then its parent, alone on the level above, is the top.
  top_level_ = 1;
  while (LevelSize(top_level_) > 1) ++top_level_;
  while (true) {
    auto it = by_position_.find({top_level_, 0});
    if (it == by_position_.end() || !nodes_[it->second].flushed) break;
    ++top_level_;
  }
  for (auto& n : nodes_) n.top = n.level == top_level_;
}

bool AggregationTree::Ready(NodeId id) const {
  const Node& n = nodes_[id];
  if (n.flushed) return false;
  if (!closed_) {
    // Full, and not the top whatever the round's size: more than k^level updates may come.
    return n.inputs.size() == k_ && max_updates_ > Power(k_, n.level);
  }
  return n.inputs.size() >= ExpectedInputs(n.level, n.index);
}

void AggregationTree::MarkFlushed(NodeId id, shm::SlotHandle output) {
  nodes_[id].flushed = true;
  nodes_[id].output = output;
}

std::optional<AggregationTree::NodeId> AggregationTree::Complete(NodeId id) {
  nodes_[id].done = true;
  const Node n = nodes_[id];
  if (n.top) return std::nullopt;
  const uint32_t level = n.level + 1;
  const auto index = static_cast<uint32_t>(n.index / k_);
  auto it = by_position_.find({level, index});
  const NodeId parent = it != by_position_.end() ? it->second : Create(level, index);
  nodes_[parent].inputs.push_back({n.output, n.weight, id});
  nodes_[parent].weight += n.weight;
  return parent;
}

std::vector<uint32_t> AggregationTree::Shape() const {
  std::vector<uint32_t> shape;
  for (const auto& n : nodes_) {
    if (shape.size() < n.level) shape.resize(n.level, 0);
    ++shape[n.level - 1];
  }
  return shape;
}

uint64_t AggregationTree::MaxNodes(uint32_t fan_in, uint64_t max_updates) {
  if (fan_in < 2) return 1;
  uint64_t total = 0;
  for (uint64_t n = std::max<uint64_t>(1, CeilDiv(max_updates, fan_in));; n = CeilDiv(n, fan_in)) {
    total += n;
    if (n == 1) break;
  }
  return total + 1;  // a top above a level whose one node was flushed early
}

}  // namespace tributary::gateway
