/* A rule plug-in that misbehaves on request, for the plug-in tests.
 *
 * A weighted mean whose parameters make it fail: `crash_round=R` dereferences NULL in add() of
 * round R, `fail_finish=1` returns an error from finish(), `nan_finish=1` succeeds with a NaN
 * in the middle of its result.
 * Built several times from this one source: FAULTY_NAME sets the rule name, FAULTY_ABI the
 * ABI version it claims, and FAULTY_NO_ENTRY leaves out the entry point.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/rule_plugin.h"

#ifndef FAULTY_NAME
#define FAULTY_NAME "faulty"
#endif
#ifndef FAULTY_ABI
#define FAULTY_ABI TRIBUTARY_RULE_PLUGIN_ABI_VERSION
#endif

typedef struct {
  uint64_t crash_round;
  int fail_finish;
  int nan_finish;
  uint64_t round;
  size_t dim;
  double total;
  double* sum;
} state_t;

static void* create(const tributary_rule_param* params, size_t n, char* error, size_t size) {
  state_t* s = calloc(1, sizeof *s);
  for (size_t i = 0; i < n; ++i) {
    if (strcmp(params[i].name, "crash_round") == 0) {
      s->crash_round = (uint64_t)params[i].value;
    } else if (strcmp(params[i].name, "fail_finish") == 0) {
      s->fail_finish = params[i].value != 0;
    } else if (strcmp(params[i].name, "nan_finish") == 0) {
      s->nan_finish = params[i].value != 0;
    } else {
      snprintf(error, size, "unknown parameter %s", params[i].name);
      free(s);
      return NULL;
    }
  }
  return s;
}

static int begin(void* state, uint64_t round, size_t dim, size_t expected, char* error,
                 size_t size) {
  state_t* s = state;
  free(s->sum);
  s->sum = calloc(dim ? dim : 1, sizeof(double));
  s->dim = dim;
  s->round = round;
  s->total = 0;
  return 0;
}

static int add(void* state, const float* x, size_t dim, double weight, char* error, size_t size) {
  state_t* s = state;
  if (s->round == s->crash_round) {
    volatile int* null = NULL;
    *null = 1; /* a plug-in bug: SIGSEGV */
  }
  for (size_t i = 0; i < dim; ++i) s->sum[i] += weight * x[i];
  s->total += weight;
  return 0;
}

static int finish(void* state, float* out, size_t dim, char* error, size_t size) {
  state_t* s = state;
  if (s->fail_finish) {
    snprintf(error, size, "asked to fail in round %llu", (unsigned long long)s->round);
    return 1;
  }
  for (size_t i = 0; i < dim; ++i) out[i] = (float)(s->sum[i] / s->total);
  if (s->nan_finish && dim > 0) out[dim / 2] = (float)(0.0 / 0.0);
  return 0;
}

static void destroy(void* state) {
  state_t* s = state;
  free(s->sum);
  free(s);
}

static const tributary_rule_plugin kPlugin = {FAULTY_ABI, FAULTY_NAME, 1, create, begin, add,
                                              finish, destroy};

#ifndef FAULTY_NO_ENTRY
const tributary_rule_plugin* tributary_rule_plugin_v1(void) { return &kPlugin; }
#else
const tributary_rule_plugin* some_other_function(void) { return &kPlugin; }
#endif
