/* A rule plug-in: the weighted mean of updates clipped to a norm bound.
 *
 * Build:  cc -O2 -shared -fPIC -I<tributary source> norm_clipped_mean.c -o norm_clipped_mean.so
 * Serve:  tributary serve --rule-plugin ./norm_clipped_mean.so
 * Use:    tributary job create ... --rule plugin:norm-clipped-mean --param clip=5
 *
 * Every update x is scaled by min(1, clip / ||x||) before it is folded, so no client moves the
 * mean by more than clip * weight / total weight. Associative: updates are folded as they come.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aggregator/rule_plugin.h"

typedef struct {
  double clip;
  double total_weight;
  size_t dim;
  double* sum;
} state_t;

static void* create(const tributary_rule_param* params, size_t n, char* error, size_t size) {
  double clip = 10.0;
  for (size_t i = 0; i < n; ++i) {
    if (strcmp(params[i].name, "clip") != 0 || !(params[i].value > 0)) {
      snprintf(error, size, "takes one parameter, clip > 0 (got %s=%g)", params[i].name,
               params[i].value);
      return NULL;
    }
    clip = params[i].value;
  }
  state_t* s = calloc(1, sizeof *s);
  if (s) s->clip = clip;
  return s;
}

static int begin(void* state, uint64_t round, size_t dim, size_t expected, char* error,
                 size_t size) {
  state_t* s = state;
  double* sum = realloc(s->sum, dim * sizeof *sum);
  if (sum == NULL && dim > 0) {
    snprintf(error, size, "out of memory for %zu coordinates", dim);
    return 1;
  }
  memset(sum, 0, dim * sizeof *sum);
  s->sum = sum;
  s->dim = dim;
  s->total_weight = 0;
  return 0;
}

static int add(void* state, const float* x, size_t dim, double weight, char* error, size_t size) {
  state_t* s = state;
  double norm = 0;
  for (size_t i = 0; i < dim; ++i) norm += (double)x[i] * x[i];
  norm = sqrt(norm);
  const double scale = weight * (norm > s->clip ? s->clip / norm : 1.0);
  for (size_t i = 0; i < dim; ++i) s->sum[i] += scale * x[i];
  s->total_weight += weight;
  return 0;
}

static int finish(void* state, float* out, size_t dim, char* error, size_t size) {
  state_t* s = state;
  if (s->total_weight <= 0) {
    snprintf(error, size, "no updates this round");
    return 1;
  }
  for (size_t i = 0; i < dim; ++i) out[i] = (float)(s->sum[i] / s->total_weight);
  return 0;
}

static void destroy(void* state) {
  state_t* s = state;
  free(s->sum);
  free(s);
}

static const tributary_rule_plugin kPlugin = {
    .abi_version = TRIBUTARY_RULE_PLUGIN_ABI_VERSION,
    .name = "norm-clipped-mean",
    .associative = 1,
    .create = create,
    .begin = begin,
    .add = add,
    .finish = finish,
    .destroy = destroy,
};

const tributary_rule_plugin* tributary_rule_plugin_v1(void) { return &kPlugin; }
