#ifndef FORGE_COPENBLAS_SHIM_H
#define FORGE_COPENBLAS_SHIM_H
#include <cblas.h>
#endif
