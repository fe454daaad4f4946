// Uses the installed library: a 2x2 product through the GEMM seam and one tape backward.
#include <cstdio>

#include "recur/autograd/functions.h"
#include "recur/ops/gemm.h"

int main() {
  const float a[] = {1, 2, 3, 4}, b[] = {5, 6, 7, 8};
  float c[4] = {};
  recur::gemm(recur::Trans::kNo, recur::Trans::kNo, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
  recur::ag::Tape<double> tape;
  const auto x = tape.variable(recur::Tensor<double>(recur::Shape{2}, {3.0, -1.0}));
  tape.backward(recur::ag::sum(x * x));
  const bool ok =
      c[0] == 19 && c[1] == 22 && c[2] == 43 && c[3] == 50 && x.grad()[0] == 6.0 && x.grad()[1] == -2.0;
  std::printf("recur consumer (%s backend): %s\n", recur::blas_backend(), ok ? "ok" : "WRONG RESULT");
  return ok ? 0 : 1;
}
