// Aggregation rules written in Python: a job names `python:module.func`, and the aggregator runs
// `func(updates, weights) -> aggregate` in an interpreter embedded in its own process.
//
// The function receives `updates`, an n×d float32 array, and `weights`, a float64 array of n
// (the clients' numbers of examples), and returns d finite floats (float32 or float64). When the
// updates live in page-aligned shared memory (the slot pool), `updates` is a read-only view of
// those pages, remapped side by side into one strided range: nothing is copied, whatever the
// model size. Otherwise (heap memory, as in tests) the rows are copied once. Either way the array
// owns its memory, so a function that keeps it never reads freed memory; but a zero-copy array
// kept past its round shows whatever the pool's slots hold later, so copy what you keep.
//
// The interpreter (the Python and numpy the build found, Debian's python3 by default) starts on
// first use and is never finalised. Python code runs with the GIL held, taken per call, so rule
// objects may be used from any thread, one at a time per rule (aggregation_rule.h). Python
// exceptions never leave this component: they become Status values.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "aggregator/aggregation_rule.h"
#include "common/result.h"

namespace tributary::aggregator {

// True when this build embeds a Python interpreter.
bool PythonRulesAvailable();

// Puts `dir` at the front of the embedded interpreter's sys.path; before the interpreter has
// started (it starts with the first rule), when it starts. A no-op in builds without Python.
void AddPythonPath(const std::string& dir);

// Checks `target` ("module.func" or "package.module.func", the part after "python:") without
// running Python: INVALID_ARGUMENT when malformed, FAILED_PRECONDITION when this build has no
// embedded Python. For the gateway, which must not import user code.
Status CheckPythonTarget(std::string_view target);

// A rule calling `target`. The module is imported and the function looked up now: NOT_FOUND for
// a missing module or attribute, INVALID_ARGUMENT for a malformed target, a module that fails to
// import (syntax error, ...) or a non-callable, each with the Python exception type and message;
// FAILED_PRECONDITION when this build has no embedded Python or numpy does not import.
Result<std::unique_ptr<AggregationRule>> CreatePythonRule(std::string_view target);

}  // namespace tributary::aggregator
