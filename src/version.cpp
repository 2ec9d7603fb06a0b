// The library's own version, compiled in: a program can tell which shared
// library it runs against, whatever header it was built with.
#include "io_reactor.h"

#define IOR_STR2(x) #x
#define IOR_STR(x) IOR_STR2(x)

extern "C" {

unsigned io_reactor_version(void) { return IO_REACTOR_VERSION_HEX; }

const char *io_reactor_version_string(void) {
    return IOR_STR(IO_REACTOR_VERSION_MAJOR) "." IOR_STR(IO_REACTOR_VERSION_MINOR) "." IOR_STR(
        IO_REACTOR_VERSION_PATCH);
}

}  // extern "C"
