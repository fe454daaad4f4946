// gemm_packed's register tile for AVX-512 (F, VL; 32 registers of 64 bytes): MR = 8. Built with the matching
// -m flags (CMakeLists.txt).
#define RECUR_PACKED_ISA avx512
#define RECUR_PACKED_VECTOR_BYTES 64
#define RECUR_PACKED_ROWS 8
#include "packed_kernel.h"
