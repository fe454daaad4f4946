// The time loop of the fused layer (scan.h): input projection, the steps of scan_cells.h in the
// direction's order, and the chunk-level weight-gradient GEMMs after the backward walk.
#include "recur/nn/scan.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <utility>
#include <vector>

#include "recur/ops/elementwise.h"
#include "recur/ops/gemm.h"
#include "scan_cells.h"

namespace recur::nn {

using detail::StepBackward;
using detail::StepForward;

int saved_width(CellKind kind) {
  switch (kind) {
    case CellKind::kLstm:
      return 5;
    case CellKind::kGru:
    case CellKind::kGruResetBefore:
      return 4;
    case CellKind::kJordan:
      return 1;
    default:
      return 0;
  }
}

template <class T>
ScanTrace<T>::ScanTrace(CellKind kind, const ScanDims& d)
    : saved(Tensor<T>::uninitialized(Shape{d.T, d.B, saved_width(kind) * d.H})),
      states(Tensor<T>::uninitialized(Shape{d.T + 1, d.B, d.H})),
      cells(has_cell_state(kind) ? Tensor<T>::uninitialized(Shape{d.T + 1, d.B, d.H}) : Tensor<T>()) {}

template <class T>
index_t ScanTrace<T>::bytes() const {
  return (saved.numel() + states.numel() + cells.numel()) * static_cast<index_t>(sizeof(T));
}

namespace {

// The k-th step processed, and the state slots around step t (ScanTrace::states).
index_t step_at(Direction d, index_t T, index_t k) {
  return d == Direction::kForward ? k : T - 1 - k;
}
index_t slot_before(Direction d, index_t t) {
  return d == Direction::kForward ? t : t + 1;
}
index_t slot_after(Direction d, index_t t) {
  return d == Direction::kForward ? t + 1 : t;
}

template <class T>
void check_arguments(CellKind kind, const ScanDims& d, const ScanWeights<T>& w, const index_t* lengths) {
  RECUR_CHECK(d.T >= 0 && d.B >= 0 && d.I >= 0 && d.H >= 1,
              fmt::format("{} layer: bad dims T={} B={} I={} H={}", cell_name(kind), d.T, d.B, d.I, d.H));
  RECUR_CHECK(w.W_ih && w.W_hh && w.b_ih && w.b_hh,
              fmt::format("{} layer: missing weights", cell_name(kind)));
  RECUR_CHECK(!has_output_projection(kind) || (w.W_hy && w.b_hy),
              fmt::format("{} layer: missing weight_hy / bias_hy", cell_name(kind)));
  if (lengths)
    for (index_t b = 0; b < d.B; ++b)
      RECUR_CHECK(lengths[b] >= 0 && lengths[b] <= d.T,
                  fmt::format("{} layer: lengths[{}] = {} is outside [0, T = {}]", cell_name(kind), b,
                              lengths[b], d.T));
}

template <class T>
void step_forward(CellKind kind, const StepForward<T>& s) {
  switch (kind) {
    case CellKind::kRnnTanh:
      return detail::rnn_step_forward(s, false);
    case CellKind::kRnnRelu:
      return detail::rnn_step_forward(s, true);
    case CellKind::kLstm:
      return detail::lstm_step_forward(s);
    case CellKind::kGru:
      return detail::gru_step_forward(s);
    case CellKind::kGruResetBefore:
      return detail::gru_reset_before_step_forward(s);
    case CellKind::kJordan:
      return detail::jordan_step_forward(s);
  }
}

template <class T>
void step_backward(CellKind kind, const StepBackward<T>& s) {
  switch (kind) {
    case CellKind::kRnnTanh:
      return detail::rnn_step_backward(s, false);
    case CellKind::kRnnRelu:
      return detail::rnn_step_backward(s, true);
    case CellKind::kLstm:
      return detail::lstm_step_backward(s);
    case CellKind::kGru:
      return detail::gru_step_backward(s);
    case CellKind::kGruResetBefore:
      return detail::gru_reset_before_step_backward(s);
    case CellKind::kJordan:
      return detail::jordan_step_backward(s);
  }
}

// pre (M, G·H) = x (M, I) · W_ihᵀ
template <class T>
void project_inputs(index_t M, index_t I, index_t GH, const T* x, const T* W_ih, T* pre) {
  gemm(Trans::kNo, Trans::kYes, M, GH, I, T(1), x, I, W_ih, I, T(0), pre, GH);
}

// Rows of inference's input-projection buffer: whole steps, about this many rows per block.
constexpr index_t kInferenceProjectionRows = 1024;

template <class T>
void copy_or_zero(const T* src, T* dst, index_t n) {
  if (src)
    std::copy(src, src + n, dst);
  else
    std::fill(dst, dst + n, T(0));
}

}  // namespace

namespace {

// The step matrices packed as op = Wᵀ (forward: x · Wᵀ) or op = W (backward: dG · W), for every
// group of rows of W a step multiplies by separately.
template <class T>
PackedScanWeights<T> pack_steps(CellKind kind, const ScanDims& d, const ScanWeights<T>& w, Trans op) {
  const index_t H = d.H, GH = gate_count(kind) * H;
  // rows (rows, H) of a weight in nn.Linear layout, starting at W
  const auto pack = [&](const T* W, index_t rows) {
    return op == Trans::kYes ? PackedMatrix<T>(Trans::kYes, H, rows, W, H)
                             : PackedMatrix<T>(Trans::kNo, rows, H, W, H);
  };
  PackedScanWeights<T> p;
  if (kind == CellKind::kGruResetBefore) {
    p.recurrent = pack(w.W_hh, 2 * H);            // rows [r z]
    p.recurrent_n = pack(w.W_hh + 2 * H * H, H);  // rows n
  } else {
    p.recurrent = pack(w.W_hh, GH);
  }
  if (has_output_projection(kind)) p.output = pack(w.W_hy, H);
  return p;
}

}  // namespace

template <class T>
PackedScanWeights<T> pack_forward(CellKind kind, const ScanDims& d, const ScanWeights<T>& w,
                                  bool with_input) {
  PackedScanWeights<T> p = pack_steps(kind, d, w, Trans::kYes);
  if (with_input) p.input = PackedMatrix<T>(Trans::kYes, d.I, gate_count(kind) * d.H, w.W_ih, d.I);
  return p;
}

template <class T>
PackedScanWeights<T> pack_backward(CellKind kind, const ScanDims& d, const ScanWeights<T>& w) {
  return pack_steps(kind, d, w, Trans::kNo);
}

// Rows [0, n) hold every real row of step t: with lengths sorted longest first, the rows whose
// sequence is longer than t; all B otherwise (unsorted lengths, or none).
class RealRows {
 public:
  RealRows(const index_t* lengths, index_t B) : lengths_(lengths), B_(B) {
    sorted_ = lengths != nullptr && std::is_sorted(lengths, lengths + B, std::greater<index_t>());
  }
  bool sorted() const { return sorted_; }
  index_t at(index_t t) const {
    if (!sorted_) return B_;
    return std::partition_point(lengths_, lengths_ + B_, [t](index_t length) { return length > t; }) -
           lengths_;
  }

