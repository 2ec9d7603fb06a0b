/* The header's version macros agree with the project version CMake has
 * (passed in as PROJECT_VERSION_*), and the library reports the same. */
#include "io_reactor.h"

#include <stdio.h>
#include <string.h>

_Static_assert(IO_REACTOR_VERSION_MAJOR == PROJECT_MAJOR, "major differs from project(VERSION)");
_Static_assert(IO_REACTOR_VERSION_MINOR == PROJECT_MINOR, "minor differs from project(VERSION)");
_Static_assert(IO_REACTOR_VERSION_PATCH == PROJECT_PATCH, "patch differs from project(VERSION)");

int main(void) {
    unsigned expected = (PROJECT_MAJOR << 16) | (PROJECT_MINOR << 8) | PROJECT_PATCH;
    printf("library %s (0x%06x), project %s\n", io_reactor_version_string(), io_reactor_version(),
           PROJECT_VERSION_STRING);
    return io_reactor_version() == expected &&
                   strcmp(io_reactor_version_string(), PROJECT_VERSION_STRING) == 0
               ? 0
               : 1;
}
