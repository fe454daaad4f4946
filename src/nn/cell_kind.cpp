#include "recur/nn/cell_kind.h"

#include <fmt/format.h>

#include <array>
#include <string>

#include "recur/common.h"

namespace recur::nn {

namespace {

constexpr std::array<std::pair<CellKind, std::string_view>, 6> kNames{{
    {CellKind::kRnnTanh, "rnn_tanh"},
    {CellKind::kRnnRelu, "rnn_relu"},
    {CellKind::kLstm, "lstm"},
    {CellKind::kGru, "gru"},
    {CellKind::kGruResetBefore, "gru_reset_before"},
    {CellKind::kJordan, "jordan"},
}};

}  // namespace

int gate_count(CellKind kind) {
  switch (kind) {
    case CellKind::kLstm:
      return 4;
    case CellKind::kGru:
    case CellKind::kGruResetBefore:
      return 3;
    default:
      return 1;
  }
}

bool has_cell_state(CellKind kind) {
  return kind == CellKind::kLstm;
}

bool has_output_projection(CellKind kind) {
  return kind == CellKind::kJordan;
}

std::string_view cell_name(CellKind kind) {
  for (const auto& [k, name] : kNames)
    if (k == kind) return name;
  throw Error("cell_name: unknown cell kind");
}

CellKind parse_cell_kind(std::string_view name) {
  std::string valid;
  for (const auto& [kind, known] : kNames) {
    if (known == name) return kind;
    valid += (valid.empty() ? "" : ", ") + std::string(known);
  }
  throw Error(fmt::format("unknown cell '{}' (valid: {})", name, valid));
}

}  // namespace recur::nn
