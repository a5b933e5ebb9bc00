// The `python:module.func` rule (python_rule.h) and the embedded interpreter it runs in.
//
// Finish() hands the kept spans to Python without copying them: each page-aligned span of a
// shared mapping is mremap()ed with old size 0, which makes a second mapping of the same pages,
// into one reserved range, a row every `stride` bytes. The range is made read-only and wrapped
// as a numpy array whose base capsule unmaps it when Python drops the last reference. Spans that
// cannot be remapped (heap memory) are copied into a buffer the capsule owns instead.
//
// Builds without pybind11 compile only the parts that need no Python, and report why the rule
// is missing.
#include "aggregator/python_rule.h"

#ifndef TRIBUTARY_HAVE_PYTHON
#define TRIBUTARY_HAVE_PYTHON 0
#endif

#if TRIBUTARY_HAVE_PYTHON
#include <pybind11/embed.h>
#include <pybind11/numpy.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <mutex>
#include <vector>
#endif

namespace tributary::aggregator {
namespace {

constexpr std::string_view kNoPython =
    "this build has no embedded Python (pybind11 and python3-dev were not found)";

// "module.func" or "package.module.func": at least one dot, and no empty part.
bool WellFormed(std::string_view target) {
  return target.find('.') != std::string_view::npos && target.front() != '.' &&
         target.back() != '.' && target.find("..") == std::string_view::npos;
}

}  // namespace

bool PythonRulesAvailable() { return TRIBUTARY_HAVE_PYTHON; }

Status CheckPythonTarget(std::string_view target) {
  if (!PythonRulesAvailable()) return Status::FailedPrecondition(kNoPython);
  if (!WellFormed(target)) {
    return Status::InvalidArgument("malformed python rule target \"" + std::string(target) +
                                   "\": expected module.function or package.module.function");
  }
  return Status::Ok();
}

#if TRIBUTARY_HAVE_PYTHON

namespace py = pybind11;

namespace {

constexpr std::size_t kMaxErrorBytes = 1000;

// str(obj) as UTF-8. Never throws: a failing __str__ gives a placeholder. REQUIRES: the GIL.
std::string Str(py::handle obj) {
  auto text = py::reinterpret_steal<py::object>(PyObject_Str(obj.ptr()));
  Py_ssize_t size = 0;
  const char* utf8 = text ? PyUnicode_AsUTF8AndSize(text.ptr(), &size) : nullptr;
  if (utf8 == nullptr) {
    PyErr_Clear();
    return "<unprintable>";
  }
  return std::string(utf8, static_cast<std::size_t>(size));
}

// " (file:line)" of the innermost frame of a traceback; empty when there is none.
std::string Location(py::handle traceback) {
  if (!traceback) return {};
  try {
    auto tb = py::reinterpret_borrow<py::object>(traceback);
    while (!tb.attr("tb_next").is_none()) tb = tb.attr("tb_next");
    return " (" + Str(tb.attr("tb_frame").attr("f_code").attr("co_filename")) + ":" +
           Str(tb.attr("tb_lineno")) + ")";
  } catch (const py::error_already_set&) {
    return {};
  }
}

// Newlines become spaces; past kMaxErrorBytes the text is cut at a character boundary.
std::string OneLine(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  if (text.size() <= kMaxErrorBytes) return text;
  std::size_t cut = kMaxErrorBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return text.substr(0, cut) + "...";
}

// "TypeError: message (file.py:12)", on one line and bounded in size, for a Status message.
std::string Describe(const py::error_already_set& e) {
  const char* type = reinterpret_cast<PyTypeObject*>(e.type().ptr())->tp_name;
  return OneLine(std::string(type) + ": " + Str(e.value()) + Location(e.trace()));
}

std::mutex& PathsMutex() {
  static std::mutex mu;
  return mu;
}

// Directories given before the interpreter started, oldest first.
std::vector<std::string>& PendingPaths() {
  static std::vector<std::string> paths;
  return paths;
}

// REQUIRES: the GIL.
void PrependToSysPath(const std::string& dir) {
  try {
    py::module_::import("sys").attr("path").attr("insert")(0, dir);
  } catch (const py::error_already_set&) {
    // sys.path replaced by something that is not a list: the import in CreatePythonRule()
    // reports the missing module.
  }
}

// Starts the interpreter, unless a host program already did, and checks that numpy imports.
// The interpreter is told it runs as the build's python3 (Debian's /usr/bin/python3 unless the
// build chose another), so it finds that installation's standard library and site-packages
// whichever python3 comes first on PATH. The GIL is released afterwards and taken per call.
Status StartInterpreter() {
  if (!Py_IsInitialized()) {
    PyConfig config;
    PyConfig_InitIsolatedConfig(&config);
    config.isolated = 0;
    config.use_environment = 1;          // PYTHONPATH and the like still apply
    config.install_signal_handlers = 0;  // signals belong to the process
    const PyStatus named =
        PyConfig_SetBytesString(&config, &config.program_name, TRIBUTARY_PYTHON_EXECUTABLE);
    if (PyStatus_Exception(named)) {
      PyConfig_Clear(&config);
      return Status::Internal("configuring the embedded Python failed");
    }
    try {
      py::initialize_interpreter(&config, 0, nullptr, /*add_program_dir_to_path=*/false);
    } catch (const std::exception& e) {
      return Status::Internal(std::string("starting the embedded Python: ") + e.what());
    }
    PyEval_SaveThread();
  }
  py::gil_scoped_acquire gil;
  {
    std::lock_guard lock(PathsMutex());
    for (const auto& dir : PendingPaths()) PrependToSysPath(dir);
    PendingPaths().clear();
  }
  try {
    py::module_::import("numpy");
  } catch (const py::error_already_set& e) {
    return Status::FailedPrecondition("numpy does not import in the embedded Python: " +
                                      Describe(e));
  }
  return Status::Ok();
}

// StartInterpreter() once per process; its outcome thereafter. Never finalised: rule objects
// may outlive main(), and Python's teardown must not run under them.
const Status& Interpreter() {
  static const Status status = StartInterpreter();
  return status;
}

// Flushes what Python code printed: the interpreter is never finalised, so nothing else would
// flush sys.stdout and sys.stderr before the process exits.
void FlushOutput() {
  for (const char* name : {"stdout", "stderr"}) {
    PyObject* stream = PySys_GetObject(name);  // borrowed
    if (stream != nullptr && stream != Py_None) {
      Py_XDECREF(PyObject_CallMethod(stream, "flush", nullptr));
    }
    PyErr_Clear();
  }
}

// Imports the module of a well-formed `target` and returns its function.
Result<py::object> LookUp(std::string_view target) {
  const auto dot = target.rfind('.');
  const std::string module_name(target.substr(0, dot));
  const std::string function_name(target.substr(dot + 1));
  const std::string rule = "python rule " + std::string(target);
  try {
    // A module written since the last import (same directory) is found too.
    py::module_::import("importlib").attr("invalidate_caches")();
    py::module_ module = py::module_::import(module_name.c_str());
    if (!py::hasattr(module, function_name.c_str())) {
      return Status::NotFound(rule + ": module " + module_name + " has no attribute " +
                              function_name);
    }
    py::object function = module.attr(function_name.c_str());
    if (!PyCallable_Check(function.ptr())) {
      return Status::InvalidArgument(rule + ": " + std::string(target) + " (of type " +
                                     Py_TYPE(function.ptr())->tp_name + ") is not callable");
    }
    return function;
  } catch (const py::error_already_set& e) {
    const std::string text = rule + ": importing " + module_name + " raised " + Describe(e);
    return e.matches(PyExc_ModuleNotFoundError) ? Status::NotFound(text)
                                                : Status::InvalidArgument(text);
  }
}

std::size_t PageSize() {
  static const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return page;
}

// The memory behind one round's `updates` array: a read-only range of remapped pages, or a
// copy. Owned by the array's base capsule, so it lives as long as Python holds the array.
struct Rows {
  Rows() = default;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;
  ~Rows() {
    if (mapping != nullptr) munmap(mapping, mapping_bytes);
  }

