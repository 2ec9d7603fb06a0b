# CPack: `cpack` in a build directory (scripts/package runs it) makes a
# Debian package on Linux and a zip on Windows (mingw). One package holds
# the library (static, shared, headers, CMake and pkg-config files), the
# server with its default configuration, and the API reference.
set(CPACK_PACKAGE_NAME ioreactor)
set(CPACK_PACKAGE_VENDOR "ioreactor")
set(CPACK_PACKAGE_CONTACT "ioreactor maintainers <ioreactor@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "portable I/O reactor for MUD drivers, and the ior-mud talker server")
set(CPACK_PACKAGE_DESCRIPTION
    "One C API (io_reactor.h) over io_uring, epoll, poll and IOCP with the same contract on every backend, a C++20 RAII layer, and ior-mud, a telnet talker built on the comm layer (MCCP2, GMCP, MSSP, net-dead).")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/dist)
set(CPACK_STRIP_FILES OFF)
if(WIN32)
  set(CPACK_GENERATOR ZIP)
  set(CPACK_SYSTEM_NAME win64)
else()
  set(CPACK_GENERATOR DEB)
  set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
  set(CPACK_DEBIAN_PACKAGE_SECTION net)
  # Run-time dependencies from the binaries themselves (libc, libstdc++,
  # liburing, zlib); a static link also needs liburing's -dev files.
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_SUGGESTS "liburing-dev, pkg-config")
  set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
endif()
include(CPack)
