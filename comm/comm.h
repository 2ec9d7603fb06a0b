// The comm layer: listeners, interactive users and the event loop, on the
// public reactor API only (it never names a backend).
//
// A User is a session; its Link is the connection (socket or console, with
// telnet state, compression and input assembly). When a logged-in user's
// connection drops, the User stays "net-dead" without a Link for a grace
// period, and a new connection can take it over (reattach).
//
// Memory is capped per user everywhere: input lines (max line length),
// queued commands (max input queue; beyond it reading pauses through the
// reactor's flow control), and output (above the high watermark reading
// pauses until the queue falls below the low watermark; past the cap the
// user is dropped).
#pragma once

#include "admission.h"
#include "config.h"
#include "reboot.h"
#include "telnet.h"
#include "websocket.h"

#include "io_reactor.h"

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace comm {

namespace tls {
class Context;
}

class Comm;
class User;
struct Link;
struct Listener;

using Clock = std::chrono::steady_clock;

// What the application (the talker, a MUD driver) implements.
class Application {
public:
    // A new connection, not yet logged in.
    virtual void on_connect(User &user) = 0;
    // One input line (already cut to the line cap), one per loop turn.
    virtual void on_line(User &user, std::string_view line) = 0;
    // The connection dropped; the session waits for a reconnect.
    virtual void on_netdead(User &user) { (void)user; }
    // The session ends (quit, idle, net-dead expiry, shutdown). The User
    // object stays valid until this call returns.
    virtual void on_disconnect(User &user) = 0;
    virtual void on_gmcp(User &user, std::string_view package, std::string_view data) {
        (void)user, (void)package, (void)data;
    }
    // MSSP variables (NAME, PLAYERS, ...), asked for when a crawler enables MSSP.
    virtual std::vector<std::pair<std::string, std::string>> mssp() { return {}; }

    // Hot reboot (reboot.h): what the next process needs of a session and of
    // the application, and taking it back there (false refuses the state:
    // the new process exits and the old one carries on).
    virtual std::string save_session(const User &user) { (void)user; return {}; }
    virtual bool restore_session(User &user, std::string_view record) { (void)user, (void)record; return true; }
    virtual std::string save_state() { return {}; }
    virtual bool restore_state(std::string_view record) { (void)record; return true; }
    // A reboot failed and this process carries on; `requester` is the user
    // id given to Comm::request_reboot (0 for a signal).
    virtual void on_reboot_failed(std::uint64_t requester, const std::string &why) { (void)requester, (void)why; }
    // A reboot handed the session to the next process: free what app_data
    // holds, and send nothing (the user goes on there, not here).
    virtual void on_handed_over(User &user) { (void)user; }

protected:
    ~Application() = default;
};

class User {
public:
    std::uint64_t id() const { return id_; }
    bool connected() const { return link_ != nullptr; }
    bool is_console() const;
    // The client's address: behind a PROXY listener, the one the header gave.
    const std::string &address() const { return address_; }
    // How the connection reaches us, for the `client` command and logs:
    // "telnet", or e.g. "TLSv1.3 TLS_AES_256_GCM_SHA384, websocket
    // telnet.mudstandards.org, via proxy 127.0.0.1:5000". "" while net-dead.
    std::string transport() const;
    // True when the connection runs over TLS.
    bool secure() const;
    // Null while net-dead and for the console.
    const telnet::ClientInfo *client() const;
    bool compressed() const;
    Clock::time_point last_input() const { return last_input_; }
    // Output bytes queued in the reactor for this connection (0 while
    // net-dead and for the console): what the watermarks and the cap see.
    std::size_t queued_output() const;
    // Input lines received but not yet given to on_line, in bytes: what
    // max input queue holds against (0 while net-dead).
    std::size_t queued_input() const;

    // Output: "\n" ends lines. Dropped while net-dead.
    void write(std::string_view text);
    // A prompt: text then EOR/GA so clients know where the line ends.
    void prompt(std::string_view text);
    void hide_input(bool hide);
    void send_gmcp(std::string_view package, std::string_view json);
    // MSDP: this session's value of a variable (CHARACTER_NAME, ROOM_NAME,
    // ...). Kept with the session (a reconnect keeps it) and sent when the
    // client has asked for REPORT of it. Overrides Comm::msdp_publish.
    void msdp_update(std::string_view name, msdp::Value value);
    void msdp_update(std::string_view name, std::string value) {
        msdp_update(name, msdp::Value::string(std::move(value)));
    }

    // Logged-in sessions survive a dropped connection (net-dead); others
    // are simply gone.
    void set_keep_when_dropped(bool keep) { keep_ = keep; }
    // The player has logged in. Until then the connection runs on the
    // pre-login budget (negotiation replies, subnegotiation bytes, lines;
    // see Config): a client that has proved nothing cannot make the server
    // work without end, and the login timeout applies (counted from the
    // connect). Kept apart from keep_when_dropped on purpose: an
    // application may keep a session without trusting it, or the reverse.
    void set_logged_in() { logged_in_ = true; }
    bool logged_in() const { return logged_in_; }
    // Ends the session: `farewell` is sent and flushed, then the connection
    // closes. on_disconnect follows at a safe point of the loop.
    void disconnect(std::string_view farewell);

    void *app_data = nullptr;  // the application's; the comm layer never touches it

private:
    friend class Comm;
    User(Comm &comm, std::uint64_t id) : comm_(comm), id_(id) {}

    Comm &comm_;
    std::uint64_t id_;
    Link *link_ = nullptr;
    std::string address_;
    bool keep_ = false;
    bool logged_in_ = false;
    bool ending_ = false;  // on_disconnect is due; no more input
    bool gone_ = false;    // on_disconnect ran; freed at the end of the loop turn
    Clock::time_point connected_at_{};  // set from Comm::now() on connect
    Clock::time_point last_input_{};    // set from Comm::now() on connect
    Clock::time_point netdead_since_{};
    msdp::Variables msdp_;  // this session's MSDP values, in publishing order
};

// One Comm runs per process at a time (SIGINT/SIGTERM are process-wide),
// and like its reactor it is used from one thread: the one calling run().
class Comm {
public:
    using Logger = std::function<void(const std::string &)>;

    Comm(const Config &config, Application &app, Logger log);
    ~Comm();
    Comm(const Comm &) = delete;
    Comm &operator=(const Comm &) = delete;

    // Creates the reactor and the listeners. False with `error` set when
    // the server must not start.
    bool start(std::string &error);
    // Makes stdin/stdout a user, read through the reactor's console handle.
    bool add_console(std::string &error);
    // Runs until shutdown completes; returns the process exit code.
    int run();
    // Safe from a signal handler or another thread.
    void request_shutdown();

    // The clock every timer reads (idle, net-dead, flush deadlines). Tests
    // replace it to let hours pass at once; set before run(), and it is
    // called on the loop thread only.
    void set_clock(std::function<Clock::time_point()> now) { clock_ = std::move(now); }
    Clock::time_point now() const { return clock_ ? clock_() : Clock::now(); }

    // Hot reboot. set_reboot_command (before run): the binary the successor
    // runs (resolved at start-up) and its arguments. request_reboot is safe
    // from a signal handler; `by` is the requesting user's id (0: a signal).
    // set_adoption (before start): adopt this state instead of listening.
    void set_reboot_command(std::string exe, std::vector<std::string> args) {
        reboot_exe_ = std::move(exe);
        reboot_args_ = std::move(args);
    }
    void request_reboot(std::uint64_t by = 0);
    void set_adoption(reboot::State state) { adoption_ = std::make_unique<reboot::State>(std::move(state)); }

    // Moves `fresh`'s connection into the net-dead session `old` (same
    // player logging in again). `fresh` ends without on_disconnect.
    bool reattach(User &old, User &fresh);

    std::vector<User *> users() const;  // live sessions, net-dead included
    const char *backend_name() const;
    // "0.0.0.0:4000 [::]:4000": what the listeners are bound to.
    std::string listening_on() const;
    std::size_t connection_count() const;
    // Writes handed to the reactor so far (sockets, not the console): one
    // per link per loop turn in the common case, whatever the application
    // wrote (tests and benchmarks read it). Loop thread only.
    std::uint64_t output_writes() const { return output_writes_; }
    // The web client's files for plain GETs on WebSocket listeners (set
    // before start(); unset or `websocket client : off`: every GET is 404).
    void set_web_files(ws::FileLookup files) { web_files_ = std::move(files); }
    // The first TLS / WebSocket listener's bound port (0: none), for MSSP.
    int tls_port() const { return tls_port_; }
    int websocket_port() const { return websocket_port_; }

    // MSDP: a server-wide variable (SERVER_ID, PLAYERS, ...), the same for
    // every session unless User::msdp_update overrides it; reported to every
    // client that asked for it.
    void msdp_publish(std::string_view name, msdp::Value value);
    void msdp_publish(std::string_view name, std::string value) {
        msdp_publish(name, msdp::Value::string(std::move(value)));
    }

private:
    friend class User;
    friend struct Link;

    bool open_listeners(std::string &error);
    bool prepare_tls(std::string &error);
    void note_advertised_port(const ListenSpec &spec, int port);
    bool self_signed_pair(std::string &cert, std::string &key, std::string &error);
    void dispatch(const io_event_t &ev);
    void accept(Listener &listener, socket_fd_t fd);
    bool build_stack(Listener &listener, Link &link);
    void start_session(Link &link);
    std::string refusal(Link &link, bool &log_it);
    void on_socket_input(Link &link, std::string_view bytes);
    bool take_proxy_header(Link &link);
    void after_stack(Link &link);
    void handshake_done(Link &link);
    void drop_unstarted(Link &link, const std::string &why);
    void log_limited(const std::string &line);
    void add_transport_mssp(std::vector<std::pair<std::string, std::string>> &vars) const;
    void on_input(Link &link, std::string_view bytes);
    void take_input(Link &link, std::string_view bytes);
    std::string over_budget(const Link &link) const;
    void run_commands();
    void run_timers(Clock::time_point now);
    void begin_shutdown();
    void finish_shutdown();
    void reap();
    bool hot_reboot(std::vector<io_event_t> &events);
    void freeze_for_reboot(std::vector<io_event_t> &events);
    void unregister_all();
    reboot::State snapshot();
    void resume_after_reboot_failed();
    bool adopt(std::string &error);
    bool adopt_user(const reboot::UserState &us, std::string &error);

    void send(Link &link, std::string_view bytes);
    void gather(Link &link, std::string_view bytes);
    void write_batch(Link &link);
    void flush_output();
    void post(Link &link, std::string_view bytes);
    void post_socket(Link &link, std::string_view bytes);
    void check_output(Link &link);
    void update_interest(Link &link);
    void lose_link(Link &link, const std::string &why, bool flush = true);
    void close_link(Link &link);
    void finish_link(Link &link);
    void end_user(User &user);
    void process_notices();
    std::string describe(const User &user) const;
    static bool set_variable(msdp::Variables &vars, std::string_view name, const msdp::Value &value);
    static bool find_variable(const msdp::Variables &vars, std::string_view name, msdp::Value &out);
    std::vector<std::string> msdp_names(const User *user) const;
    bool msdp_value(const User *user, std::string_view name, msdp::Value &out) const;

    Config cfg_;
    Application &app_;
    Logger log_;  // escapes control bytes: addresses and names come from clients
    Admission admission_;
    std::function<Clock::time_point()> clock_;
    io_reactor_t *reactor_ = nullptr;
    std::vector<std::unique_ptr<Listener>> listeners_;
    std::vector<std::unique_ptr<User>> users_;
    std::vector<std::unique_ptr<Link>> links_;
    // Links with output gathered this turn (flush_output); `flushing_` is
    // its spare, swapped in so the end of a turn allocates nothing.
    std::vector<Link *> pending_, flushing_;
    std::uint64_t output_writes_ = 0;
    msdp::Variables msdp_;  // server-wide MSDP values
    // on_netdead (true) / on_disconnect (false) calls, made at safe points
    // of the loop, never from inside the application's own calls.
    std::deque<std::pair<User *, bool>> notices_;
    std::uint64_t next_id_ = 1;
    bool shutting_down_ = false;
    Clock::time_point shutdown_deadline_{};
    Clock::time_point next_timer_check_{};
    bool reap_due_ = false;
    std::string reboot_exe_;
    std::vector<std::string> reboot_args_;
    std::uint64_t reboot_by_ = 0;
    std::unique_ptr<reboot::State> adoption_;
    // Transport layers (comm/stack.h).
    std::shared_ptr<tls::Context> tls_;
    ws::FileLookup web_files_;
    std::size_t handshaking_ = 0;  // links whose layers are still handshaking
    int tls_port_ = 0, websocket_port_ = 0;
    // Refusals before a session exists are logged at most once a second
    // (the rest are counted), so a connection flood cannot flood the log.
    Clock::time_point log_quiet_until_{};
    std::size_t log_suppressed_ = 0;
    std::size_t log_budget_ = 0;
};

}  // namespace comm
