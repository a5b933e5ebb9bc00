// WriteMetric: one unlabelled sample in the Prometheus text exposition format, preceded by its
// HELP and TYPE lines, as every /metrics page of a node writes them.
#pragma once

#include <ostream>
#include <string_view>

namespace tributary {

template <typename T>
void WriteMetric(std::ostream& o, std::string_view name, std::string_view type,
                 std::string_view help, const T& value) {
  o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
    << name << ' ' << value << '\n';
}

}  // namespace tributary
