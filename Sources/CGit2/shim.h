#ifndef FORGE_CGIT2_SHIM_H
#define FORGE_CGIT2_SHIM_H
// Hide libgit2's deprecated aliases so only the current API imports into Swift.
#define GIT_DEPRECATE_HARD
#include <git2.h>
// Rename detection's line-hash signatures, for a metric that keeps pair scores (RenameSimilarity).
#include <git2/sys/hashsig.h>
// zlib: Forge re-deflates binary patch sections at git's level so they match `git diff --binary`.
#include <zlib.h>

// git_libgit2_opts is variadic and does not import into Swift: wrap the options Forge uses.
static inline int forge_git_set_search_path_none(void) {
    int rc = 0;
    rc |= git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_SYSTEM, "");
    rc |= git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_GLOBAL, "");
    rc |= git_libgit2_opts(GIT_OPT_SET_SEARCH_PATH, GIT_CONFIG_LEVEL_XDG, "");
    return rc;
}
static inline int forge_git_set_cache_max_size(long long bytes) {
    return git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)bytes);
}
static inline int forge_git_set_cache_object_limit(git_object_t type, size_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_CACHE_OBJECT_LIMIT, type, bytes);
}
static inline int forge_git_enable_strict_hash_verification(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, enabled);
}
static inline int forge_git_set_mwindow_size(size_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, bytes);
}
static inline int forge_git_set_mwindow_mapped_limit(size_t bytes) {
    return git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, bytes);
}
static inline int forge_git_enable_strict_object_creation(int enabled) {
    return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, enabled);
}
#endif
