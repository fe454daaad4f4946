#include <fmt/format.h>

#include "commands.h"
#include "recur/common.h"
#include "recur/data/text_file.h"
#include "recur/threads.h"

// The bundled tiny-shakespeare, embedded at build time (RECUR_BUILTIN_DATA is its absolute path).
asm(".section .rodata\n"
    ".balign 16\n"
    ".global recur_builtin_text_begin\n"
    "recur_builtin_text_begin:\n"
    ".incbin \"" RECUR_BUILTIN_DATA
    "\"\n"
    ".global recur_builtin_text_end\n"
    "recur_builtin_text_end:\n"
    ".byte 0\n"
    ".previous\n");
extern "C" const char recur_builtin_text_begin[];
extern "C" const char recur_builtin_text_end[];

namespace recur::cli {

std::string_view builtin_tinyshakespeare() {
  return {recur_builtin_text_begin, static_cast<size_t>(recur_builtin_text_end - recur_builtin_text_begin)};
}

std::string load_data(const std::string& path_or_builtin) {
  if (path_or_builtin == kBuiltinDataName) return std::string(builtin_tinyshakespeare());
  return data::read_file(path_or_builtin);
}

void add_threads_option(CLI::App& command, int& threads) {
  command.add_option("--threads", threads, "compute threads (0: RECUR_NUM_THREADS or all cores)")
      ->check(CLI::Range(0, 1024))
      ->capture_default_str();
}

void apply_threads(int threads) {
  if (threads > 0) set_num_threads(threads);
}

}  // namespace recur::cli