 private:
  const index_t* lengths_;
  index_t B_;
  bool sorted_ = false;
};

template <class T>
void scan_forward(CellKind kind, const ScanDims& d, Direction dir, const ScanWeights<T>& w, const T* x,
                  const index_t* lengths, const T* h0, const T* c0, T* y, T* h_n, T* c_n, ScanTrace<T>* trace,
                  index_t y_stride) {
  check_arguments(kind, d, w, lengths);
  const index_t ldy = y_stride == 0 || !y ? d.H : y_stride;
  RECUR_CHECK(ldy >= d.H && (!trace || ldy == d.H),
              fmt::format("{} layer: output row stride {} for H = {}{}", cell_name(kind), ldy, d.H,
                          trace ? " (training writes whole rows)" : ""));
  RECUR_CHECK(!w.x_is_projection || !trace,
              fmt::format("{} layer: a projected input is for inference only", cell_name(kind)));
  const index_t T_ = d.T, B = d.B, H = d.H, BH = B * H, GH = gate_count(kind) * H, SH = saved_width(kind) * H;
  const bool cell = has_cell_state(kind);

  std::vector<T> bias(static_cast<size_t>(GH));
  detail::folded_bias(kind, w, H, bias.data());
  Tensor<T> scratch = Tensor<T>::uninitialized(Shape{B, GH});
  PackedScanWeights<T> own_packed;
  if (!w.packed || trace) own_packed = pack_forward(kind, d, w, /*with_input=*/!trace);
  const PackedScanWeights<T>& packed = w.packed && !trace ? *w.packed : own_packed;
  const RealRows real_rows(lengths, B);
  StepForward<T> s;
  s.B = B;
  s.rows = B;
  s.kernel_rows = B;
  s.H = H;
  s.ldy = ldy;
  // Without y (final states only), every step writes its output row to one scratch step.
  Tensor<T> y_step = y ? Tensor<T>() : Tensor<T>::uninitialized(Shape{B, H});
  s.w = &w;
  s.packed = &packed;
  s.lengths = lengths;
  s.bias = bias.data();
  s.scratch = scratch.data();

  if (trace) {
    // Training: all T·B input rows in one GEMM; states and activations go to the trace.
    RECUR_CHECK(trace->states.numel() == (T_ + 1) * BH && trace->saved.numel() == T_ * B * SH,
                fmt::format("{} layer: trace sized for another (T, B, H) than ({}, {}, {})", cell_name(kind),
                            T_, B, H));
    Tensor<T> pre = Tensor<T>::uninitialized(Shape{T_, B, GH});
    project_inputs(T_ * B, d.I, GH, x, w.W_ih, pre.data());
    T* states = trace->states.data();
    T* cells = cell ? trace->cells.data() : nullptr;
    const index_t first = slot_before(dir, step_at(dir, T_, 0));
    copy_or_zero(h0, states + first * BH, BH);
    if (cell) copy_or_zero(c0, cells + first * BH, BH);
    for (index_t k = 0; k < T_; ++k) {
      const index_t t = step_at(dir, T_, k), before = slot_before(dir, t), after = slot_after(dir, t);
      s.t = t;
      s.rows = real_rows.at(t);
      s.pre = pre.data() + t * B * GH;
      s.h_prev = states + before * BH;
      s.h_next = states + after * BH;
      s.c_prev = cell ? cells + before * BH : nullptr;
      s.c_next = cell ? cells + after * BH : nullptr;
      s.y = y ? y + t * BH : y_step.data();
      s.saved = trace->saved.data() + t * B * SH;
      step_forward(kind, s);
    }
    const index_t last = dir == Direction::kForward ? T_ : 0;
    if (h_n) std::copy(states + last * BH, states + (last + 1) * BH, h_n);
    if (c_n && cell) std::copy(cells + last * BH, cells + (last + 1) * BH, c_n);
    return;
  }

  // Inference: the input projection against packed W_ih over blocks of steps (the same bits as
  // step by step), states in two alternating buffers.
  RECUR_CHECK(
      (w.x_is_projection || (packed.input.k() == d.I && packed.input.n() == GH)) && packed.recurrent.k() == H,
      fmt::format("{} layer: packed weights do not match I={} H={}", cell_name(kind), d.I, H));
  const index_t block_steps =
      std::max<index_t>(1, std::min<index_t>(kInferenceProjectionRows / std::max<index_t>(B, 1), T_));
  Tensor<T> pre = Tensor<T>::uninitialized(Shape{block_steps, B, GH});
  Tensor<T> saved = Tensor<T>::uninitialized(Shape{B, std::max<index_t>(SH, 1)});
  Tensor<T> h = Tensor<T>::uninitialized(Shape{2, B, H}), c;
  copy_or_zero(h0, h.data(), BH);
  if (cell) {
    c = Tensor<T>::uninitialized(Shape{2, B, H});
    copy_or_zero(c0, c.data(), BH);
  }
  s.saved = saved.data();
  // Sorted lengths: the row kernels visit only the rows still inside their sequence. A row waiting
  // for its first step (reverse) must find its initial state in whichever buffer it starts from, so
  // both hold it; a row that has ended (forward) is copied to h_n then, and never touched again.
  const bool skip_rows = real_rows.sorted() && kind != CellKind::kJordan;
  if (skip_rows) {
    std::copy(h.data(), h.data() + BH, h.data() + BH);
    if (cell) std::copy(c.data(), c.data() + BH, c.data() + BH);
    if (dir == Direction::kForward) {  // rows of length 0 end before the first step
      const index_t live = real_rows.at(0);
      if (h_n) std::copy(h.data() + live * H, h.data() + BH, h_n + live * H);
      if (c_n && cell) std::copy(c.data() + live * H, c.data() + BH, c_n + live * H);
    }
  }
  int current = 0;
  for (index_t k = 0; k < T_; ++k) {
    const index_t t = step_at(dir, T_, k);
    // Block of steps [t0, t0 + n) in time order, projected when the walk enters it.
    const index_t block = k / block_steps;
    const index_t n = std::min(block_steps, T_ - block * block_steps);
    const index_t t0 = dir == Direction::kForward ? block * block_steps : T_ - block * block_steps - n;
    if (k % block_steps == 0) {
      if (w.x_is_projection) {
        std::copy(x + t0 * B * GH, x + (t0 + n) * B * GH, pre.data());
      } else if (real_rows.sorted()) {
        // Only the rows still inside their sequence (packed products give each row the same bits
        // whatever the number of rows).
        for (index_t i = 0; i < n; ++i)
          gemm_packed(real_rows.at(t0 + i), x + (t0 + i) * B * d.I, d.I, packed.input, T(0),
                      pre.data() + i * B * GH, GH);
      } else {
        gemm_packed(n * B, x + t0 * B * d.I, d.I, packed.input, T(0), pre.data(), GH);
      }
    }
    s.pre = pre.data() + (t - t0) * B * GH;
    s.t = t;
    s.rows = real_rows.at(t);
    s.h_prev = h.data() + current * BH;
    s.h_next = h.data() + (1 - current) * BH;
    s.c_prev = cell ? c.data() + current * BH : nullptr;
    s.c_next = cell ? c.data() + (1 - current) * BH : nullptr;
    s.y = y ? y + t * B * ldy : y_step.data();
    if (skip_rows) s.kernel_rows = s.rows;
    step_forward(kind, s);
    if (skip_rows) {
      for (index_t b = s.rows; b < B; ++b)  // the finished (or not yet started) rows output 0
        std::fill(s.y + b * ldy, s.y + b * ldy + H, T(0));
      if (dir == Direction::kForward) {
        // Rows whose last step this was: their final state, from the buffer just written.
        const index_t next = t + 1 < T_ ? real_rows.at(t + 1) : 0;
        if (h_n) std::copy(s.h_next + next * H, s.h_next + s.rows * H, h_n + next * H);
        if (c_n && cell) std::copy(s.c_next + next * H, s.c_next + s.rows * H, c_n + next * H);
      }
    }
    current = 1 - current;
  }
  if (skip_rows && dir == Direction::kForward) return;  // every row's h_n was written as it ended
  if (h_n) std::copy(h.data() + current * BH, h.data() + (current + 1) * BH, h_n);
  if (c_n && cell) std::copy(c.data() + current * BH, c.data() + (current + 1) * BH, c_n);
}

template <class T>
void scan_backward(CellKind kind, const ScanDims& d, Direction dir, const ScanWeights<T>& w, const T* x,
                   const index_t* lengths, const ScanTrace<T>& trace, const T* dy, const T* dh_n,
                   const T* dc_n, const ScanGrads<T>& g) {
  check_arguments(kind, d, w, lengths);
  const index_t T_ = d.T, B = d.B, H = d.H, I = d.I, BH = B * H, TB = T_ * B;
  const index_t GH = gate_count(kind) * H, SH = saved_width(kind) * H;
  const bool cell = has_cell_state(kind), jordan = has_output_projection(kind);
  RECUR_CHECK(trace.states.numel() == (T_ + 1) * BH,
              fmt::format("{} layer backward: trace does not match (T, B, H) = ({}, {}, {})", cell_name(kind),
                          T_, B, H));

  // Gate gradients of every step; the GRU's recurrent side differs from its input side in n.
  Tensor<T> dG_x = Tensor<T>::uninitialized(Shape{T_, B, GH});
  Tensor<T> dG_h = kind == CellKind::kGru ? Tensor<T>::uninitialized(Shape{T_, B, GH}) : dG_x;
  Tensor<T> dG_y = jordan ? Tensor<T>::uninitialized(Shape{T_, B, H}) : Tensor<T>();
  Tensor<T> dh = Tensor<T>::uninitialized(Shape{2, B, H}), dc,
            scratch = Tensor<T>::uninitialized(Shape{B, H});
  copy_or_zero(dh_n, dh.data(), BH);
  if (cell) {
    dc = Tensor<T>::uninitialized(Shape{2, B, H});
    copy_or_zero(dc_n, dc.data(), BH);
  }

  const T* states = trace.states.data();
  const T* cells = cell ? trace.cells.data() : nullptr;
  const PackedScanWeights<T> packed = pack_backward(kind, d, w);
  const RealRows real_rows(lengths, B);
  StepBackward<T> s;
  s.B = B;
  s.rows = B;
  s.H = H;
  s.w = &w;
  s.packed = &packed;
  s.lengths = lengths;
  s.scratch = scratch.data();
  int current = 0;
  for (index_t k = T_ - 1; k >= 0; --k) {
    const index_t t = step_at(dir, T_, k), before = slot_before(dir, t);
    s.t = t;
    s.rows = real_rows.at(t);
    s.saved = trace.saved.data() + t * B * SH;
    s.h_prev = states + before * BH;
    s.h_next = states + slot_after(dir, t) * BH;
    s.c_prev = cell ? cells + before * BH : nullptr;
    s.dy = dy ? dy + t * BH : nullptr;
    s.dh = dh.data() + current * BH;
    s.dh_prev = dh.data() + (1 - current) * BH;
    s.dc = cell ? dc.data() + current * BH : nullptr;
    s.dc_prev = cell ? dc.data() + (1 - current) * BH : nullptr;
    s.dG_x = dG_x.data() + t * B * GH;
    s.dG_h = dG_h.data() + t * B * GH;
    s.dG_y = jordan ? dG_y.data() + t * BH : nullptr;
    step_backward(kind, s);
    current = 1 - current;
  }
  if (g.dh0) ops::accumulate(dh.data() + current * BH, T(1), g.dh0, BH);
  if (g.dc0 && cell) ops::accumulate(dc.data() + current * BH, T(1), g.dc0, BH);

  // Chunk level: one GEMM each over all T·B rows (padded rows have zero gate gradients).
  //   dx += dG_x · W_ih      dW_ih += dG_xᵀ · X      dW_hh += dG_hᵀ · H_prev
  if (g.dx) gemm(Trans::kNo, Trans::kNo, TB, I, GH, T(1), dG_x.data(), GH, w.W_ih, I, T(1), g.dx, I);
  if (g.dW_ih) gemm(Trans::kYes, Trans::kNo, GH, I, TB, T(1), dG_x.data(), GH, x, I, T(1), g.dW_ih, I);
  // Bias gradients: column sums of the gate gradients; one pass serves both biases when they
  // see the same gradients (every cell but the GRU).
  const bool shared_bias_sums = g.db_ih && g.db_hh && dG_h.data() == dG_x.data();
  if (shared_bias_sums) {
    std::vector<T> sums(static_cast<size_t>(GH), T(0));
    ops::add_bias_backward<T>(dG_x.data(), nullptr, sums.data(), TB, GH);
    ops::accumulate(sums.data(), T(1), g.db_ih, GH);
    ops::accumulate(sums.data(), T(1), g.db_hh, GH);
  } else if (g.db_ih) {
    ops::add_bias_backward<T>(dG_x.data(), nullptr, g.db_ih, TB, GH);
  }
  const T* H_prev = states + (dir == Direction::kForward ? 0 : BH);  // (T·B, H): the state before each step
  if (g.dW_hh) {
    if (kind == CellKind::kGruResetBefore) {
      // Rows [r z] multiply h_prev; rows n multiply r ⊙ h_prev (saved at offset 3H).
      gemm(Trans::kYes, Trans::kNo, 2 * H, H, TB, T(1), dG_h.data(), GH, H_prev, H, T(1), g.dW_hh, H);
      gemm(Trans::kYes, Trans::kNo, H, H, TB, T(1), dG_h.data() + 2 * H, GH, trace.saved.data() + 3 * H, SH,
           T(1), g.dW_hh + 2 * H * H, H);
    } else {
      gemm(Trans::kYes, Trans::kNo, GH, H, TB, T(1), dG_h.data(), GH, H_prev, H, T(1), g.dW_hh, H);
    }
  }
  if (g.db_hh && !shared_bias_sums) ops::add_bias_backward<T>(dG_h.data(), nullptr, g.db_hh, TB, GH);
  if (jordan) {
    // y_t = tanh(h_t W_hyᵀ + b_hy): dW_hy += dG_yᵀ · H_hidden (the saved hidden activations)
    if (g.dW_hy)
      gemm(Trans::kYes, Trans::kNo, H, H, TB, T(1), dG_y.data(), H, trace.saved.data(), H, T(1), g.dW_hy, H);
    if (g.db_hy) ops::add_bias_backward<T>(dG_y.data(), nullptr, g.db_hy, TB, H);
  }
}

#define RECUR_INSTANTIATE_SCAN(T)                                                                        \
  template struct ScanTrace<T>;                                                                          \
  template PackedScanWeights<T> pack_forward<T>(CellKind, const ScanDims&, const ScanWeights<T>&, bool); \
  template PackedScanWeights<T> pack_backward<T>(CellKind, const ScanDims&, const ScanWeights<T>&);      \
  template void scan_forward<T>(CellKind, const ScanDims&, Direction, const ScanWeights<T>&, const T*,   \
                                const index_t*, const T*, const T*, T*, T*, T*, ScanTrace<T>*, index_t); \
  template void scan_backward<T>(CellKind, const ScanDims&, Direction, const ScanWeights<T>&, const T*,  \
                                 const index_t*, const ScanTrace<T>&, const T*, const T*, const T*,      \
                                 const ScanGrads<T>&);
RECUR_INSTANTIATE_SCAN(float)
RECUR_INSTANTIATE_SCAN(double)

}  // namespace recur::nn
