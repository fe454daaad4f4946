# ctest readme_program: the README's C++ program (its ```cpp block) is tests/install/generate.cpp,
# which CI builds against an installed recur and runs, so the README shows a program that works.
# Usage: cmake -DREADME=README.md -DPROGRAM=tests/install/generate.cpp -P check_readme_program.cmake
file(READ "${README}" readme)
file(READ "${PROGRAM}" program)
string(FIND "${readme}" "```cpp\n" begin)
if(begin EQUAL -1)
  message(FATAL_ERROR "${README} has no ```cpp block; it should show ${PROGRAM}")
endif()
math(EXPR begin "${begin} + 7")
string(SUBSTRING "${readme}" ${begin} -1 rest)
string(FIND "${rest}" "```" end)
string(SUBSTRING "${rest}" 0 ${end} block)
if(NOT block STREQUAL program)
  message(FATAL_ERROR "the ```cpp block of ${README} differs from ${PROGRAM}: copy the file into the README")
endif()
