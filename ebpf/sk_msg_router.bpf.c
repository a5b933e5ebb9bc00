// SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
/* The sk_msg router: moves each 64-byte descriptor from the router's sending socket to the
 * socket of the aggregator instance routed for its (job, round, shard), inside the kernel.
 *
 * Attached as the msg verdict program of the instance_sockets sockhash, it runs on every
 * sendmsg of a socket in that map. Only UPDATE, FINISH and FLUSH descriptors travel towards
 * aggregators; a frame that is not exactly one such valid descriptor, or that has no route, is
 * passed unchanged (SK_PASS) to the sending socket's own peer and counted: it is never
 * misrouted. The replies aggregators send on their own sockets pass uncounted. Routed frames
 * are put straight on the receive queue of the instance process's own socket (BPF_F_INGRESS):
 * no TCP transmit, no proxy, and the instance wakes in recv() as for any message.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "ebpf/router_abi.h"
#include "shm/descriptor_format.h"

struct {
  __uint(type, BPF_MAP_TYPE_SOCKHASH);
  __uint(max_entries, TRIBUTARY_ROUTER_MAX_INSTANCES + 1);
  __type(key, __u64);
  __type(value, __u64);
} instance_sockets SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, TRIBUTARY_ROUTER_MAX_ROUTES);
  __type(key, struct tributary_route_key);
  __type(value, __u64);
} routes SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, TRIBUTARY_ROUTER_MAX_INSTANCES);
  __type(key, __u64);
  __type(value, struct tributary_instance_counters);
} counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, __u64);
} passed SEC(".maps");

static __always_inline int pass(void) {
  __u32 zero = 0;
  __u64 *n = bpf_map_lookup_elem(&passed, &zero);
  if (n) *n += 1;
  return SK_PASS;
}

SEC("sk_msg")
int tributary_route_descriptor(struct sk_msg_md *msg) {
  if (msg->size != TRIBUTARY_DESCRIPTOR_SIZE) return pass();
  /* data..data_end spans only the first page of the message: the 64 bytes can straddle two
   * pages of the sending thread's page fragment (shared with its other TCP writes), so make
   * them linear first. */
  void *data = (void *)(long)msg->data;
  void *data_end = (void *)(long)msg->data_end;
  if (data + TRIBUTARY_DESCRIPTOR_SIZE > data_end) {
    if (bpf_msg_pull_data(msg, 0, TRIBUTARY_DESCRIPTOR_SIZE, 0) != 0) return pass();
    data = (void *)(long)msg->data;
    data_end = (void *)(long)msg->data_end;
  }
  struct tributary_descriptor *d = data;
  if (data + sizeof(*d) > data_end) return pass();
  if (d->magic != TRIBUTARY_DESCRIPTOR_MAGIC || d->version != TRIBUTARY_DESCRIPTOR_VERSION)
    return pass();
  /* Replies (DONE, FAILED, HELLO) from an instance's own socket go to the node as usual. */
  if (d->kind != TRIBUTARY_DESC_UPDATE && d->kind != TRIBUTARY_DESC_FINISH &&
      d->kind != TRIBUTARY_DESC_FLUSH)
    return SK_PASS;

  struct tributary_route_key key = {.job = d->job, .round = d->round, .shard = d->shard};
  __u64 *routed = bpf_map_lookup_elem(&routes, &key);
  if (!routed) return pass();
  __u64 instance = *routed;

  struct tributary_instance_counters *c = bpf_map_lookup_elem(&counters, &instance);
  if (c) {
    c->messages += 1;
    c->bytes += TRIBUTARY_DESCRIPTOR_SIZE;
    c->last_seen_ns = bpf_ktime_get_ns();
  }
  return bpf_msg_redirect_hash(msg, &instance_sockets, &instance, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
