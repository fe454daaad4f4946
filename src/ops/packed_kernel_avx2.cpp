// gemm_packed's register tile for AVX2 + FMA (16 registers of 32 bytes): MR = 4. Built with the matching -m
// flags (CMakeLists.txt).
#define RECUR_PACKED_ISA avx2
#define RECUR_PACKED_VECTOR_BYTES 32
#define RECUR_PACKED_ROWS 4
#include "packed_kernel.h"
