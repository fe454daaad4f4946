// Embedding lookup: rows of a table gathered by integer ids.
#pragma once

#include <cstdint>
#include <vector>

#include "recur/common.h"

namespace recur::ops {

// y (N, E) = table[ids[n], :]          table: (V, E); ids: (N), each in [0, V) (else recur::Error)
template <class T>
void embedding_forward(const T* table, const std::int32_t* ids, T* y, index_t N, index_t V, index_t E);

// Dense gradient: dtable[ids[n], :] += dy[n, :]          dy: (N, E); dtable: (V, E)
template <class T>
void embedding_backward(const std::int32_t* ids, const T* dy, T* dtable, index_t N, index_t E);

// Sparse gradient: only the R distinct rows touched, so a large-vocabulary optimizer step can
// update R rows instead of V.   rows: (R) ascending; values: (R, E), values[r] = Σ_{n: ids[n] = rows[r]}
// dy[n]
template <class T>
struct SparseRowGrad {
  std::vector<std::int32_t> rows;
  std::vector<T> values;
  index_t width = 0;
};
template <class T>
SparseRowGrad<T> embedding_backward_sparse(const std::int32_t* ids, const T* dy, index_t N, index_t E);

}  // namespace recur::ops
