#include "cli/npy_file.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string_view>

namespace tributary::cli {
namespace {

static_assert(std::endian::native == std::endian::little, "the .npy code assumes little endian");

constexpr char kMagic[] = "\x93NUMPY";
constexpr std::size_t kMagicSize = 6;

// The parsed header of an .npy file.
struct NpyHeader {
  std::size_t item_size = 0;  // 4 (float32) or 8 (float64)
  std::vector<std::size_t> shape;
};

// A cursor over the header dictionary, a Python literal such as
// {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view text) : text_(text) {}

  void SkipSpace() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool Consume(char c) {
    SkipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  std::optional<std::string> String() {
    SkipSpace();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) return std::nullopt;
    const char quote = text_[pos_++];
    const std::size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) return std::nullopt;
    std::string s(text_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return s;
  }
  std::optional<bool> Bool() {
    SkipSpace();
    for (const auto& [word, value] : {std::pair{"True", true}, std::pair{"False", false}}) {
      const std::string_view w(word);
      if (text_.substr(pos_, w.size()) == w) {
        pos_ += w.size();
        return value;
      }
    }
    return std::nullopt;
  }
  // A tuple of non-negative integers: (), (5,), (3, 4), (3, 4,).
  std::optional<std::vector<std::size_t>> Shape() {
    if (!Consume('(')) return std::nullopt;
    std::vector<std::size_t> dims;
    while (!Consume(')')) {
      SkipSpace();
      if (pos_ >= text_.size() || !std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        return std::nullopt;
      }
      std::size_t v = 0;
      while (pos_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[pos_]))) {
        const std::size_t digit = static_cast<std::size_t>(text_[pos_++] - '0');
        if (v > (std::numeric_limits<std::size_t>::max() - digit) / 10) return std::nullopt;
        v = v * 10 + digit;
      }
      dims.push_back(v);
      if (!Consume(',')) {
        if (!Consume(')')) return std::nullopt;
        break;
      }
    }
    return dims;
  }
  bool AtEnd() {
    SkipSpace();
    return pos_ == text_.size();
  }

 private:
  std::string_view text_;
  std::size_t pos_ = 0;
};

Status Bad(const std::string& path, const std::string& why) {
  return Status::InvalidArgument(path + ": not a valid .npy file: " + why);
}

Result<NpyHeader> ParseHeader(const std::string& path, std::string_view text) {
  HeaderParser parser(text);
  if (!parser.Consume('{')) return Bad(path, "the header is not a dictionary");
  std::optional<std::string> descr;
  std::optional<bool> fortran_order;
  std::optional<std::vector<std::size_t>> shape;
  while (!parser.Consume('}')) {
    const std::optional<std::string> key = parser.String();
    if (!key || !parser.Consume(':')) return Bad(path, "malformed header dictionary");
    if (*key == "descr") {
      descr = parser.String();
      if (!descr) return Bad(path, "'descr' is not a string (structured dtypes are not supported)");
    } else if (*key == "fortran_order") {
      fortran_order = parser.Bool();
      if (!fortran_order) return Bad(path, "'fortran_order' is not True or False");
    } else if (*key == "shape") {
      shape = parser.Shape();
      if (!shape) return Bad(path, "'shape' is not a tuple of integers");
    } else {
      return Bad(path, "unexpected header key '" + *key + "'");
    }
    if (!parser.Consume(',')) {
      if (!parser.Consume('}')) return Bad(path, "malformed header dictionary");
      break;
    }
  }
  if (!parser.AtEnd()) return Bad(path, "trailing characters after the header dictionary");
  if (!descr || !fortran_order || !shape) {
    return Bad(path, "the header lacks 'descr', 'fortran_order' or 'shape'");
  }
  NpyHeader header;
  if (*descr == "<f4") {
    header.item_size = 4;
  } else if (*descr == "<f8") {
    header.item_size = 8;
  } else {
    return Status::InvalidArgument(path + ": dtype '" + *descr +
                                   "' is not supported; use little-endian float32 ('<f4') or "
                                   "float64 ('<f8')");
  }
  if (*fortran_order) {
    return Status::InvalidArgument(path + ": Fortran-order arrays are not supported; save a "
                                          "C-order array (numpy.ascontiguousarray)");
  }
  header.shape = *shape;
  return header;
}

// Reads bytes [0, size) of `in` into `dst`; false when the file ends first.
bool ReadBytes(std::ifstream& in, void* dst, std::size_t size) {
  in.read(static_cast<char*>(dst), static_cast<std::streamsize>(size));
  return static_cast<std::size_t>(in.gcount()) == size;
}

