#include "recur/models/checkpoint.h"

#include <fmt/format.h>

namespace recur::models {

std::string checkpoint_task(const io::Safetensors& file) {
  const auto& meta = file.metadata();
  if (const auto task = meta.find(kTaskKey); task != meta.end()) {
    RECUR_REQUIRE(!task->second.empty(), fmt::format("{}: recur.task is empty", file.source()));
    return task->second;
  }
  RECUR_REQUIRE(meta.count(kConfigKey) && meta.count(kVocabKey),
                fmt::format("{}: not a recur checkpoint (its metadata has no recur.task, and no recur.config "
                            "and recur.vocab as the files written before recur.task had)",
                            file.source()));
  return kLmTask;
}

}  // namespace recur::models