  void* mapping = nullptr;  // zero copy: the range the spans were remapped into
  std::size_t mapping_bytes = 0;
  std::vector<float> copy;  // otherwise: the spans back to back
  const float* data = nullptr;
  std::size_t row_bytes = 0;  // distance between rows
};

// The spans remapped side by side, one every `stride` bytes, read-only; nullptr when one is not
// a page-aligned piece of a shared mapping (mremap refuses private and heap memory).
std::unique_ptr<Rows> RemapRows(const std::vector<std::span<const float>>& spans,
                                std::size_t stride) {
  const bool aligned = std::all_of(spans.begin(), spans.end(), [](std::span<const float> s) {
    return reinterpret_cast<std::uintptr_t>(s.data()) % PageSize() == 0;
  });
  if (!aligned) return nullptr;
  auto rows = std::make_unique<Rows>();
  const std::size_t bytes = spans.size() * stride;
  void* base = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  rows->mapping = base;  // from here on ~Rows unmaps whatever the range holds
  rows->mapping_bytes = bytes;
  for (std::size_t i = 0; i < spans.size(); ++i) {
    void* source = const_cast<float*>(spans[i].data());
    void* row = static_cast<std::byte*>(base) + i * stride;
    if (mremap(source, 0, stride, MREMAP_MAYMOVE | MREMAP_FIXED, row) == MAP_FAILED) {
      return nullptr;
    }
  }
  if (mprotect(base, bytes, PROT_READ) != 0) return nullptr;
  rows->data = static_cast<const float*>(base);
  rows->row_bytes = stride;
  return rows;
}

// The spans copied back to back.
std::unique_ptr<Rows> CopyRows(const std::vector<std::span<const float>>& spans, std::size_t dim) {
  auto rows = std::make_unique<Rows>();
  rows->copy.resize(spans.size() * dim);
  for (std::size_t i = 0; i < spans.size(); ++i) {
    std::copy(spans[i].begin(), spans[i].end(), rows->copy.begin() + i * dim);
  }
  rows->data = rows->copy.data();
  rows->row_bytes = dim * sizeof(float);
  return rows;
}

// An n×dim read-only float32 array over `rows`, which passes to the array's base capsule.
py::array UpdatesArray(std::unique_ptr<Rows> rows, std::size_t n, std::size_t dim) {
  const float* data = rows->data;
  const auto row_bytes = static_cast<py::ssize_t>(rows->row_bytes);
  py::capsule owner(rows.get(), [](void* p) { delete static_cast<Rows*>(p); });
  rows.release();
  py::array updates(py::dtype::of<float>(),
                    {static_cast<py::ssize_t>(n), static_cast<py::ssize_t>(dim)},
                    {row_bytes, static_cast<py::ssize_t>(sizeof(float))}, data, owner);
  updates.attr("setflags")(py::arg("write") = false);
  return updates;
}

class PythonRule final : public AggregationRule {
 public:
  // REQUIRES: the GIL; `function` is callable.
  PythonRule(std::string_view target, py::object function)
      : name_("python:" + std::string(target)),
        rule_("python rule " + std::string(target)),
        function_(std::move(function)) {}
  ~PythonRule() override {
    py::gil_scoped_acquire gil;
    function_ = py::object();
  }

