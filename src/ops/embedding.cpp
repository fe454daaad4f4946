#include "recur/ops/embedding.h"

#include <fmt/format.h>
#include <algorithm>

namespace recur::ops {

template <class T>
void embedding_forward(const T* table, const std::int32_t* ids, T* y, index_t N, index_t V, index_t E) {
  for (index_t n = 0; n < N; ++n) {
    RECUR_CHECK(
        ids[n] >= 0 && ids[n] < V,
        fmt::format("embedding: id {} at position {} is outside the vocabulary [0, {})", ids[n], n, V));
    std::copy_n(table + index_t(ids[n]) * E, E, y + n * E);
  }
}

template <class T>
void embedding_backward(const std::int32_t* ids, const T* dy, T* dtable, index_t N, index_t E) {
  if (!dtable) return;
  for (index_t n = 0; n < N; ++n) {
    T* row = dtable + index_t(ids[n]) * E;
    const T* g = dy + n * E;
    for (index_t e = 0; e < E; ++e) row[e] += g[e];
  }
}

template <class T>
SparseRowGrad<T> embedding_backward_sparse(const std::int32_t* ids, const T* dy, index_t N, index_t E) {
  SparseRowGrad<T> grad;
  grad.width = E;
  grad.rows.assign(ids, ids + N);
  std::sort(grad.rows.begin(), grad.rows.end());
  grad.rows.erase(std::unique(grad.rows.begin(), grad.rows.end()), grad.rows.end());
  grad.values.assign(grad.rows.size() * static_cast<size_t>(E), T(0));
  for (index_t n = 0; n < N; ++n) {
    const auto r = std::lower_bound(grad.rows.begin(), grad.rows.end(), ids[n]) - grad.rows.begin();
    T* row = grad.values.data() + r * E;
    for (index_t e = 0; e < E; ++e) row[e] += dy[n * E + e];
  }
  return grad;
}

#define RECUR_INSTANTIATE_EMBEDDING(T)                                                              \
  template void embedding_forward<T>(const T*, const std::int32_t*, T*, index_t, index_t, index_t); \
  template void embedding_backward<T>(const std::int32_t*, const T*, T*, index_t, index_t);         \
  template SparseRowGrad<T> embedding_backward_sparse<T>(const std::int32_t*, const T*, index_t, index_t);
RECUR_INSTANTIATE_EMBEDDING(float)
RECUR_INSTANTIATE_EMBEDDING(double)

}  // namespace recur::ops
