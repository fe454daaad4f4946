#include <fmt/format.h>

#include <filesystem>

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

namespace {

struct BundledFile {
  const char* name;
  const char* path;  // under data/
};
constexpr BundledFile kBundled[] = {{"ptb", "ptb/ptb.train.txt.gz"},
                                    {"ptb.train", "ptb/ptb.train.txt.gz"},
                                    {"ptb.valid", "ptb/ptb.valid.txt.gz"},
                                    {"ptb.test", "ptb/ptb.test.txt.gz"},
                                    {"names", "names/names.txt.gz"},
                                    {"ud_english_ewt", "ud_english_ewt/en_ewt-ud-train.conllu.gz"},
                                    {"ud_english_ewt.dev", "ud_english_ewt/en_ewt-ud-dev.conllu.gz"},
                                    {"ud_english_ewt.test", "ud_english_ewt/en_ewt-ud-test.conllu.gz"},
                                    {"conll2000", "conll2000/train.txt.gz"},
                                    {"conll2000.test", "conll2000/test.txt.gz"}};

}  // namespace

std::string bundled_data_path(const std::string& name) {
  for (const BundledFile& f : kBundled) {
    if (name != f.name) continue;
    for (const char* dir : {RECUR_SOURCE_DATA_DIR, RECUR_INSTALL_DATA_DIR}) {
      const std::filesystem::path p = std::filesystem::path(dir) / f.path;
      std::error_code ec;
      if (std::filesystem::is_regular_file(p, ec)) return p.string();
    }
    throw Error(fmt::format("the bundled data '{}' ({}) is neither in {} nor in {}", name, f.path,
                            RECUR_SOURCE_DATA_DIR, RECUR_INSTALL_DATA_DIR));
  }
  return "";
}

std::string bundled_data_names() {
  return "ptb, ptb.valid, ptb.test, names, ud_english_ewt, ud_english_ewt.dev, ud_english_ewt.test, "
         "conll2000, "
         "conll2000.test";
}

BundledSplits bundled_splits(const std::string& data) {
  if (data == "ptb" || data == "ptb.train") return {"ptb.valid", "ptb.test"};
  if (data == "ud_english_ewt") return {"ud_english_ewt.dev", "ud_english_ewt.test"};
  if (data == "conll2000") return {"", "conll2000.test"};  // no development set: --val-frac of train
  return {};
}

std::string data_name(const std::string& path_or_builtin) {
  return path_or_builtin == kBuiltinDataName ? "tinyshakespeare (built in)" : path_or_builtin;
}

std::string load_data(const std::string& path_or_builtin) {
  if (path_or_builtin == kBuiltinDataName) return std::string(builtin_tinyshakespeare());
  std::error_code ec;
  if (!std::filesystem::exists(path_or_builtin, ec)) {
    const std::string bundled = bundled_data_path(path_or_builtin);
    if (!bundled.empty()) return data::read_file(bundled);
  }
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
