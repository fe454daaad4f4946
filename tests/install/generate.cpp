// Loads a checkpoint written by `recur train` and prints text drawn from it.
#include <cstdio>
#include <exception>
#include <string_view>

#include "recur/models/tasks.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s CHECKPOINT [PRIME_TEXT]\n", argv[0]);
    return 2;
  }
  try {
    const auto model = recur::models::open_checkpoint(argv[1]);  // the task its recur.task names
    recur::models::GenerateOptions options;
    options.prime_text = argc > 2 ? argv[2] : "";
    options.length = 300;                // tokens after the prime text
    options.sampling.temperature = 0.8;  // or top_k, top_p, argmax
    options.seed = 1;                    // same seed, same text
    model->generate(options, [](std::string_view text) { std::fwrite(text.data(), 1, text.size(), stdout); });
  } catch (const std::exception& e) {  // a missing file, another task's checkpoint, ...
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
