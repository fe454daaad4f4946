// Reading a data file whole: its bytes, decompressed when it is gzip (told by its first two bytes,
// 1f 8b), with errors that name the file and say what to do.
#pragma once

#include <string>

namespace recur::data {

// The file's bytes, decompressed when it is gzip (every member, as gunzip does). Errors name the
// file: missing or unreadable, a directory (suggesting DIR/input.txt when that exists), a name
// ending in .gz whose bytes are not gzip, gzip data that is corrupt or cut short.
std::string read_file(const std::string& path);

}  // namespace recur::data
