// AggregationTree: the shape of a round's tree, when each node may be flushed, and that every
// update reaches the top exactly once with its weight, however the round ends.
#include "gateway/aggregation_tree.h"

#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <random>
#include <set>

namespace tributary::gateway {
namespace {

using NodeId = AggregationTree::NodeId;

// Drives a tree the way the control plane does: flushes every ready node, completes flushed
// nodes in a random order, and checks what reaches the top.
class TreeDriver {
 public:
  TreeDriver(uint32_t fan_in, uint64_t max_updates, uint32_t seed)
      : tree(fan_in, max_updates), rng(seed) {}

  void Add(double weight) {
    const uint32_t i = static_cast<uint32_t>(weights.size());
    weights.push_back(weight);
    FlushReady(tree.AddUpdate({{i, 1}, weight, i}));
  }
  void Close() {
    tree.Close();
    for (NodeId n = 0; n < tree.size(); ++n) FlushReady(n);
  }
  // Completes flushed nodes in a random order until the top is done.
  void Run() {
    while (!flushed.empty()) {
      std::uniform_int_distribution<std::size_t> pick(0, flushed.size() - 1);
      auto it = flushed.begin() + static_cast<long>(pick(rng));
      const NodeId n = *it;
      flushed.erase(it);
      if (auto parent = tree.Complete(n)) {
        FlushReady(*parent);
      } else {
        ASSERT_FALSE(top_done) << "two tops";
        top_done = true;
        top = n;
      }
    }
  }
  void FlushReady(NodeId n) {
    if (!tree.Ready(n)) return;
    tree.MarkFlushed(n, {1000 + n, 1});
    flushed.push_back(n);
  }
  // The updates below `n`, each with the weight it reached `n` with.
  void Leaves(NodeId n, std::map<uint64_t, double>* out) const {
    for (const auto& in : tree.node(n).inputs) {
      if (tree.node(n).level == 1) {
        EXPECT_TRUE(out->emplace(in.client, in.weight).second) << "update twice";
      } else {
        EXPECT_EQ(in.slot.index, 1000 + in.client) << "partial slot";
        Leaves(static_cast<NodeId>(in.client), out);
      }
    }
  }

  AggregationTree tree;
  std::mt19937 rng;
  std::vector<double> weights;
  std::deque<NodeId> flushed;
  bool top_done = false;
  NodeId top = 0;
};

TEST(AggregationTreeTest, TwoHundredUpdatesWithFanInFourMakeTheExpectedShape) {
  TreeDriver d(4, 200, 1);
  for (int i = 0; i < 200; ++i) d.Add(1 + i % 7);
  d.Close();
  d.Run();
  ASSERT_TRUE(d.top_done);
  EXPECT_EQ(d.tree.Shape(), (std::vector<uint32_t>{50, 13, 4, 1}));
  EXPECT_EQ(d.tree.node(d.top).level, 4u);
  EXPECT_TRUE(d.tree.node(d.top).top);
}

TEST(AggregationTreeTest, FullNodesFlushBeforeTheRoundClosesOnlyWhenTheRoundCanOutgrowThem) {
  AggregationTree tree(4, 16);
  for (uint32_t i = 0; i < 4; ++i) tree.AddUpdate({{i, 1}, 1, i});
  EXPECT_TRUE(tree.Ready(0)) << "a full leaf of a round that can reach 16 updates";
  // A round of at most 4 updates: its one full leaf may be the top, so it waits.
  AggregationTree small(4, 4);
  for (uint32_t i = 0; i < 4; ++i) small.AddUpdate({{i, 1}, 1, i});
  EXPECT_FALSE(small.Ready(0));
  small.Close();
  EXPECT_TRUE(small.Ready(0));
  EXPECT_TRUE(small.node(0).top);
  EXPECT_EQ(small.Shape(), (std::vector<uint32_t>{1}));
  // A partly filled leaf waits for the close.
  AggregationTree partial(4, 16);
  for (uint32_t i = 0; i < 3; ++i) partial.AddUpdate({{i, 1}, 1, i});
  EXPECT_FALSE(partial.Ready(0));
  partial.Close();
  EXPECT_TRUE(partial.Ready(0));
}

TEST(AggregationTreeTest, FlatTreeIsOneTopThatTakesEveryUpdate) {
  TreeDriver d(0, 1000, 2);
  for (int i = 0; i < 1000; ++i) {
    d.Add(2);
    ASSERT_TRUE(d.flushed.empty()) << "the flat top flushes only at the close";
  }
  d.Close();
  d.Run();
  EXPECT_EQ(d.tree.Shape(), (std::vector<uint32_t>{1}));
  EXPECT_EQ(d.tree.node(d.top).inputs.size(), 1000u);
  EXPECT_EQ(AggregationTree::MaxNodes(0, 1000), 1u);
}

TEST(AggregationTreeTest, EmptyRoundStillHasATop) {
  AggregationTree tree(4, 10);
  tree.Close();
  ASSERT_EQ(tree.size(), 1u);
  EXPECT_TRUE(tree.node(0).top);
  EXPECT_TRUE(tree.Ready(0));
}

// Whatever the fan-in, the round's cap, where the round closes and the order nodes finish in:
// one top, every update under it exactly once, the weights summing up the levels, and no more
// nodes than MaxNodes says.
TEST(AggregationTreeTest, EveryUpdateReachesTheTopOnceWithItsWeight) {
  for (uint32_t fan_in : {2u, 3u, 4u, 8u}) {
    for (uint64_t cap : {1u, 2u, 5u, 16u, 17u, 64u, 100u}) {
      for (uint64_t n = 0; n <= cap; n += (cap > 20 ? 7 : 1)) {
        for (uint32_t seed = 0; seed < 3; ++seed) {
          SCOPED_TRACE("fan_in " + std::to_string(fan_in) + " cap " + std::to_string(cap) +
                       " updates " + std::to_string(n) + " seed " + std::to_string(seed));
          TreeDriver d(fan_in, cap, seed);
          // Nodes flushed early complete while the round is still open, interleaved.
          for (uint64_t i = 0; i < n; ++i) {
            d.Add(1.0 + double(i % 5));
            if (i % 3 == 0 && !d.flushed.empty()) {
              const NodeId f = d.flushed.front();
              d.flushed.pop_front();
              auto parent = d.tree.Complete(f);
              ASSERT_TRUE(parent.has_value()) << "a node flushed early is never the top";
              d.FlushReady(*parent);
            }
          }
          d.Close();
          d.Run();
          ASSERT_TRUE(d.top_done);
          std::map<uint64_t, double> leaves;
          d.Leaves(d.top, &leaves);
          ASSERT_EQ(leaves.size(), n);
          double total = 0;
          for (uint64_t i = 0; i < n; ++i) {
            EXPECT_EQ(leaves[i], d.weights[i]);
            total += d.weights[i];
          }
          EXPECT_DOUBLE_EQ(d.tree.node(d.top).weight, total);
          EXPECT_LE(d.tree.size(), AggregationTree::MaxNodes(fan_in, cap));
          for (NodeId id = 0; id < d.tree.size(); ++id) {
            const auto& node = d.tree.node(id);
            EXPECT_TRUE(node.done);
            EXPECT_LE(node.inputs.size(), fan_in);
            EXPECT_EQ(node.top, id == d.top);
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace tributary::gateway