// Opens `path`, parses its header and checks that the data after it has exactly the size the
// shape and dtype need; leaves `in` positioned at the data.
Result<NpyHeader> OpenNpy(const std::string& path, std::ifstream& in) {
  in.open(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open the file");
  in.seekg(0, std::ios::end);
  const std::size_t file_size = static_cast<std::size_t>(in.tellg());
  in.seekg(0);
  unsigned char preamble[kMagicSize + 2];
  if (!ReadBytes(in, preamble, sizeof(preamble)) ||
      std::memcmp(preamble, kMagic, kMagicSize) != 0) {
    return Bad(path, "missing the \\x93NUMPY magic string");
  }
  const int major = preamble[kMagicSize];
  std::size_t length_bytes = 0;
  if (major == 1) {
    length_bytes = 2;
  } else if (major == 2 || major == 3) {
    length_bytes = 4;
  } else {
    return Bad(path, "unsupported format version " + std::to_string(major));
  }
  unsigned char length[4] = {0, 0, 0, 0};
  if (!ReadBytes(in, length, length_bytes)) return Bad(path, "truncated header");
  const std::size_t header_len = length[0] | (std::size_t{length[1]} << 8) |
                                 (std::size_t{length[2]} << 16) | (std::size_t{length[3]} << 24);
  const std::size_t data_offset = sizeof(preamble) + length_bytes + header_len;
  if (file_size < data_offset) return Bad(path, "truncated header");
  std::string text(header_len, '\0');
  if (!ReadBytes(in, text.data(), header_len)) return Bad(path, "truncated header");
  TRIBUTARY_ASSIGN_OR_RETURN(NpyHeader header, ParseHeader(path, text));
  std::size_t count = 1;
  for (std::size_t dim : header.shape) {
    if (dim != 0 && count > std::numeric_limits<std::size_t>::max() / header.item_size / dim) {
      return Bad(path, "the shape is too large");
    }
    count *= dim;
  }
  const std::size_t expected = count * header.item_size;
  const std::size_t actual = file_size - data_offset;
  if (actual < expected) {
    return Status::DataLoss(path + ": truncated: the shape needs " + std::to_string(expected) +
                            " bytes of data, the file has " + std::to_string(actual));
  }
  if (actual > expected) {
    return Bad(path, std::to_string(actual - expected) + " unexpected bytes after the data");
  }
  return header;
}

std::string ShapeString(const std::vector<std::size_t>& shape) {
  std::ostringstream s;
  s << '(';
  for (std::size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << (shape.size() == 1 ? ",)" : ")");
  return s.str();
}

}  // namespace

Result<NpyMatrix> ReadNpyMatrix(const std::string& path) {
  std::ifstream in;
  TRIBUTARY_ASSIGN_OR_RETURN(NpyHeader header, OpenNpy(path, in));
  if (header.shape.size() != 2 || header.shape[0] == 0 || header.shape[1] == 0) {
    return Status::InvalidArgument(path + ": expected a 2-D array of n updates × d values "
                                          "(n, d >= 1), got shape " +
                                   ShapeString(header.shape));
  }
  NpyMatrix matrix;
  matrix.rows = header.shape[0];
  matrix.cols = header.shape[1];
  matrix.values.resize(matrix.rows * matrix.cols);
  if (header.item_size == 4) {
    if (!ReadBytes(in, matrix.values.data(), 4 * matrix.values.size())) {
      return Status::DataLoss(path + ": read error");
    }
    return matrix;
  }
  std::vector<double> row(matrix.cols);
  for (std::size_t i = 0; i < matrix.rows; ++i) {
    if (!ReadBytes(in, row.data(), 8 * row.size())) return Status::DataLoss(path + ": read error");
    for (std::size_t j = 0; j < matrix.cols; ++j) {
      if (std::isfinite(row[j]) && std::abs(row[j]) > std::numeric_limits<float>::max()) {
        return Status::OutOfRange(path + ": value " + std::to_string(row[j]) + " at row " +
                                  std::to_string(i) + ", column " + std::to_string(j) +
                                  " is beyond the float32 range of updates");
      }
      matrix.values[i * matrix.cols + j] = static_cast<float>(row[j]);
    }
  }
  return matrix;
}

Result<std::vector<double>> ReadNpyVector(const std::string& path) {
  std::ifstream in;
  TRIBUTARY_ASSIGN_OR_RETURN(NpyHeader header, OpenNpy(path, in));
  if (header.shape.size() != 1 || header.shape[0] == 0) {
    return Status::InvalidArgument(path + ": expected a non-empty 1-D array, got shape " +
                                   ShapeString(header.shape));
  }
  std::vector<double> values(header.shape[0]);
  if (header.item_size == 8) {
    if (!ReadBytes(in, values.data(), 8 * values.size())) {
      return Status::DataLoss(path + ": read error");
    }
    return values;
  }
  std::vector<float> narrow(values.size());
  if (!ReadBytes(in, narrow.data(), 4 * narrow.size())) {
    return Status::DataLoss(path + ": read error");
  }
  std::copy(narrow.begin(), narrow.end(), values.begin());
  return values;
}

Status WriteNpyVector(const std::string& path, std::span<const double> values) {
  std::string header = "{'descr': '<f8', 'fortran_order': False, 'shape': (" +
                       std::to_string(values.size()) + ",), }";
  // Pad with spaces so that magic + version + length + header + '\n' is a multiple of 64.
  const std::size_t unpadded = kMagicSize + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::FromErrno("opening " + path + " for writing");
  const char preamble[] = {kMagic[0], kMagic[1], kMagic[2], kMagic[3], kMagic[4], kMagic[5],
                           1,         0,
                           static_cast<char>(header.size() & 0xff),
                           static_cast<char>(header.size() >> 8)};
  out.write(preamble, sizeof(preamble));
  out.write(header.data(), static_cast<std::streamsize>(header.size()));
  out.write(reinterpret_cast<const char*>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(double)));
  out.close();
  if (!out) return Status::FromErrno("writing " + path);
  return Status::Ok();
}

}  // namespace tributary::cli
