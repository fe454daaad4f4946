// Recurrent LM checkpoints: one .safetensors file (docs/checkpoint-format.md).
//
// Tensors: the model's PyTorch state_dict (embedding.weight, rnn.weight_ih_l0, …, decoder.weight,
// decoder.bias; a tied decoder.weight is stored as a copy of embedding.weight). __metadata__:
// recur.task "lm", recur.config (RnnLmConfig::to_json) and recur.vocab (data::Vocab::to_json, of
// characters or words). That is all `sample` and `eval` need; a file without recur.task (written before it
// existed) loads too. A training checkpoint adds tensors under "train." and the key recur.train (see
// cli/train.cpp); readers of the model ignore both.
#pragma once

#include <memory>
#include <string>

#include "recur/data/vocab.h"
#include "recur/io/safetensors.h"
#include "recur/models/checkpoint.h"
#include "recur/models/rnn_lm.h"

namespace recur::models {

// The model's tensors and the three metadata keys.
io::Safetensors rnn_lm_file(const RnnLm<float>& model, const data::Vocab& vocab);

struct LoadedRnnLm {
  std::unique_ptr<RnnLm<float>> model;
  data::Vocab vocab;
  io::Safetensors file;  // everything the file held (training state included)
};

// Reads and validates: the task (recur.task "lm" or none), the config, the vocabulary (its size must equal
// vocab_size), every model tensor with its shape. Errors name the file.
LoadedRnnLm load_rnn_lm(const std::string& path);
LoadedRnnLm load_rnn_lm(io::Safetensors file);

}  // namespace recur::models
