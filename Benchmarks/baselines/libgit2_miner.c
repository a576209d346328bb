/*
 * The one-thread libgit2 baseline for `forge-bench mining`: what a minimal C miner does, and
 * nothing more. Walks the first-parent line of HEAD; a "Merge pull request #N from ..." merge
 * is a PR with base = merge-base(first parent, second parent) and head = second parent; a
 * single-parent commit whose subject ends in "(#N)" is a squashed PR with base = its parent.
 * For each PR it prints one tree-to-tree diff (patch format, git's default rename detection
 * off, as `git diff` without -M would) to stdout, then a summary line to stderr.
 *
 * Build: cc -O2 -o libgit2_miner libgit2_miner.c -lgit2
 * Run:   libgit2_miner REPO > /dev/null
 */
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

static void die(const char *what) {
    const git_error *error = git_error_last();
    fprintf(stderr, "libgit2_miner: %s: %s\n", what, error && error->message ? error->message : "unknown error");
    exit(1);
}

static int print_line(const git_diff_delta *delta, const git_diff_hunk *hunk, const git_diff_line *line, void *payload) {
    (void)delta; (void)hunk;
    size_t *bytes = payload;
    if (line->origin == GIT_DIFF_LINE_CONTEXT || line->origin == GIT_DIFF_LINE_ADDITION || line->origin == GIT_DIFF_LINE_DELETION)
        fputc(line->origin, stdout);
    fwrite(line->content, 1, line->content_len, stdout);
    *bytes += line->content_len;
    return 0;
}

/* "Merge pull request #12 from ..." -> 12; else -1. */
static long merged_number(const char *subject) {
    const char *prefix = "Merge pull request #";
    if (strncmp(subject, prefix, strlen(prefix)) != 0) return -1;
    const char *digits = subject + strlen(prefix);
    char *end;
    long number = strtol(digits, &end, 10);
    return end > digits && strncmp(end, " from ", 6) == 0 ? number : -1;
}

/* "Fix it (#12)" -> 12; else -1. */
static long squashed_number(const char *subject) {
    size_t length = strlen(subject);
    while (length > 0 && (subject[length - 1] == ' ' || subject[length - 1] == '\t')) length--;
    if (length < 4 || subject[length - 1] != ')') return -1;
    size_t index = length - 1;
    while (index > 0 && isdigit((unsigned char)subject[index - 1])) index--;
    if (index == length - 1 || index < 2 || subject[index - 1] != '#' || subject[index - 2] != '(') return -1;
    return strtol(subject + index, NULL, 10);
}

static void diff_trees(git_repository *repo, const git_oid *from, const git_oid *to, size_t *bytes) {
    git_commit *old_commit = NULL, *new_commit = NULL;
    git_tree *old_tree = NULL, *new_tree = NULL;
    git_diff *diff = NULL;
    if (git_commit_lookup(&old_commit, repo, from) || git_commit_tree(&old_tree, old_commit)) die("reading the base");
    if (git_commit_lookup(&new_commit, repo, to) || git_commit_tree(&new_tree, new_commit)) die("reading the head");
    git_diff_options options = GIT_DIFF_OPTIONS_INIT;
    if (git_diff_tree_to_tree(&diff, repo, old_tree, new_tree, &options)) die("diffing");
    if (git_diff_print(diff, GIT_DIFF_FORMAT_PATCH, print_line, bytes)) die("printing a diff");
    git_diff_free(diff);
    git_tree_free(old_tree); git_tree_free(new_tree);
    git_commit_free(old_commit); git_commit_free(new_commit);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: libgit2_miner REPO\n"); return 2; }
    git_libgit2_init();
    git_repository *repo = NULL;
    if (git_repository_open(&repo, argv[1])) die(argv[1]);
    git_revwalk *walk = NULL;
    if (git_revwalk_new(&walk, repo) || git_revwalk_push_head(walk)) die("starting the walk");
    git_revwalk_simplify_first_parent(walk);
    git_oid id;
    long commits = 0, merges = 0, squashes = 0;
    size_t bytes = 0;
    while (git_revwalk_next(&id, walk) == 0) {
        commits++;
        git_commit *commit = NULL;
        if (git_commit_lookup(&commit, repo, &id)) die("reading a commit");
        const char *subject = git_commit_summary(commit);
        unsigned parents = git_commit_parentcount(commit);
        if (subject && parents == 2 && merged_number(subject) >= 0) {
            git_oid base;
            const git_oid *first = git_commit_parent_id(commit, 0), *second = git_commit_parent_id(commit, 1);
            if (git_merge_base(&base, repo, first, second) == 0) { diff_trees(repo, &base, second, &bytes); merges++; }
        } else if (subject && parents == 1 && squashed_number(subject) >= 0) {
            diff_trees(repo, git_commit_parent_id(commit, 0), &id, &bytes);
            squashes++;
        }
        git_commit_free(commit);
    }
    fprintf(stderr, "libgit2_miner: %ld first-parent commits, %ld merged PRs, %ld squashed PRs, %zu patch bytes\n",
            commits, merges, squashes, bytes);
    git_revwalk_free(walk);
    git_repository_free(repo);
    git_libgit2_shutdown();
    return 0;
}
