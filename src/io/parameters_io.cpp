#include "recur/io/parameters_io.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <set>

namespace recur::io {

namespace {
// Names shown per kind of mismatch: a hostile config can imply thousands of tensors.
constexpr size_t kShown = 5;
}  // namespace

template <class T>
void store_parameters(Safetensors& file, const nn::ParameterTable<T>& params) {
  for (int id = 0; id < params.size(); ++id) file.add(params.entry(id).name, params.value(id).clone());
}

void check_parameter_shapes(const Safetensors& file, const ParameterShapes& expected,
                            const std::vector<std::string>& ignored_prefixes,
                            const std::vector<std::string>& aliases) {
  std::vector<std::string> missing, misshapen, unexpected;
  std::set<std::string> known(aliases.begin(), aliases.end());
  for (const auto& [name, shape] : expected) {
    known.insert(name);
    if (!file.contains(name)) {
      missing.push_back(name);
      continue;
    }
    const Shape in_file(file.entry(name).shape);
    if (in_file != shape)
      misshapen.push_back(
          fmt::format("{} is {} in the file, the model needs {}", name, in_file.str(), shape.str()));
  }
  for (const std::string& name : file.names()) {
    const bool ignored = std::any_of(ignored_prefixes.begin(), ignored_prefixes.end(),
                                     [&](const std::string& p) { return name.rfind(p, 0) == 0; });
    if (!ignored && known.count(name) == 0) unexpected.push_back(name);
  }
  const auto list = [](const std::vector<std::string>& v) {
    const std::vector<std::string> first(v.begin(),
                                         v.begin() + static_cast<std::ptrdiff_t>(std::min(v.size(), kShown)));
    return fmt::format("{}{}", fmt::join(first, ", "),
                       v.size() > kShown ? fmt::format(", … ({} in all)", v.size()) : "");
  };
  RECUR_REQUIRE(missing.empty(), fmt::format("{}: missing tensor{} {}", file.source(),
                                             missing.size() == 1 ? "" : "s", list(missing)));
  RECUR_REQUIRE(misshapen.empty(), fmt::format("{}: {}", file.source(), list(misshapen)));
  RECUR_REQUIRE(unexpected.empty(),
                fmt::format("{}: unexpected tensor{} {} (not part of this model)", file.source(),
                            unexpected.size() == 1 ? "" : "s", list(unexpected)));
}

template <class T>
void load_parameters(const Safetensors& file, nn::ParameterTable<T>& params,
                     const std::vector<std::string>& ignored_prefixes,
                     const std::vector<std::string>& aliases) {
  check_parameter_shapes(file, params.shapes(), ignored_prefixes, aliases);
  for (int id = 0; id < params.size(); ++id) {
    const Tensor<T> value = file.get<T>(params.entry(id).name);
    Tensor<T> dst = params.value(id);
    std::copy(value.data(), value.data() + value.numel(), dst.data());
  }
}

template <class T>
void require_finite(const Tensor<T>& tensor, std::string_view source, std::string_view name) {
  index_t bad = 0;
  for (index_t i = 0; i < tensor.numel(); ++i) bad += !std::isfinite(tensor[i]);
  RECUR_REQUIRE(bad == 0,
                fmt::format("{}: tensor {} holds {} non-finite value{} (NaN or Inf) of {}: the model "
                            "diverged or the file is damaged",
                            source, name, bad, bad == 1 ? "" : "s", tensor.numel()));
}

template <class T>
void require_finite(const nn::ParameterTable<T>& params, std::string_view source) {
  for (int id = 0; id < params.size(); ++id) require_finite(params.value(id), source, params.entry(id).name);
}

template void require_finite<float>(const Tensor<float>&, std::string_view, std::string_view);
template void require_finite<double>(const Tensor<double>&, std::string_view, std::string_view);
template void require_finite<float>(const nn::ParameterTable<float>&, std::string_view);
template void require_finite<double>(const nn::ParameterTable<double>&, std::string_view);
template void store_parameters<float>(Safetensors&, const nn::ParameterTable<float>&);
template void store_parameters<double>(Safetensors&, const nn::ParameterTable<double>&);
template void load_parameters<float>(const Safetensors&, nn::ParameterTable<float>&,
                                     const std::vector<std::string>&, const std::vector<std::string>&);
template void load_parameters<double>(const Safetensors&, nn::ParameterTable<double>&,
                                      const std::vector<std::string>&, const std::vector<std::string>&);

}  // namespace recur::io
