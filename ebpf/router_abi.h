/* The contract between the sk_msg router program and its loader: map keys, values and limits.
 *
 * Plain C with fixed-width types; the BPF program (sk_msg_router.bpf.c) and the C++ loader
 * (sk_msg_router.cc) both include this file, and nothing else defines these layouts.
 */
#pragma once

#include <linux/types.h>

#define TRIBUTARY_ROUTER_MAX_INSTANCES 1024
#define TRIBUTARY_ROUTER_MAX_ROUTES 65536
/* Key of the router's own sending socket in the sockhash (instance ids start at 1). */
#define TRIBUTARY_ROUTER_SENDER_KEY 0xffffffffffffffffULL

/* routes: (job, round, shard) -> instance id. */
struct tributary_route_key {
  __u64 job;
  __u32 round;
  __u32 shard;
};

/* counters: per-CPU, per instance; the loader sums the CPUs. */
struct tributary_instance_counters {
  __u64 messages;
  __u64 bytes;
  __u64 last_seen_ns; /* bpf_ktime_get_ns() of the last redirect */
};

/* passed: per-CPU count of frames the program let through unrouted (wrong size, magic,
 * version, or an UPDATE/FINISH/FLUSH with no route), which reach the sender's peer instead of an
 * instance. Replies from instances pass uncounted. */
