#include "recur/init.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace recur::init {

namespace {
void require_matrix(const Shape& shape, const char* who) {
  RECUR_CHECK(shape.rank() == 2, std::string(who) + " needs a rank-2 tensor, got shape " + shape.str());
}
}  // namespace

template <class T>
void uniform(Tensor<T>& t, T lo, T hi, Rng& rng) {
  RECUR_CHECK(lo <= hi, "init::uniform: lo > hi");
  for (index_t i = 0; i < t.numel(); ++i) t[i] = rng.uniform<T>(lo, hi);
}

template <class T>
void normal(Tensor<T>& t, T mean, T stddev, Rng& rng) {
  RECUR_CHECK(stddev >= T(0), "init::normal: negative stddev");
  for (index_t i = 0; i < t.numel(); ++i) t[i] = rng.normal<T>(mean, stddev);
}

template <class T>
void xavier_uniform(Tensor<T>& t, Rng& rng, T gain) {
  require_matrix(t.shape(), "init::xavier_uniform");
  const T bound = gain * static_cast<T>(std::sqrt(6.0 / double(t.dim(0) + t.dim(1))));
  uniform(t, -bound, bound, rng);
}

template <class T>
void xavier_normal(Tensor<T>& t, Rng& rng, T gain) {
  require_matrix(t.shape(), "init::xavier_normal");
  normal(t, T(0), gain * static_cast<T>(std::sqrt(2.0 / double(t.dim(0) + t.dim(1)))), rng);
}

template <class T>
void orthogonal(Tensor<T>& t, Rng& rng, T gain) {
  require_matrix(t.shape(), "init::orthogonal");
  const index_t rows = t.dim(0), cols = t.dim(1);
  // Work on the tall orientation A: (m, k) with m >= k, orthonormalize its k columns.
  const bool transpose = rows < cols;
  const index_t m = transpose ? cols : rows, k = transpose ? rows : cols;
  std::vector<double> a(static_cast<size_t>(m * k));  // column-major: column j at a[j*m]
  for (double& v : a) v = rng.normal<double>();
  // Householder QR in double. Store the reflectors, then apply them to the first k unit columns.
  std::vector<double> diag_sign(static_cast<size_t>(k), 1.0);
  std::vector<std::vector<double>> reflectors;
  for (index_t j = 0; j < k; ++j) {
    double* col = &a[static_cast<size_t>(j * m)];
    double norm = 0;
    for (index_t i = j; i < m; ++i) norm += col[i] * col[i];
    norm = std::sqrt(norm);
    const double alpha = col[j] >= 0 ? -norm : norm;  // R[j,j] = alpha
    diag_sign[j] = alpha >= 0 ? 1.0 : -1.0;
    std::vector<double> v(static_cast<size_t>(m), 0.0);
    for (index_t i = j; i < m; ++i) v[i] = col[i];
    v[j] -= alpha;
    double vnorm2 = 0;
    for (index_t i = j; i < m; ++i) vnorm2 += v[i] * v[i];
    if (vnorm2 > 0) {
      for (index_t c = j; c < k; ++c) {  // A[:, c] -= 2 v (vᵀ A[:, c]) / (vᵀ v)
        double* ac = &a[static_cast<size_t>(c * m)];
        double dot = 0;
        for (index_t i = j; i < m; ++i) dot += v[i] * ac[i];
        const double s = 2 * dot / vnorm2;
        for (index_t i = j; i < m; ++i) ac[i] -= s * v[i];
      }
    }
    reflectors.push_back(std::move(v));
  }
  // Q = H_0 H_1 ... H_{k-1} applied to the first k columns of I; fold sign(R_jj) into column j.
  std::vector<double> q(static_cast<size_t>(m * k), 0.0);
  for (index_t j = 0; j < k; ++j) q[static_cast<size_t>(j * m + j)] = 1.0;
  for (index_t r = k - 1; r >= 0; --r) {
    const std::vector<double>& v = reflectors[static_cast<size_t>(r)];
    double vnorm2 = 0;
    for (index_t i = r; i < m; ++i) vnorm2 += v[i] * v[i];
    if (vnorm2 == 0) continue;
    for (index_t c = 0; c < k; ++c) {
      double* qc = &q[static_cast<size_t>(c * m)];
      double dot = 0;
      for (index_t i = r; i < m; ++i) dot += v[i] * qc[i];
      const double s = 2 * dot / vnorm2;
      for (index_t i = r; i < m; ++i) qc[i] -= s * v[i];
    }
  }
  for (index_t i = 0; i < m; ++i) {
    for (index_t j = 0; j < k; ++j) {
      const double value = gain * diag_sign[j] * q[static_cast<size_t>(j * m + i)];
      if (transpose) {
        t[j * cols + i] = static_cast<T>(value);  // t is (k, m): row j = column j of Q
      } else {
        t[i * cols + j] = static_cast<T>(value);
      }
    }
  }
}

template <class T>
void identity(Tensor<T>& t, T scale) {
  require_matrix(t.shape(), "init::identity");
  t.zero();
  for (index_t i = 0; i < std::min(t.dim(0), t.dim(1)); ++i) t[i * t.dim(1) + i] = scale;
}

#define RECUR_INSTANTIATE_INIT(T)                       \
  template void uniform<T>(Tensor<T>&, T, T, Rng&);     \
  template void normal<T>(Tensor<T>&, T, T, Rng&);      \
  template void xavier_uniform<T>(Tensor<T>&, Rng&, T); \
  template void xavier_normal<T>(Tensor<T>&, Rng&, T);  \
  template void orthogonal<T>(Tensor<T>&, Rng&, T);     \
  template void identity<T>(Tensor<T>&, T);
RECUR_INSTANTIATE_INIT(float)
RECUR_INSTANTIATE_INIT(double)

}  // namespace recur::init
