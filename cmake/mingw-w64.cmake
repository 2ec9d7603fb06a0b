# Cross build for 64-bit Windows with mingw-w64; tests run under wine.
#   cmake -S . -B build-win -G Ninja -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64.cmake
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)

set(IOR_MINGW_TRIPLE x86_64-w64-mingw32)
# The -posix flavour: std::thread and std::mutex (winpthread), which tests use.
find_program(CMAKE_C_COMPILER NAMES ${IOR_MINGW_TRIPLE}-gcc-posix ${IOR_MINGW_TRIPLE}-gcc REQUIRED)
find_program(CMAKE_CXX_COMPILER NAMES ${IOR_MINGW_TRIPLE}-g++-posix ${IOR_MINGW_TRIPLE}-g++ REQUIRED)
find_program(CMAKE_RC_COMPILER NAMES ${IOR_MINGW_TRIPLE}-windres windres)

set(CMAKE_FIND_ROOT_PATH /usr/${IOR_MINGW_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# Static runtime (libgcc, libstdc++, winpthread): each .exe runs under wine
# without a search for mingw DLLs.
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")

# Vista+ APIs: GetQueuedCompletionStatusEx, CancelIoEx.
add_compile_definitions(_WIN32_WINNT=0x0601 WINVER=0x0601)

# ctest (and gtest discovery) run each .exe through wine; WINEDEBUG=-all
# keeps wine's own diagnostics out of the test output.
find_program(IOR_WINE NAMES wine64 wine)
if(IOR_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${CMAKE_COMMAND} -E env WINEDEBUG=-all ${IOR_WINE})
endif()
