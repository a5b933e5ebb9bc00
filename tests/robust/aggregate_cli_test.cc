// `tributary aggregate`, run as the built binary on .npy files the test writes, and the .npy
// reader/writer behind it: results, parameter checking, and the errors for damaged files.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sys/wait.h>
#include <unistd.h>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "cli/npy_file.h"

namespace tributary::cli {
namespace {

namespace fs = std::filesystem;

// An .npy file with a hand-written header dictionary and raw payload bytes.
std::string Npy(const std::string& dict, const std::string& payload, int major = 1) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  for (std::size_t b = 0; b < prefix - 8; ++b) out.push_back(static_cast<char>(header.size() >> (8 * b)));
  return out + header + payload;
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

std::string Dict(const std::string& descr, const std::string& shape, bool fortran = false) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

class RobustAggregateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("robust_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Runs `tributary aggregate <args>`; returns the exit status, stderr in `err`.
  int Run(const std::string& args, std::string* err = nullptr) {
    const std::string err_path = Path("stderr.txt");
    const std::string cmd =
        std::string(TRIBUTARY_BINARY) + " aggregate " + args + " 2>" + err_path + " >/dev/null";
    const int status = std::system(cmd.c_str());
    std::ifstream in(err_path);
    std::stringstream s;
    s << in.rdbuf();
    if (err) *err = s.str();
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string Byzfl32() {
    return Write("byzfl.npy", Npy(Dict("<f4", "(3, 3)"), Bytes(std::vector<float>{
                                                              1, 2, 3, 4, 5, 6, 7, 8, 9})));
  }

  fs::path dir_;
};

TEST_F(RobustAggregateCli, RulesOnTheByzflRows) {
  const std::string in = Byzfl32();
  const std::string out = Path("out.npy");
  struct Case {
    std::string args;
    std::vector<double> want;
  };
  const Case cases[] = {
      {"--rule fedavg", {4, 5, 6}},
      {"--rule median", {4, 5, 6}},
      {"--rule trimmed-mean --f 1", {4, 5, 6}},
      {"--rule geomed --iters 3", {3.78788764, 4.78788764, 5.78788764}},
  };
  for (const Case& c : cases) {
    ASSERT_EQ(Run(c.args + " --input " + in + " --output " + out), 0) << c.args;
    auto result = ReadNpyVector(out);
    ASSERT_TRUE(result.has_value()) << result.error();
    ASSERT_EQ(result->size(), 3u);
    for (int k = 0; k < 3; ++k) EXPECT_NEAR((*result)[k], c.want[k], 1e-8) << c.args;
  }
}

TEST_F(RobustAggregateCli, KrumOnFloat64InputAndFedAvgWeights) {
  const std::string in = Write(
      "krum.npy", Npy(Dict("<f8", "(5, 2)"), Bytes(std::vector<double>{0, 0, 1, 0, 0, 1, 1, 1,
                                                                       100, 100}), 2));
  const std::string out = Path("out.npy");
  ASSERT_EQ(Run("--rule krum --f 1 --input " + in + " --output " + out), 0);
  EXPECT_EQ(*ReadNpyVector(out), (std::vector<double>{0, 0}));
  ASSERT_EQ(Run("--rule multikrum --f 1 --input " + in + " --output " + out), 0);
  EXPECT_EQ(*ReadNpyVector(out), (std::vector<double>{0.5, 0.5}));
  const std::string w = Write("w.npy", Npy(Dict("<f4", "(5,)"),
                                           Bytes(std::vector<float>{1, 1, 1, 1, 0.5})));
  ASSERT_EQ(Run("--rule fedavg --weights " + w + " --input " + in + " --output " + out), 0);
  EXPECT_EQ(*ReadNpyVector(out), (std::vector<double>{52.0 / 4.5, 52.0 / 4.5}));
}

TEST_F(RobustAggregateCli, ParameterErrors) {
  const std::string in = Byzfl32();
  const std::string out = Path("out.npy");
  const std::string io = " --input " + in + " --output " + out;
  struct Case {
    std::string args;
    std::string message;
  };
  const Case cases[] = {
      {"--rule median --f 1", "rule 'median' does not use parameter 'f'"},
      {"--rule krum --lambda 2", "rule 'krum' does not use parameter 'lambda'"},
      {"--rule flag --f 1", "rule 'flag' does not use parameter 'f'"},
      {"--rule krum --f 1", "n >= 2f+3"},
      {"--rule flag --m 3", "m < n"},
      {"--rule nope", "unknown rule 'nope'"},
      {"--rule krum --weights " + in, "--weights is used only by --rule fedavg"},
      {"--rule fedavg --weights " + in, "expected a non-empty 1-D array"},
  };
  for (const Case& c : cases) {
    std::string err;
    EXPECT_EQ(Run(c.args + io, &err), 1) << c.args;
    EXPECT_NE(err.find(c.message), std::string::npos) << c.args << ": " << err;
  }
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(RobustAggregateCli, BadFiles) {
  const std::string out = Path("out.npy");
  const std::string nine = Bytes(std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8, 9});
  struct Case {
    std::string name;
    std::string bytes;
    std::string message;
  };
  const Case cases[] = {
      {"magic", "not a numpy file at all", "missing the \\x93NUMPY magic string"},
      {"dtype", Npy(Dict("<i4", "(3, 3)"), nine), "dtype '<i4' is not supported"},
      {"big_endian", Npy(Dict(">f4", "(3, 3)"), nine), "dtype '>f4' is not supported"},
      {"one_d", Npy(Dict("<f4", "(9,)"), nine), "expected a 2-D array"},
      {"three_d", Npy(Dict("<f4", "(1, 3, 3)"), nine), "expected a 2-D array"},
      {"empty", Npy(Dict("<f4", "(0, 3)"), ""), "expected a 2-D array"},
      {"fortran", Npy(Dict("<f4", "(3, 3)", true), nine), "Fortran-order"},
      {"truncated", Npy(Dict("<f4", "(3, 3)"), nine.substr(0, 30)),
       "truncated: the shape needs 36 bytes of data, the file has 30"},
      {"trailing", Npy(Dict("<f4", "(3, 3)"), nine + "xx"), "unexpected bytes after the data"},
      {"bad_shape", Npy(Dict("<f4", "(3, x)"), nine), "'shape' is not a tuple"},
      {"no_descr", Npy("{'fortran_order': False, 'shape': (3, 3), }", nine), "lacks 'descr'"},
      {"header_cut", Npy(Dict("<f4", "(3, 3)"), nine).substr(0, 40), "truncated header"},
      {"version", Npy(Dict("<f4", "(3, 3)"), nine, 9), "unsupported format version 9"},
      {"too_big_for_float",
       Npy(Dict("<f8", "(1, 2)"), Bytes(std::vector<double>{1.0, 1e300})), "float32 range"},
  };
  for (const Case& c : cases) {
    const std::string in = Write(c.name + ".npy", c.bytes);
    std::string err;
    EXPECT_EQ(Run("--rule median --input " + in + " --output " + out, &err), 1) << c.name;
    EXPECT_NE(err.find(c.message), std::string::npos) << c.name << ": " << err;
  }
  std::string err;
  EXPECT_EQ(Run("--rule median --input " + Path("missing.npy") + " --output " + out, &err), 1);
  EXPECT_NE(err.find("cannot open"), std::string::npos) << err;
}

TEST_F(RobustAggregateCli, NonFiniteInputs) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::string in = Write(
      "nan.npy", Npy(Dict("<f4", "(5, 2)"), Bytes(std::vector<float>{nan, nan, 1, 0, 0, 1, 1, 1,
                                                                     2, 2})));
  const std::string out = Path("out.npy");
  std::string err;
  EXPECT_EQ(Run("--rule flag --input " + in + " --output " + out, &err), 1);
  EXPECT_NE(err.find("flag: update 0 has non-finite values"), std::string::npos) << err;
  EXPECT_EQ(Run("--rule median --input " + in + " --output " + out, &err), 0) << err;
  EXPECT_EQ(*ReadNpyVector(out), (std::vector<double>{1, 1}));
  EXPECT_EQ(Run("--rule krum --f 1 --input " + in + " --output " + out, &err), 0) << err;
}

// Interoperability with numpy itself, when /usr/bin/python3 has it.
TEST_F(RobustAggregateCli, NumpyWritesTheInputAndReadsTheOutput) {
  if (std::system("/usr/bin/python3 -c 'import numpy' 2>/dev/null") != 0) {
    GTEST_SKIP() << "/usr/bin/python3 with numpy is not available";
  }
  const std::string in = Path("np_in.npy");
  const std::string out = Path("np_out.npy");
  const std::string make = "/usr/bin/python3 -c \"import numpy as np; np.save('" + in +
                           "', np.arange(40, dtype=np.float64).reshape(8, 5) ** 1.5)\"";
  ASSERT_EQ(std::system(make.c_str()), 0);
  ASSERT_EQ(Run("--rule trimmed-mean --f 2 --input " + in + " --output " + out), 0);
  const std::string check =
      "/usr/bin/python3 -c \"import numpy as np; x = np.load('" + in + "').astype(np.float32)" +
      ".astype(np.float64); r = np.load('" + out + "'); assert r.dtype == np.float64 and " +
      "r.shape == (5,), r; w = np.sort(x, axis=0)[2:-2].mean(axis=0); " +
      "assert np.allclose(r, w, rtol=1e-12), (r, w)\"";
  EXPECT_EQ(std::system(check.c_str()), 0);
}

TEST(RobustNpyFile, WriteThenReadRoundTrip) {
  const std::string path =
      (fs::temp_directory_path() / ("robust_npy_" + std::to_string(::getpid()) + ".npy")).string();
  const std::vector<double> values = {1.5, -2.25, 1e-300, 3e300};
  ASSERT_TRUE(WriteNpyVector(path, values).ok());
  EXPECT_EQ(fs::file_size(path) % 16, 0u);
  EXPECT_EQ((fs::file_size(path) - values.size() * 8) % 64, 0u);
  auto back = ReadNpyVector(path);
  ASSERT_TRUE(back.has_value()) << back.error();
  EXPECT_EQ(*back, values);
  EXPECT_FALSE(ReadNpyMatrix(path).has_value());  // 1-D is not a matrix
  fs::remove(path);
}

}  // namespace
}  // namespace tributary::cli
