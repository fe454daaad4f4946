// Internal: the row loop and small helpers the cell step kernels share.
#pragma once

#include <algorithm>
#include <type_traits>

#include "../ops/kernel_support.h"
#include "recur/ops/gemm.h"
#include "recur/ops/vmath.h"
#include "scan_cells.h"

namespace recur::nn::detail {

// body(b) for each of B rows of `width` elements, split over threads for large B·width.
template <class Body>
void for_each_row(index_t B, index_t width, Body&& body) {
  ops::detail::for_row_blocks(B, width, [&](index_t begin, index_t end) {
    for (index_t b = begin; b < end; ++b) body(b);
  });
}

// body(std::true_type) when p is non-null, else body(std::false_type): a row loop that reads an
// optional input (dy) gets one branch-free, vectorizable version per case.
template <class T, class Body>
void with_optional(const T* p, Body&& body) {
  if (p)
    body(std::true_type{});
  else
    body(std::false_type{});
}

template <class T>
void copy_row(const T* src, T* dst, index_t n) {
  std::copy(src, src + n, dst);
}

template <class T>
void zero_row(T* dst, index_t n) {
  std::fill(dst, dst + n, T(0));
}

}  // namespace recur::nn::detail
