// Swift 6 cannot name C's `stdout` (a mutable global) without a data-race error; this sets its
// buffering from C instead.
#ifndef FORGE_STDIO_H
#define FORGE_STDIO_H

/// Makes standard output line-buffered, so results and the progress bar on stderr interleave.
/// Call before any other thread writes to it.
void forge_line_buffer_stdout(void);

#endif
