// ior-mud: the talker server. Usage:
//   ior-mud [--config FILE] [--port PORT] [--console] [--list-backends]
#include "comm.h"
#include "config.h"
#include "handover.h"
#include "reboot.h"
#include "sanitize.h"
#include "talker.h"
#include "web_assets.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <string>
#include <vector>

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
                 "  --print-default-config  print the built-in configuration\n"
                 "  --adopt-state FD --adopt-report FD  (internal) take over from a rebooting server\n");
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
    long adopt_state = -1, adopt_report = -1;
    // What a hot reboot passes on to the next binary: these arguments, and
    // the path of this binary resolved now (a rebuilt file takes over).
    const std::string exe = comm::handover::self_exe(argv[0]);
    std::vector<std::string> reboot_args;
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if ((arg == "--adopt-state" || arg == "--adopt-report") && i + 1 < argc) {
            char *end = nullptr;
            long fd = std::strtol(argv[++i], &end, 10);
            if (!end || *end || fd < 0) return fail(arg + ": expected a descriptor number");
            (arg == "--adopt-state" ? adopt_state : adopt_report) = fd;
            continue;
        }
        reboot_args.push_back(arg);
        if ((arg == "--config" || arg == "--port") && i + 1 < argc) {
            reboot_args.push_back(argv[i + 1]);
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
    talker.set_admins(config.admins);
    comm::Comm server(config, talker, log_line);
    server.set_web_files(comm::web::find);  // the embedded web client (web/)
    talker.attach(server);
    server.set_reboot_command(exe, reboot_args);
    // A hot reboot's successor: a state it cannot read is refused before
    // any socket is touched, and the exit status tells the old server,
    // which carries on.
    const bool adopting = adopt_state >= 0;
    if (adopting) {
        std::string bytes;
        comm::reboot::State state;
        if (!comm::handover::read_state(adopt_state, comm::reboot::max_state_bytes, bytes, error) ||
            !comm::reboot::parse(bytes, state, error))
            return fail("reboot refused: " + error);
        server.set_adoption(std::move(state));
    }
    if (!server.start(error)) return fail(adopting ? "reboot refused: " + error : error);
    if (adopting) comm::handover::report_adopted(adopt_report);

    // After a reboot the line names the new PID (the old process has gone).
    std::string rebooted = adopting ? " (rebooted, pid " + std::to_string(comm::handover::self_pid()) + ")" : "";
    std::printf("ior-mud: %s listening on %s backend %s%s\n", config.mud_name.c_str(),
                server.listening_on().c_str(), server.backend_name(), rebooted.c_str());
    std::fflush(stdout);
    // After a reboot the console session (if any) came with the state.
    if (console && !adopting && !server.add_console(error)) return fail(error);
    return server.run();
}
