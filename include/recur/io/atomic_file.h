// Whole-file reads and crash-safe whole-file writes, for checkpoints and anything else that must
// never be left half written.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace recur::io {

// Replaces the file at `path` with `bytes` so that, whatever happens, `path` holds either the old
// content or the new content in full: the bytes go to a fresh `path.tmp-XXXXXXXX` in the same
// directory, which is fsync'ed, renamed over `path`, and then the directory is fsync'ed so the
// rename itself is durable. On a failure before the rename the temporary file is removed and the
// old file is untouched. Errors are recur::Error naming the path, the step and the errno text.
// A new file gets mode 0666 minus the umask; a replaced file's mode is not carried over.
void write_file_atomic(const std::string& path, std::span<const std::byte> bytes);

// The whole content of a regular file. Errors name the path and the errno text.
std::vector<std::byte> read_file_bytes(const std::string& path);

}  // namespace recur::io
