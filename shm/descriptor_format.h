/* The 64-byte descriptor: the only thing that moves between Tributary processes.
 *
 * Payloads stay in a shared-memory slot; a descriptor names the slot and says what to do
 * with it. Plain C with fixed-width little-endian fields so that C++, the BPF router program
 * and tests share one definition. A reader must check magic and version before trusting any
 * other field, and frames are always exactly TRIBUTARY_DESCRIPTOR_SIZE bytes on a stream.
 */
#pragma once

#if defined(__bpf__)
#include <linux/types.h>
typedef __u8 uint8_t;
typedef __u16 uint16_t;
typedef __u32 uint32_t;
typedef __u64 uint64_t;
#else
#include <stdint.h>
#endif

#define TRIBUTARY_DESCRIPTOR_MAGIC 0x5442u /* "TB" */
#define TRIBUTARY_DESCRIPTOR_VERSION 1u
#define TRIBUTARY_DESCRIPTOR_SIZE 64u

enum tributary_descriptor_kind {
  TRIBUTARY_DESC_INVALID = 0,
  /* Sender -> aggregator: fold the shard of update `slot` (weight `weight`) into the shard of
   * accumulator `target_slot`, where the task may keep its running state (first update of a
   * round initialises it): the round's output for a flat aggregation, the node's partial slot
   * in a tree, which its FLUSH then writes in place. */
  TRIBUTARY_DESC_UPDATE = 1,
  /* Sender -> aggregator: all `client` updates were sent; write the shard's aggregate into
   * `target_slot` and answer DONE. Jobs of delta updates add it, scaled by the server learning
   * rate, to the previous model, in `slot` (kept live by the sender until DONE). */
  TRIBUTARY_DESC_FINISH = 2,
  /* Aggregator -> node runtime: the task named by (job, round, shard) is final. `weight` holds
   * the seconds the aggregator spent inside the rule for it (folding and finishing): the
   * service time the autoscaler divides into the inputs it folded (`client`). */
  TRIBUTARY_DESC_DONE = 3,
  /* Aggregator -> node runtime: first frame on a new connection; `client` holds the instance
   * id, `sequence` the process id and `slot` the fd number of the connection in that process.
   * The runtime answers with a HELLO of its own once the router has attached the instance. */
  TRIBUTARY_DESC_HELLO = 4,
  /* Aggregator -> node runtime: processing (job, round, shard) failed; `client` holds a
   * StatusCode. When `bytes` > 0, the aggregator wrote that many bytes of message text at the
   * start of its shard of `target_slot` (the round's output, discarded with the failed round). */
  TRIBUTARY_DESC_FAILED = 5,
  /* Node runtime -> aggregator: job `job` has ended or moved out of its pool; drop what is
   * kept for it (its pool mapping, its rules). */
  TRIBUTARY_DESC_JOB_ENDED = 6,
  /* Sender -> aggregator: as FINISH for an inner task of an aggregation tree (a leaf or a
   * middle): write the shard's partial aggregate (the weighted mean of the `client` inputs it
   * was sent) into `target_slot`, with no server step, and answer DONE. The parent folds the
   * partial with the inputs' total weight. */
  TRIBUTARY_DESC_FLUSH = 7,
};

struct tributary_descriptor {
  uint16_t magic;           /* TRIBUTARY_DESCRIPTOR_MAGIC */
  uint8_t version;          /* TRIBUTARY_DESCRIPTOR_VERSION */
  uint8_t kind;             /* enum tributary_descriptor_kind */
  uint16_t shard;           /* task lane: tree node x num_shards + shard index within the
                             * model (a flat aggregation's one node is node 0) */
  uint16_t num_shards;      /* shards the model is split into */
  uint64_t job;             /* job id */
  uint32_t round;           /* round number (1-based) */
  uint32_t slot;            /* source slot in the job's pool */
  uint32_t slot_generation; /* generation of `slot` when the descriptor was made */
  uint32_t target_slot;     /* accumulator / output slot */
  uint64_t bytes;           /* payload bytes in `slot` */
  double weight;            /* update weight, or the round's total weight for FINISH */
  uint64_t client;          /* client index within the job (or instance id, status code) */
  uint64_t sequence;        /* sender's sequence number */
};

#if defined(__cplusplus)
static_assert(sizeof(struct tributary_descriptor) == TRIBUTARY_DESCRIPTOR_SIZE,
              "descriptor must be 64 bytes");
#elif !defined(__bpf__)
_Static_assert(sizeof(struct tributary_descriptor) == TRIBUTARY_DESCRIPTOR_SIZE,
               "descriptor must be 64 bytes");
#endif
