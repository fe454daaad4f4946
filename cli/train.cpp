// recur train TASK: one subcommand per task (train_<task>.cpp), each with its own flag groups and
// the shared ones (trainer_flags.h). `recur train` with flags and no task is `recur train lm`
// (main.cpp inserts the name), so char-rnn style commands keep working.
#include "commands.h"

namespace recur::cli {

void add_train_command(CLI::App& app) {
  CLI::App* train = app.add_subcommand(
      "train", "train a model: recur train TASK [flags]; recur train [flags] trains a language model (lm)");
  train->require_subcommand(1);
  add_train_lm_command(*train);
  add_train_tag_command(*train);
}

}  // namespace recur::cli
