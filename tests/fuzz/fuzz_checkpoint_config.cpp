// libFuzzer target for the path from a checkpoint's recur.config to a model: the input is the
// config text, set on two small valid "lm" checkpoints (a recurrent LM and the window model, their
// tensors and vocabulary intact). Every input must be refused with a recur::Error or open a model
// whose tensors are those of the file; anything else aborts. Run with a memory limit: a config
// must never size an allocation before the file's header agreed with it.
//
//   cmake -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DRECUR_FUZZ=ON
//   cmake --build build-fuzz --target fuzz_checkpoint_config
//   build-fuzz/fuzz_checkpoint_config -max_total_time=60 -malloc_limit_mb=64 new_corpus/
//   tests/fuzz/corpus/config/
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "recur/data/vocab.h"
#include "recur/models/checkpoint.h"
#include "recur/models/lm_text.h"
#include "recur/models/rnn_lm.h"
#include "recur/models/rnn_lm_checkpoint.h"
#include "recur/models/tasks.h"
#include "recur/models/window_lm.h"
#include "recur/models/window_lm_model.h"

namespace {

using namespace recur;

const data::Vocab& vocab() {
  static const data::Vocab v = models::lm_vocabulary({"a", "b", "c", "\n"}, data::TokenKind::kChar);
  return v;
}

// The two files the configs are tried on, built once.
const io::Safetensors& rnn_file() {
  static const io::Safetensors file = [] {
    models::RnnLmConfig c;
    c.num_layers = 2;
    c.rnn_size = 4;
    c.embedding_size = 3;
    c.vocab_size = vocab().size();
    models::RnnLm<float> model(c);
    Rng rng(1);
    model.init(rng);
    return models::rnn_lm_file(model, vocab());
  }();
  return file;
}

const io::Safetensors& window_file() {
  static const io::Safetensors file = [] {
    models::WindowLmConfig c;
    c.window = 2;
    c.embedding_size = 3;
    c.hidden_size = 4;
    c.vocab_size = vocab().size();
    models::WindowLm<float> model(c);
    Rng rng(1);
    model.init(rng);
    return models::window_lm_file(model, vocab());
  }();
  return file;
}

void try_config(const io::Safetensors& base, const std::string& config) {
  io::Safetensors file = base;
  file.metadata()[models::kConfigKey] = config;
  std::unique_ptr<models::TaskModel> model;
  try {
    model = models::open_checkpoint(std::move(file));
  } catch (const Error&) {
    return;  // refused cleanly
  }
  // Accepted: then the model is the file's, tensor for tensor.
  if (model->params().size() == 0 || model->task() != "lm") {
    std::fprintf(stderr, "fuzz_checkpoint_config: accepted a config that opened no model: %s\n",
                 config.c_str());
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  const std::string config(reinterpret_cast<const char*>(data), size);
  try_config(rnn_file(), config);
  try_config(window_file(), config);
  return 0;
}
