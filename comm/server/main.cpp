// ior-mud: the talker server. Usage:
//   ior-mud [--config FILE] [--port PORT] [--console] [--list-backends]
#include "comm.h"
#include "config.h"
#include "sanitize.h"
#include "talker.h"
#include "web_assets.h"

#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>

namespace {

// The talker's lines carry client bytes too (GMCP package names), so the
// one sink escapes; comm::Comm escapes its own lines before they get here.
void log_line(const std::string &line) {
    std::time_t now = std::time(nullptr);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", std::localtime(&now));
    std::fprintf(stderr, "%s %s\n", stamp, comm::escape_controls(line).c_str());
    std::fflush(stderr);
}

int usage(int code) {
    std::fprintf(code ? stderr : stdout,
                 "usage: ior-mud [--config FILE] [--port PORT] [--console] [--list-backends]\n"
                 "  --config FILE   read FILE (key : value lines) instead of the built-in default\n"
                 "  --port PORT     listen only on PORT (4000, 127.0.0.1:4000, [::1]:4000; 0: any free port)\n"
                 "  --console       this terminal is a user too\n"
                 "  --list-backends print the reactor backends this build has, one a line\n"
                 "  --print-default-config  print the built-in configuration\n");
    return code;
}

int fail(const std::string &message) {
    std::fprintf(stderr, "ior-mud: %s\n", message.c_str());
    return 2;
}

}  // namespace

int main(int argc, char **argv) {
    std::string config_path, port;
    bool console = false;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if ((arg == "--config" || arg == "--port") && i + 1 < argc) {
            (arg == "--config" ? config_path : port) = argv[++i];
        } else if (arg == "--console") {
            console = true;
        } else if (arg == "--list-backends") {
            for (const char *const *b = io_reactor_backends(); b && *b; ++b) std::printf("%s\n", *b);
            return 0;
        } else if (arg == "--print-default-config") {
            std::fputs(comm::default_config_text, stdout);
            return 0;
        } else if (arg == "--help" || arg == "-h") {
            return usage(0);
        } else {
            std::fprintf(stderr, "ior-mud: unknown argument '%s'\n", arg.c_str());
            return usage(2);
        }
    }

    comm::Config config;
    std::string error;
    bool ok = config_path.empty()
                  ? comm::parse_config(comm::default_config_text, "<built-in config>", config, error)
                  : comm::load_config_file(config_path, config, error);
    if (!ok) return fail(error);
    if (!port.empty()) {
        comm::ListenSpec spec;
        if (!comm::parse_listen_spec(port, spec, error)) return fail("--port: " + error);
        spec.origin = "--port";
        config.listeners = {spec};
    }

    talker::Talker talker(log_line);
    talker.set_name(config.mud_name);
    comm::Comm server(config, talker, log_line);
    server.set_web_files(comm::web::find);  // the embedded web client (web/)
    talker.attach(server);
    if (!server.start(error)) return fail(error);

    std::printf("ior-mud: %s listening on %s backend %s\n", config.mud_name.c_str(),
                server.listening_on().c_str(), server.backend_name());
    std::fflush(stdout);
    if (console && !server.add_console(error)) return fail(error);
    return server.run();
}
