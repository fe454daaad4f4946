// gemm_packed's register tile for the baseline ISA (SSE2 on x86-64, NEON on AArch64; 16-byte vectors): MR
// = 4. Built with the matching -m flags (CMakeLists.txt).
#define RECUR_PACKED_ISA generic
#define RECUR_PACKED_VECTOR_BYTES 16
#define RECUR_PACKED_ROWS 4
#include "packed_kernel.h"
