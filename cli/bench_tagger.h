// recur bench --mode tag-train | tag-infer: the tagger (models/tagger.h) on the first 2,048
// sentences of UD English EWT, in batches of consecutive sentences as the file has them (no sorting
// by length), against bench/peers/torch_tagger.py, the same model in PyTorch:
//   word embedding 100 + a bidirectional character LSTM (embedding 30, 50 per direction) →
//   bidirectional RNN (--rnn-size per direction, 1 layer) → dropout 0.5 → linear → softmax
//   tag-train  forward + cross-entropy + backward + clip-norm 5 + Adam    words/s (and sentences/s)
//   tag-infer  forward and argmax, no gradients                           words/s
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "recur/common.h"

namespace recur::cli {

nlohmann::ordered_json bench_tagger(const std::string& mode, const std::string& cell, index_t hidden,
                                    index_t batch, int threads, int reps, double min_time);

}  // namespace recur::cli