  std::string_view Name() const override { return name_; }
  bool IsAssociative() const override { return false; }
  Status Begin(const RoundInfo& info) override;
  Status Add(std::span<const float> update, double weight) override;
  Status Finish(std::span<float> out) override;

 private:
  // Calls the function on the kept updates and writes its result into `out`. REQUIRES: the GIL.
  Status Call(std::span<float> out);
  // Checks that `result` is dim_ finite floats and writes them into `out` as float32.
  Status ToAggregate(const py::object& result, std::span<float> out) const;

  std::string name_;  // "python:module.func"
  std::string rule_;  // "python rule module.func", to start messages
  py::object function_;
  std::size_t dim_ = 0;
  bool begun_ = false;
  bool warned_copy_ = false;
  std::vector<std::span<const float>> updates_;  // valid until Finish() returns
  std::vector<double> weights_;
};

Status PythonRule::Begin(const RoundInfo& info) {
  if (info.dim == 0) return Status::InvalidArgument(rule_ + ": the model has no parameters");
  dim_ = info.dim;
  updates_.clear();
  weights_.clear();
  begun_ = true;
  return Status::Ok();
}

Status PythonRule::Add(std::span<const float> update, double weight) {
  if (!begun_) return Status::FailedPrecondition(rule_ + ": Add before Begin");
  if (update.size() != dim_) {
    return Status::InvalidArgument(rule_ + ": update has " + std::to_string(update.size()) +
                                   " values, expected " + std::to_string(dim_));
  }
  if (!std::isfinite(weight) || !(weight > 0)) {
    return Status::InvalidArgument(rule_ + ": weight must be positive and finite");
  }
  updates_.push_back(update);
  weights_.push_back(weight);
  return Status::Ok();
}

Status PythonRule::Finish(std::span<float> out) {
  if (updates_.empty()) return Status::FailedPrecondition(rule_ + ": no update to aggregate");
  if (out.size() != dim_) {
    return Status::InvalidArgument(rule_ + ": output has " + std::to_string(out.size()) +
                                   " values, expected " + std::to_string(dim_));
  }
  Status status;
  {
    py::gil_scoped_acquire gil;
    try {
      status = Call(out);
    } catch (const py::error_already_set& e) {
      status = Status::InvalidArgument(rule_ + " raised " + Describe(e));
    } catch (const std::exception& e) {
      status = Status::Internal(rule_ + ": " + e.what());
    }
    FlushOutput();
  }
  updates_.clear();
  weights_.clear();
  begun_ = false;
  return status;
}

Status PythonRule::Call(std::span<float> out) {
  const std::size_t stride = (dim_ * sizeof(float) + PageSize() - 1) / PageSize() * PageSize();
  std::unique_ptr<Rows> rows = RemapRows(updates_, stride);
  if (!rows) {
    if (!warned_copy_) {
      spdlog::warn("{}: updates are not in page-aligned shared memory; copying them", rule_);
      warned_copy_ = true;
    }
    rows = CopyRows(updates_, dim_);
  }
  py::array updates = UpdatesArray(std::move(rows), updates_.size(), dim_);
  py::array_t<double> weights(static_cast<py::ssize_t>(weights_.size()), weights_.data());
  return ToAggregate(function_(updates, weights), out);
}

Status PythonRule::ToAggregate(const py::object& result, std::span<float> out) const {
  const std::string expected = std::to_string(dim_);
  py::array values = py::array::ensure(result);
  if (!values || values.dtype().kind() != 'f') {
    return Status::InvalidArgument(rule_ + " returned " + Py_TYPE(result.ptr())->tp_name +
                                   (values ? " of dtype " + Str(values.dtype()) : std::string()) +
                                   "; expected " + expected + " float32 or float64 values");
  }
  if (values.ndim() != 1 || static_cast<std::size_t>(values.shape(0)) != dim_) {
    return Status::InvalidArgument(rule_ + " returned shape " + Str(values.attr("shape")) +
                                   " but the model has " + expected + " parameters");
  }
  auto floats = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(values);
  if (!floats) return Status::Internal(rule_ + ": converting the result to float32 failed");
  const float* data = floats.data();
  for (std::size_t i = 0; i < dim_; ++i) {
    if (!std::isfinite(data[i])) {
      return Status::InvalidArgument(rule_ + " returned a non-finite value at index " +
                                     std::to_string(i));
    }
  }
  std::copy(data, data + dim_, out.begin());
  return Status::Ok();
}

}  // namespace

void AddPythonPath(const std::string& dir) {
  {
    std::lock_guard lock(PathsMutex());
    if (!Py_IsInitialized()) {  // the interpreter starts with the first rule, not here
      PendingPaths().push_back(dir);
      return;
    }
  }
  if (!Interpreter().ok()) return;  // CreatePythonRule() reports why
  py::gil_scoped_acquire gil;
  PrependToSysPath(dir);
}

Result<std::unique_ptr<AggregationRule>> CreatePythonRule(std::string_view target) {
  TRIBUTARY_RETURN_IF_ERROR(CheckPythonTarget(target));
  TRIBUTARY_RETURN_IF_ERROR(Interpreter());
  py::gil_scoped_acquire gil;
  TRIBUTARY_ASSIGN_OR_RETURN(py::object function, LookUp(target));
  return std::unique_ptr<AggregationRule>(new PythonRule(target, std::move(function)));
}

#else  // !TRIBUTARY_HAVE_PYTHON

void AddPythonPath(const std::string&) {}

Result<std::unique_ptr<AggregationRule>> CreatePythonRule(std::string_view) {
  return Status::FailedPrecondition(kNoPython);
}

#endif  // TRIBUTARY_HAVE_PYTHON

}  // namespace tributary::aggregator
