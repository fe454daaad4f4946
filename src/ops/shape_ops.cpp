#include "recur/ops/shape_ops.h"

#include <algorithm>
#include <numeric>

namespace recur::ops {

template <class T>
void concat_forward(std::span<const T* const> xs, std::span<const index_t> widths, index_t outer, T* y) {
  RECUR_CHECK(xs.size() == widths.size(), "concat: one width per input needed");
  const index_t total = std::accumulate(widths.begin(), widths.end(), index_t(0));
  for (index_t r = 0; r < outer; ++r) {
    T* out = y + r * total;
    for (size_t k = 0; k < xs.size(); ++k) out = std::copy_n(xs[k] + r * widths[k], widths[k], out);
  }
}

template <class T>
void concat_backward(const T* dy, std::span<T* const> dxs, std::span<const index_t> widths, index_t outer) {
  RECUR_CHECK(dxs.size() == widths.size(), "concat backward: one width per input needed");
  const index_t total = std::accumulate(widths.begin(), widths.end(), index_t(0));
  index_t offset = 0;
  for (size_t k = 0; k < dxs.size(); ++k) {
    if (T* dx = dxs[k]) {
      for (index_t r = 0; r < outer; ++r) {
        const T* src = dy + r * total + offset;
        for (index_t c = 0; c < widths[k]; ++c) dx[r * widths[k] + c] += src[c];
      }
    }
    offset += widths[k];
  }
}

template <class T>
void slice_forward(const T* x, index_t outer, index_t in_width, index_t offset, index_t width, T* y) {
  RECUR_CHECK(offset >= 0 && width >= 0 && offset <= in_width && width <= in_width - offset,
              "slice out of range");
  for (index_t r = 0; r < outer; ++r) std::copy_n(x + r * in_width + offset, width, y + r * width);
}

template <class T>
void slice_backward(const T* dy, index_t outer, index_t in_width, index_t offset, index_t width, T* dx) {
  if (!dx) return;
  for (index_t r = 0; r < outer; ++r) {
    const T* src = dy + r * width;
    T* dst = dx + r * in_width + offset;
    for (index_t c = 0; c < width; ++c) dst[c] += src[c];
  }
}

#define RECUR_INSTANTIATE_SHAPE_OPS(T)                                                                \
  template void concat_forward<T>(std::span<const T* const>, std::span<const index_t>, index_t, T*);  \
  template void concat_backward<T>(const T*, std::span<T* const>, std::span<const index_t>, index_t); \
  template void slice_forward<T>(const T*, index_t, index_t, index_t, index_t, T*);                   \
  template void slice_backward<T>(const T*, index_t, index_t, index_t, index_t, T*);
RECUR_INSTANTIATE_SHAPE_OPS(float)
RECUR_INSTANTIATE_SHAPE_OPS(double)

}  // namespace recur::ops
