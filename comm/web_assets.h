// The web client's files (web/ in the source tree), embedded at build time
// by cmake/embed_files.cmake, for the WebSocket listener's plain GETs.
#pragma once

#include "websocket.h"

#include <string_view>
#include <vector>

namespace comm::web {

struct Asset {
    std::string_view path;  // "/index.html", "/vendor/xterm/xterm.js"
    ws::StaticFile file;
};

// Every embedded file, in the order they were listed.
std::vector<Asset> all();
// The file served for `path`, or nullptr: fits ws::FileLookup as it is.
const ws::StaticFile *find(std::string_view path);

}  // namespace comm::web
