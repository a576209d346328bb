#include "forge_stdio.h"
#include <stdio.h>

void forge_line_buffer_stdout(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
