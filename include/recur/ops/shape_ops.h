// Concat / slice kernels. A tensor is seen as (outer, width) around the axis: for shape
// (d0, ..., d_axis, ..., d_last), outer = d0·…·d_{axis-1} and width = d_axis · d_{axis+1}·…·d_last.
// Split is slice applied k times; its backward is concat's.
#pragma once

#include <span>

#include "recur/common.h"

namespace recur::ops {

// y (outer, Σ widths) = [x_0 | x_1 | … ]     x_k: (outer, widths[k])
template <class T>
void concat_forward(std::span<const T* const> xs, std::span<const index_t> widths, index_t outer, T* y);
// dx_k += dy[:, offset_k : offset_k + widths[k]]   (null dx_k = not needed)
template <class T>
void concat_backward(const T* dy, std::span<T* const> dxs, std::span<const index_t> widths, index_t outer);

// y (outer, width) = x[:, offset : offset + width]     x: (outer, in_width)
template <class T>
void slice_forward(const T* x, index_t outer, index_t in_width, index_t offset, index_t width, T* y);
// dx[:, offset : offset + width] += dy
template <class T>
void slice_backward(const T* dy, index_t outer, index_t in_width, index_t offset, index_t width, T* dx);

}  // namespace recur::ops
