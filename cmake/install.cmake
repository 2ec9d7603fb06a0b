# Install rules: headers, both libraries, the CMake package
# (find_package(ioreactor CONFIG) -> ioreactor::ioreactor) and the
# pkg-config file. Every path is relative to the prefix (GNUInstallDirs), so
# `cmake --install build --prefix DIR` works for any DIR.
#
# Another library target joins the package with one line in the top-level
# file, list(APPEND IOR_LIBRARIES <target>): it is then installed and
# exported as ioreactor::<target> (or its EXPORT_NAME).
include(CMakePackageConfigHelpers)
set(IOR_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/ioreactor)

install(TARGETS ${IOR_LIBRARIES} EXPORT ioreactor-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(FILES include/io_reactor.h include/io_reactor.hpp
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# ---- CMake package
install(EXPORT ioreactor-targets NAMESPACE ioreactor:: DESTINATION ${IOR_CMAKE_DIR})
if(WIN32)
  set(IOR_NEEDS_THREADS FALSE)
else()
  set(IOR_NEEDS_THREADS TRUE)
endif()
if(IOR_PRIVATE_DEPS)
  set(IOR_NEEDS_LIBURING TRUE)
else()
  set(IOR_NEEDS_LIBURING FALSE)
endif()
configure_package_config_file(cmake/ioreactor-config.cmake.in
  ${PROJECT_BINARY_DIR}/ioreactor-config.cmake INSTALL_DESTINATION ${IOR_CMAKE_DIR})
# While the major version is 0, only the same minor version is compatible.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(ior_compat SameMinorVersion)
else()
  set(ior_compat SameMajorVersion)
endif()
write_basic_package_version_file(${PROJECT_BINARY_DIR}/ioreactor-config-version.cmake
  COMPATIBILITY ${ior_compat})
install(FILES ${PROJECT_BINARY_DIR}/ioreactor-config.cmake
  ${PROJECT_BINARY_DIR}/ioreactor-config-version.cmake DESTINATION ${IOR_CMAKE_DIR})

# ---- pkg-config: relocatable (the prefix is found from the .pc file's own
# place), with what a static link needs in the .private fields.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(IOR_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  string(REGEX REPLACE "[^/]+" ".." ior_up "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
  set(IOR_PC_PREFIX "\${pcfiledir}/${ior_up}")
endif()
if(WIN32)
  set(IOR_PC_LIBS "-lws2_32")
  set(IOR_PC_LIBS_PRIVATE "-lmswsock -lstdc++ -lpthread")
else()
  set(IOR_PC_LIBS "")
  set(IOR_PC_LIBS_PRIVATE "-lstdc++ -lm -lpthread")
endif()
set(IOR_PC_REQUIRES_PRIVATE "")
if(IOR_NEEDS_LIBURING)
  set(IOR_PC_REQUIRES_PRIVATE "liburing")
endif()
configure_file(cmake/ioreactor.pc.in ${PROJECT_BINARY_DIR}/ioreactor.pc @ONLY)
# The compat target's twin: the same library, readiness mode by definition.
configure_file(cmake/ioreactor-compat.pc.in ${PROJECT_BINARY_DIR}/ioreactor-compat.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/ioreactor.pc ${PROJECT_BINARY_DIR}/ioreactor-compat.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# ---- the server and its default configuration
if(TARGET ior-mud)
  install(TARGETS ior-mud RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  # The embedded default, printed by the server itself, so the installed
  # file cannot drift from what it runs without --config.
  if(NOT CMAKE_CROSSCOMPILING OR CMAKE_CROSSCOMPILING_EMULATOR)
    set(ior_cfg ${PROJECT_BINARY_DIR}/ior-mud.cfg)
    add_custom_command(OUTPUT ${ior_cfg}
      COMMAND ${CMAKE_CROSSCOMPILING_EMULATOR} $<TARGET_FILE:ior-mud> --print-default-config > ${ior_cfg}
      DEPENDS ior-mud VERBATIM)
    add_custom_target(ior_mud_default_config ALL DEPENDS ${ior_cfg})
    install(FILES ${ior_cfg} DESTINATION ${CMAKE_INSTALL_DATADIR}/ioreactor)
  endif()
endif()

# ---- the API reference (docs/), when built
if(TARGET ioreactor_docs)
  install(DIRECTORY ${IOR_DOCS_DIR}/html DESTINATION ${CMAKE_INSTALL_DOCDIR})
endif()
if(TARGET ioreactor_docs AND NOT WIN32)
  # Doxygen also writes a page name per struct member (error.3, fd.3):
  # those would clash with other packages' pages, so only our prefixes.
  install(DIRECTORY ${IOR_DOCS_DIR}/man/man3 DESTINATION ${CMAKE_INSTALL_MANDIR}
    FILES_MATCHING PATTERN "io_*.3" PATTERN "IO_*.3" PATTERN "EVENT_*.3")
endif()
install(FILES README.md CHANGELOG.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
