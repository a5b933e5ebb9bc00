/* The C ABI of aggregation-rule plug-ins: a shared object that adds one rule to Tributary.
 *
 * A plug-in exports one function, `tributary_rule_plugin_v1`, returning a pointer to a static
 * table: the rule's name, whether it is associative, and five functions. `tributary serve
 * --rule-plugin path.so` loads it; a job then names the rule `plugin:<name>`.
 *
 * The gateway only reads the table (name, ABI version). The rule's functions run inside the
 * aggregator processes, so a plug-in that crashes takes down one aggregator, never the
 * gateway; a round whose aggregator dies twice running the rule fails with the cause.
 *
 * Plain C so that a plug-in may be written in C, C++, Rust or anything with a C FFI. Every
 * function that can fail returns 0 on success, or non-zero after writing a NUL-terminated
 * message of at most `error_size` bytes into `error`. One state object is driven by one thread
 * at a time; different states may be used from different processes.
 *
 * Minimal plug-in (a weighted mean):
 *
 *   #include "aggregator/rule_plugin.h"
 *   typedef struct { double total; size_t dim; float* sum; } mean_t;
 *   static void* create(const tributary_rule_param* p, size_t n, char* e, size_t es) {
 *     return calloc(1, sizeof(mean_t)); }
 *   ... begin: (re)allocate and zero `sum`; add: sum += w*x; finish: out = sum / total ...
 *   static const tributary_rule_plugin kPlugin = {TRIBUTARY_RULE_PLUGIN_ABI_VERSION, "mean", 1,
 *       create, begin, add, finish, destroy};
 *   const tributary_rule_plugin* tributary_rule_plugin_v1(void) { return &kPlugin; }
 */
#ifndef TRIBUTARY_AGGREGATOR_RULE_PLUGIN_H_
#define TRIBUTARY_AGGREGATOR_RULE_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRIBUTARY_RULE_PLUGIN_ABI_VERSION 1u
#define TRIBUTARY_RULE_PLUGIN_ENTRY "tributary_rule_plugin_v1"

/* A job's rule parameter (`job create --param name=value`). */
typedef struct tributary_rule_param {
  const char* name;
  double value;
} tributary_rule_param;

typedef struct tributary_rule_plugin {
  uint32_t abi_version; /* TRIBUTARY_RULE_PLUGIN_ABI_VERSION */
  const char* name;     /* [a-z0-9_-]+, unique among loaded plug-ins */
  /* Non-zero when add() folds the update into a running state (sum-like rules). */
  int associative;

  /* A new rule state for the job's parameters, or NULL (with a message) when a parameter is
   * unknown or out of range. */
  void* (*create)(const tributary_rule_param* params, size_t num_params, char* error,
                  size_t error_size);
  /* A round starts: updates of `dim` floats follow; `expected` is how many were asked for
   * (0: unknown). Discards the previous round's per-round state. */
  int (*begin)(void* state, uint64_t round, size_t dim, size_t expected, char* error,
               size_t error_size);
  /* One update, read-only, valid until finish() returns; weight > 0 (the client's examples). */
  int (*add)(void* state, const float* update, size_t dim, double weight, char* error,
             size_t error_size);
  /* Writes the aggregate of the round's updates into `out` (dim floats). */
  int (*finish)(void* state, float* out, size_t dim, char* error, size_t error_size);
  void (*destroy)(void* state);
} tributary_rule_plugin;

/* The entry point every plug-in exports. */
typedef const tributary_rule_plugin* (*tributary_rule_plugin_entry)(void);

#ifdef __cplusplus
}
#endif

#endif /* TRIBUTARY_AGGREGATOR_RULE_PLUGIN_H_ */
