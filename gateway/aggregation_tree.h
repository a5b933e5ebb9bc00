// AggregationTree: the shape and progress of one round's hierarchical aggregation.
//
// Leaf -> middle -> top with fan-in k. Updates fill the leaves k at a time in arrival order
// (update i goes to leaf i / k); a node whose inputs are all folded is flushed into a partial
// aggregate (a shared-memory slot), which becomes one input of its parent on the next level
// (node j goes to parent j / k) with the total weight of what it folded. The top folds the
// last partials and writes the round's result. A fan-in of 0 is the flat aggregation: one
// node, the top, folds every update.
//
// The round's size is known only when it closes, so the tree grows as updates arrive: a full
// node is flushed at once when the round could still outgrow it (more than k^level updates
// may come), and the rest wait for Close(), which fixes the shape: ceil(n / k) leaves,
// ceil(leaves / k) nodes above them, and so on up to the one top.
//
// Only associative rules whose result re-adds with its weight (the weighted mean of FedAvg)
// aggregate in a tree; the caller decides. Pure bookkeeping: it sends nothing and owns no
// slot; the control plane does both as it says. Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "shm/slot_pool.h"

namespace tributary::gateway {

class AggregationTree {
 public:
  using NodeId = uint32_t;

  // An update, or the partial of a child node.
  struct Input {
    shm::SlotHandle slot;
    double weight = 0;
    uint64_t client = 0;  // the client's index, or the child's NodeId
  };

  struct Node {
    uint32_t level = 1;  // 1: a leaf
    uint32_t index = 0;  // within its level
    std::vector<Input> inputs;
    double weight = 0;       // of its inputs together
    bool top = false;        // known once the round is closed
    bool flushed = false;    // its FLUSH (FINISH for the top) was sent
    bool done = false;       // its result is written
    shm::SlotHandle output;  // its partial's slot, or the round's output for the top
  };

  // `fan_in` >= 2, or 0 for the flat aggregation. `max_updates`: the most the round can take.
  AggregationTree(uint32_t fan_in, uint64_t max_updates);

  // Adds an update; returns the leaf it goes to (created when it is the leaf's first).
  NodeId AddUpdate(const Input& update);
  // The round takes no more updates: fixes the shape and marks the top.
  void Close();
  bool closed() const { return closed_; }
  // Whether `n` has every input it will get and is not flushed yet.
  bool Ready(NodeId n) const;
  // `n`'s FLUSH or FINISH was sent, writing into `output`.
  void MarkFlushed(NodeId n, shm::SlotHandle output);
  // `n`'s result is written. Returns its parent, which got the partial as an input (created
  // when it is the parent's first), or nothing for the top.
  std::optional<NodeId> Complete(NodeId n);

  const Node& node(NodeId n) const { return nodes_[n]; }
  uint32_t size() const { return static_cast<uint32_t>(nodes_.size()); }
  uint32_t fan_in() const { return fan_in_; }
  // Nodes on each level so far, leaves first.
  std::vector<uint32_t> Shape() const;

  // The most nodes a round of `max_updates` can have: the bound on its task lanes and, less
  // its top, on the partial slots it holds at once.
  static uint64_t MaxNodes(uint32_t fan_in, uint64_t max_updates);

 private:
  NodeId Create(uint32_t level, uint32_t index);
  // Inputs node (level, index) gets once the round is closed.
  uint64_t ExpectedInputs(uint32_t level, uint32_t index) const;
  // Nodes on `level` once the round is closed.
  uint64_t LevelSize(uint32_t level) const;

  uint64_t k_;  // fan-in; effectively unbounded for the flat aggregation
  uint32_t fan_in_;
  uint64_t max_updates_;
  uint64_t updates_ = 0;
  bool closed_ = false;
  uint32_t top_level_ = 0;  // once closed
  std::vector<Node> nodes_;
  std::map<std::pair<uint32_t, uint32_t>, NodeId> by_position_;  // (level, index) -> node
};

}  // namespace tributary::gateway
