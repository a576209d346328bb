#ifndef FORGE_COPENBLAS_SHIM_H
#define FORGE_COPENBLAS_SHIM_H
#include <cblas.h>

/* A cache prefetch hint for the Swift kernels (Swift has no prefetch of its own): gathers of
   scattered rows issue it a few rows ahead. */
static inline void forge_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }
#endif
