#include "comm.h"

#include "handover.h"
#include "line_buffer.h"
#include "mccp.h"
#include "net.h"
#include "sanitize.h"
#include "stack.h"
#include "tls.h"

#include <algorithm>
#include <atomic>
#include <csignal>
#include <deque>
#include <filesystem>

namespace comm {

// A reactor context is either a listener or a link; the kind tells which.
struct Endpoint {
    enum class Kind { listener, link };
    explicit Endpoint(Kind k) : kind(k) {}
    Kind kind;
};

struct Listener : Endpoint {
    Listener(socket_fd_t f, std::string n, ListenSpec s)
        : Endpoint(Kind::listener), fd(f), name(std::move(n)), spec(std::move(s)) {}
    socket_fd_t fd;
    std::string name;  // "0.0.0.0:4443 (tls)"
    ListenSpec spec;   // its layers
};

struct Link final : Endpoint, telnet::TelnetHandler {
    // MCCP2 is never offered over WebSocket: browsers' clients have no
    // zlib stream of their own, and the frames are small lines anyway.
    Link(Comm &c, socket_fd_t f, bool is_console, bool ws = false)
        : Endpoint(Kind::link), comm(c), fd(f), console(is_console),
          lines(c.cfg_.max_line_length) {
        if (!console)
            tn = std::make_unique<telnet::Telnet>(*this, telnet::Telnet::Policy{
                .mccp2 = c.cfg_.mccp && Compressor::available() && !ws,
                .mccp3 = c.cfg_.mccp3 && !ws,  // no MCCP of either kind over WebSocket
                .msdp = c.cfg_.msdp,
                .max_option_changes = c.cfg_.max_option_changes});
    }

    void telnet_send(std::string_view bytes) override { comm.send(*this, bytes); }
    void telnet_compress(bool on) override {
        if (on) start_compression();
        else comm.send(*this, stop_compression());
    }
    void telnet_renegotiation_refused(std::uint8_t option, bool local) override {
        comm.log_("telnet: " + (user ? comm.describe(*user) : address) + " turned option " +
                  std::to_string(option) + (local ? " (ours)" : " (its own)") +
                  " on too often; further requests are refused for a while");
    }

    // A client may toggle MCCP2; the stream stopped last is reused
    // (deflateReset) instead of allocating and initialising a new one.
    void start_compression() {
        if (spare_z && spare_z->restart()) z = std::move(spare_z);
        else z = std::make_unique<Compressor>();
        spare_z.reset();
    }
    // The end of the stream (for the peer, sent plain). The state is kept
    // for reuse only briefly (run_timers frees it): a link that has stopped
    // compressing must not pin ~256 KiB of deflate state for its lifetime.
    std::string stop_compression() {
        if (!z) return {};
        std::string tail = z->finish();
        spare_z = std::move(z);
        spare_since = comm.now();
        return tail;
    }
    void telnet_gmcp(std::string_view package, std::string_view data) override {
        if (user) comm.app_.on_gmcp(*user, package, data);
    }
    std::vector<std::pair<std::string, std::string>> telnet_mssp() override {
        auto vars = comm.app_.mssp();
        comm.add_transport_mssp(vars);
        return vars;
    }
    std::vector<std::string> telnet_msdp_names() override { return comm.msdp_names(user); }
    bool telnet_msdp_value(std::string_view name, msdp::Value &out) override {
        return comm.msdp_value(user, name, out);
    }
    // A bomb or a corrupt MCCP3 stream: nothing more can be read.
    void telnet_input_failed(std::string_view why) override { comm.lose_link(*this, std::string(why), false); }
    void telnet_protocol_error(std::string_view why) override {
        if (++protocol_errors > 3) return;  // a client repeating itself must not flood the log
        comm.log_("telnet: " + (user ? comm.describe(*user) : address) + ": " + std::string(why) +
                  " (ignored" + (protocol_errors == 3 ? "; further errors from it are not logged)" : ")"));
    }

    Comm &comm;
    User *user = nullptr;
    socket_fd_t fd;
    bool console;
    std::string address;
    std::string host;           // address without the port: what admission counts
    bool admitted = false;      // counted by admission_ until the link dies
    std::unique_ptr<telnet::Telnet> tn;
    std::unique_ptr<Compressor> z;        // while compressing
    std::unique_ptr<Compressor> spare_z;  // a finished stream kept for reuse
    Clock::time_point spare_since{};
    LineBuffer lines;
    std::deque<std::string> commands;
    std::size_t command_bytes = 0;
    // Output of this loop turn, posted as one write at its end (Comm::gather).
    std::string batch;
    bool pending = false;       // listed in Comm::pending_
    std::size_t lines_before_login = 0;
    std::string held;           // input not yet read: the command queue was full
    int protocol_errors = 0;    // malformed subnegotiations logged so far
    int interest = EVENT_READ;
    bool input_paused = false;  // too many queued commands
    bool flood_logged = false;  // said so once; a flood pauses many times
    bool throttled = false;     // output above the high watermark
    bool eof = false;           // peer closed; run its queued commands, then go
    bool closing = false;       // flushing before close
    bool dead = false;          // removed and closed; freed at the end of the turn
    // Hot reboot: a transport whose state lives in this process (a TLS
    // session, a WebSocket's framing) cannot be handed to the next one; its
    // player gets a message and goes net-dead, to reconnect and reattach.
    // Nor can a client's MCCP3 stream: its inflate state stays here. A PROXY
    // layer can go: once its header is read it only passes bytes on.
    bool can_hand_over() const {
        return !handover::test_keep_links() && !stack.find<tls::Layer>() && !stack.find<ws::Layer>() &&
               !(tn && tn->client().mccp3 == telnet::ClientInfo::Mccp3::inflating);
    }
    bool mccp_before_reboot = false;  // stream ended for a reboot; restarted if it fails
    Clock::time_point close_deadline{};

    // The transport layers (empty for a plain telnet listener).
    Stack stack;
    std::string listener;        // its listener's name, for log lines
    bool via_proxy = false;      // behind a proxy: the address comes from the header
    std::string proxy_peer;      // the proxy's own address, once the header is read
    bool handshaking = false;    // counted in Comm::handshaking_
    bool started = false;        // became a session, or was refused or dropped before
    bool linger = false;         // an answer is on its way: close by shutdown + drain
    bool draining = false;       // FIN sent; reading and discarding until the peer closes
    std::size_t drained = 0;
    Clock::time_point accepted_at{};
};

namespace {

// Set from a signal handler or a console-control thread.
volatile std::sig_atomic_t g_shutdown_requested = 0;
volatile std::sig_atomic_t g_reboot_requested = 0;
std::atomic<io_reactor_t *> g_signal_reactor{nullptr};

void reboot_from_signal() {
    g_reboot_requested = 1;
    if (io_reactor_t *r = g_signal_reactor.load()) io_reactor_wakeup(r);
}

void shutdown_from_signal() {
    g_shutdown_requested = 1;
    if (io_reactor_t *r = g_signal_reactor.load()) io_reactor_wakeup(r);
}

// Contexts are always Endpoint pointers: a Link* converted straight to
// void* would point at its TelnetHandler base (the polymorphic one comes first).
void *context_of(Endpoint &e) { return &e; }

constexpr auto timer_period = std::chrono::milliseconds(250);
constexpr auto flush_grace = std::chrono::seconds(5);
// How long a stopped MCCP2 stream is kept for a restart (see Link).
constexpr auto spare_compressor_keep = std::chrono::seconds(10);
// A link's output of one loop turn is one write; past this it goes out early.
constexpr std::size_t batch_limit = 64 * 1024;
// Before login, input is taken in slices this big, so a client that
// exceeds its budget is cut within one slice, not one whole read.
constexpr std::size_t prelogin_slice = 256;
// Hot reboot: how long output may take to flush before the hand-over, and
// how long the new process has to say it adopted everything.
constexpr auto reboot_flush_grace = std::chrono::seconds(2);
constexpr auto adoption_timeout = std::chrono::seconds(10);
const char *const reboot_line = "The world shimmers...\n";
const char mccp2_start[] = {'\xff', '\xfa', '\x56', '\xff', '\xf0'};  // IAC SB MCCP2 IAC SE
// A lingering close (after an HTTP answer or a TLS alert) reads and throws
// away at most this much, for at most this long, before it closes anyway.
constexpr std::size_t linger_bytes = 64 * 1024;
constexpr auto linger_time = std::chrono::seconds(2);
// Log lines about connections that never became sessions: this many a
// second, the rest counted (a flood must not flood the log).
constexpr std::size_t log_burst = 10;
constexpr const char *selfsigned_cert = "ior-mud-selfsigned.crt";
constexpr const char *selfsigned_key = "ior-mud-selfsigned.key";

// A layer's error for the log, naming the layer once.
std::string layer_error(const Transport &t) {
    std::string prefix = std::string(t.name()) + ":";
    return t.error().rfind(prefix, 0) == 0 ? t.error() : prefix + " " + t.error();
}

std::string transport_summary(const Link &l) {
    std::string s;
    auto add = [&](const std::string &part) { s += (s.empty() ? "" : ", ") + part; };
    if (auto *t = l.stack.find<tls::Layer>()) add(t->protocol() + " " + t->cipher());
    if (auto *w = l.stack.find<ws::Layer>())
        add("websocket " + (w->protocol().empty() ? std::string("(no subprotocol)") : w->protocol()));
    if (!l.proxy_peer.empty()) add("via proxy " + l.proxy_peer);
    return s.empty() ? "telnet" : s;
}

bool backend_built_in(const std::string &name) {
    for (const char *const *b = io_reactor_backends(); b && *b; ++b)
        if (name == *b) return true;
    return false;
}

std::string built_in_backends() {
    std::string list;
    for (const char *const *b = io_reactor_backends(); b && *b; ++b)
        list += (list.empty() ? "" : ", ") + std::string(*b);
    return list;
}

}  // namespace

// ---- User -------------------------------------------------------------------

bool User::is_console() const { return link_ && link_->console; }

const telnet::ClientInfo *User::client() const {
    return link_ && link_->tn ? &link_->tn->client() : nullptr;
}

bool User::compressed() const { return link_ && link_->z; }

std::size_t User::queued_output() const {
    return link_ && !link_->console
               ? io_reactor_queued_bytes(comm_.reactor_, link_->fd) + link_->stack.buffered()
               : 0;
}

std::string User::transport() const {
    if (!link_) return {};
    return link_->console ? "console" : transport_summary(*link_);
}

bool User::secure() const {
    if (!link_) return false;
    auto *t = link_->stack.find<tls::Layer>();
    return t && t->state() == TransportState::open;
}

std::size_t User::queued_input() const { return link_ ? link_->command_bytes : 0; }

void User::write(std::string_view text) {
    if (!link_ || link_->closing) return;
    if (link_->console)
        comm_.send(*link_, text);
    else
        comm_.send(*link_, telnet::Telnet::encode(text));
}

void User::prompt(std::string_view text) {
    write(text);
    if (link_ && link_->tn) {
        std::string end = link_->tn->prompt_end();
        if (!end.empty()) comm_.send(*link_, end);
    }
}

void User::hide_input(bool hide) {
    if (link_ && link_->tn) link_->tn->hide_input(hide);
}

void User::send_gmcp(std::string_view package, std::string_view json) {
    if (!link_ || !link_->tn) return;
    std::string msg = link_->tn->gmcp(package, json);
    if (!msg.empty()) comm_.send(*link_, msg);
}

void User::msdp_update(std::string_view name, msdp::Value value) {
    if (Comm::set_variable(msdp_, name, value) && link_ && link_->tn) link_->tn->msdp_changed(name, value);
}

void User::disconnect(std::string_view farewell) {
    if (ending_) return;
    if (link_) {
        comm_.log_("disconnect " + comm_.describe(*this) + ": ended by server");
        write(farewell);
        Link *link = link_;
        if (link) {
            link->user = nullptr;
            link_ = nullptr;
            comm_.close_link(*link);
        }
    }
    comm_.end_user(*this);
}

// ---- Comm: setup ------------------------------------------------------------

Comm::Comm(const Config &config, Application &app, Logger log)
    : cfg_(config), app_(app),
      log_([log = std::move(log)](const std::string &line) { log(escape_controls(line)); }),
      admission_(config.max_per_address, config.max_connects_per_minute) {}

Comm::~Comm() {
    for (auto &l : links_)
        if (!l->dead) finish_link(*l);
    for (auto &l : listeners_) {
        io_reactor_remove(reactor_, l->fd);
        net::close_socket(l->fd);
    }
    if (reactor_) {
        g_signal_reactor.store(nullptr);
        io_reactor_destroy(reactor_);
    }
}

bool Comm::start(std::string &error) {
    if (!net::startup(error)) return false;
    if (cfg_.backend != "auto" && !backend_built_in(cfg_.backend)) {
        error = cfg_.origin("io_reactor_backend") + ": backend '" + cfg_.backend +
                "' is not built in (available: " + built_in_backends() + ")";
        return false;
    }
    io_reactor_config_t rc{};
    rc.backend = cfg_.backend == "auto" ? nullptr : cfg_.backend.c_str();
    rc.max_events = cfg_.max_events;
    rc.pool_size = cfg_.pool_size;
    if (cfg_.trace_reactor) {
        rc.trace = [](void *self, const char *line) {
            static_cast<Comm *>(self)->log_(std::string("io_reactor: ") + line);
        };
        rc.trace_user = this;
    }
    reactor_ = io_reactor_create_with(&rc);
    if (!reactor_) {
        error = cfg_.origin("io_reactor_backend") + ": cannot create the reactor (backend " + cfg_.backend +
                "): " + io_reactor_strerror(io_reactor_last_error(nullptr));
        return false;
    }
    g_shutdown_requested = 0;  // a signal before this run belongs to no server
    g_reboot_requested = 0;
    g_signal_reactor.store(reactor_);
    net::on_shutdown_signal(shutdown_from_signal);
    if (handover::supported()) handover::on_reboot_signal(reboot_from_signal);
    if (!prepare_tls(error)) return false;
    return adoption_ ? adopt(error) : open_listeners(error);
}

// One context for every TLS listener. With no certificate configured, a
// self-signed pair is made beside the config file at first start and reused
// later, so clients that pinned it keep working across restarts; where that
// directory is not writable (a packaged config under /usr/share), or for the
// built-in config, the working directory serves.
bool Comm::prepare_tls(std::string &error) {
    const bool adopting_tls = adoption_ && std::any_of(adoption_->listeners.begin(), adoption_->listeners.end(),
                                                       [](const reboot::ListenerState &l) { return l.layers & reboot::layer_tls; });
    if (!adopting_tls && std::none_of(cfg_.listeners.begin(), cfg_.listeners.end(), [](const ListenSpec &l) { return l.tls; }))
        return true;
    std::string cert = cfg_.tls_certificate, key = cfg_.tls_key;
    if (cert.empty() && !self_signed_pair(cert, key, error)) return false;
    tls_ = tls::Context::server(cert, key, error);
    if (!tls_ && !cfg_.tls_certificate.empty()) error = cfg_.origin("tls certificate") + ": " + error;
    return tls_ != nullptr;
}

bool Comm::self_signed_pair(std::string &cert, std::string &key, std::string &error) {
    namespace fs = std::filesystem;
    std::error_code ec;
    std::vector<fs::path> dirs;
    if (fs::is_regular_file(cfg_.source, ec)) dirs.push_back(fs::path(cfg_.source).parent_path());
    dirs.push_back(fs::path());  // the working directory
    std::string tried;
    for (const fs::path &dir : dirs) {
        cert = (dir / selfsigned_cert).string();
        key = (dir / selfsigned_key).string();
        std::string shown = fs::absolute(cert, ec).string() + " (key " + fs::absolute(key, ec).string() + ")";
        if (fs::exists(cert, ec) && fs::exists(key, ec)) {
            log_("tls: no certificate configured; using the self-signed one made at an earlier start: " + shown);
            return true;
        }
        std::string why;
        if (tls::make_self_signed(cert, key, "localhost", 3650, why)) {
            log_("tls: no certificate configured; made a self-signed one (CN localhost, 10 years): " + shown +
                 "; set 'tls certificate' and 'tls key' to use your own");
            return true;
        }
        tried += (tried.empty() ? "" : "; ") + why;
    }
    error = "tls: no certificate configured and cannot make a self-signed one: " + tried +
            " (set 'tls certificate' and 'tls key')";
    return false;
}

// MSSP advertises ports clients connect to directly: not a proxy's.
void Comm::note_advertised_port(const ListenSpec &spec, int port) {
    if (spec.tls && !spec.proxy && !tls_port_) tls_port_ = port;
    if (spec.websocket && !spec.proxy && !websocket_port_) websocket_port_ = port;
}

bool Comm::open_listeners(std::string &error) {
    auto open = [&](const ListenSpec &spec, bool v6, const std::string &addr, int port, bool required) {
        std::string why;
        socket_fd_t fd = net::open_listener(v6, addr, port, why);
        std::string shown = addr.empty() ? (v6 ? "::" : "0.0.0.0") : addr;
        if (v6) shown = "[" + shown + "]";
        if (!net::valid(fd)) {
            if (required)
                error = (spec.origin.empty() ? "" : spec.origin + ": ") + "cannot listen on " + shown + ":" +
                        std::to_string(port) + ": " + why;
            else log_("note: no IPv6 listener on port " + std::to_string(port) + ": " + why);
            return -1;
        }
        int bound = net::local_port(fd);
        std::string layers = spec.layers();
        auto l = std::make_unique<Listener>(fd, shown + ":" + std::to_string(bound) +
                                                    (layers.empty() ? "" : " (" + layers + ")"), spec);
        note_advertised_port(spec, bound);
        if (io_reactor_add_listener(reactor_, fd, context_of(*l)) != 0) {
            error = "cannot register listener " + l->name + ": " +
                    io_reactor_strerror(io_reactor_last_error(reactor_));
            net::close_socket(fd);
            return -1;
        }
        listeners_.push_back(std::move(l));
        return bound;
    };
    for (const ListenSpec &spec : cfg_.listeners) {
        using F = ListenSpec::Family;
        if (spec.family == F::any) {
            int port = open(spec, false, "", spec.port, true);
            if (port < 0) return false;
            open(spec, true, "", port, false);  // a host without IPv6 still serves IPv4
        } else if (open(spec, spec.family == F::ipv6, spec.address, spec.port, true) < 0) {
            return false;
        }
    }
    return true;
}

bool Comm::add_console(std::string &error) {
    auto link = std::make_unique<Link>(*this, io_reactor_console_fd(), true);
    link->address = "console";
    if (io_reactor_add_console(reactor_, context_of(*link)) != 0) {
        error = std::string("cannot read the console: ") +
                io_reactor_strerror(io_reactor_last_error(reactor_));
        return false;
    }
    Link &l = *link;
    links_.push_back(std::move(link));
    auto user = std::unique_ptr<User>(new User(*this, next_id_++));
    user->link_ = &l;
    user->address_ = l.address;
    user->last_input_ = now();
    l.user = user.get();
    User &u = *user;
    users_.push_back(std::move(user));
    log_("connect " + describe(u));
    app_.on_connect(u);
    return true;
}

const char *Comm::backend_name() const { return reactor_ ? io_reactor_backend_name(reactor_) : "none"; }

std::string Comm::listening_on() const {
    std::string s;
    for (const auto &l : listeners_) s += (s.empty() ? "" : " ") + l->name;
    return s;
}

std::vector<User *> Comm::users() const {
    std::vector<User *> out;
    for (const auto &u : users_)
        if (!u->ending_) out.push_back(u.get());
    return out;
}

std::size_t Comm::connection_count() const {
    return static_cast<std::size_t>(std::count_if(links_.begin(), links_.end(),
                                                  [](const auto &l) { return !l->dead; }));
}

std::string Comm::describe(const User &user) const {
    return "#" + std::to_string(user.id_) + " " + user.address_;
}

void Comm::request_shutdown() { shutdown_from_signal(); }

// ---- Comm: the loop -----------------------------------------------------------

int Comm::run() {
    std::vector<io_event_t> events(static_cast<std::size_t>(cfg_.max_events > 0 ? cfg_.max_events : 128));
    while (true) {
        if (g_shutdown_requested && !shutting_down_) begin_shutdown();
        if (g_reboot_requested && !shutting_down_ && hot_reboot(events)) return 0;
        flush_output();
        if (shutting_down_ && (connection_count() == 0 || now() >= shutdown_deadline_)) break;
        bool busy = std::any_of(links_.begin(), links_.end(),
                                [](const auto &l) { return !l->dead && !l->commands.empty(); });
        timeval tv{0, busy ? 0 : static_cast<long>(std::chrono::microseconds(timer_period).count())};
        int n = io_reactor_wait(reactor_, events.data(), static_cast<int>(events.size()), &tv);
        if (n < 0) {
            log_(std::string("io_reactor_wait failed: ") + io_reactor_strerror(io_reactor_last_error(reactor_)));
            return 1;
        }
        for (int i = 0; i < n; ++i) dispatch(events[static_cast<std::size_t>(i)]);
        process_notices();
        run_commands();
        process_notices();
        run_timers(now());
        process_notices();
        reap();
    }
    finish_shutdown();
    return 0;
}

void Comm::dispatch(const io_event_t &ev) {
    if (ev.event_type == IO_EVENT_NONE || !ev.context) return;
    auto *ep = static_cast<Endpoint *>(ev.context);
    if (ep->kind == Endpoint::Kind::listener) {
        if (ev.event_type == EVENT_ACCEPT) accept(static_cast<Listener &>(*ep), ev.accepted_fd);
        else if (ev.event_type == EVENT_ERROR)
            log_("listener " + static_cast<Listener &>(*ep).name + ": " + io_reactor_strerror(ev.error));
        return;
    }
    Link &link = static_cast<Link &>(*ep);
    if (link.dead) return;
    switch (ev.event_type) {
    case EVENT_READ:
        on_socket_input(link, std::string_view(static_cast<const char *>(ev.buffer),
                                               static_cast<std::size_t>(ev.bytes_transferred)));
        break;
    case EVENT_WRITE:
        if (link.closing && link.linger && !link.draining && !shutting_down_) {
            // Everything is out: now FIN, then read until the peer closes.
            if (io_reactor_queued_bytes(reactor_, link.fd) > 0) break;
            link.draining = true;
            net::shutdown_write(link.fd);
            link.close_deadline = now() + linger_time;
            update_interest(link);
        } else if (link.closing) {
            finish_link(link);
        } else if (link.throttled) {
            check_output(link);
        }
        break;
    case EVENT_CLOSE:
        // Commands already received still run (a client may send "quit"
        // and close at once); the link goes when they are done.
        link.eof = true;
        if (link.closing || !link.user) finish_link(link);
        else if (link.commands.empty() && link.held.empty()) lose_link(link, "closed by peer");
        break;
    case EVENT_ERROR:
        lose_link(link, std::string("connection error: ") + io_reactor_strerror(ev.error), false);
        break;
    }
}

void Comm::accept(Listener &listener, socket_fd_t fd) {
    // The comm layer's choice, not the reactor's: it is this layer that
    // writes a reply in pieces (telnet verbs, text, GA) and wants each piece
    // out at once, while a bulk user of the reactor may want Nagle.
    net::set_no_delay(fd);
    auto link = std::make_unique<Link>(*this, fd, false, listener.spec.websocket);
    link->address = net::peer_name(fd);
    link->host = Admission::host_of(link->address);
    link->listener = listener.name;
    link->via_proxy = listener.spec.proxy;
    link->accepted_at = now();
    if (io_reactor_add(reactor_, fd, context_of(*link), EVENT_READ) != 0) {
        log_("cannot register connection from " + link->address + ": " +
             io_reactor_strerror(io_reactor_last_error(reactor_)));
        net::close_socket(fd);
        return;
    }
    Link &l = *link;
    links_.push_back(std::move(link));
    if (l.via_proxy) {
        // Only a proxy may say who the client is; admission waits for the
        // header's address (take_proxy_header).
        if (!cfg_.proxy_trusted.trusts(l.address)) {
            log_limited("refused " + l.address + " on " + listener.name +
                        ": not a trusted proxy (see 'proxy trusted')");
            l.started = true;
            finish_link(l);
            return;
        }
    } else {
        bool log_it = true;
        if (std::string why = refusal(l, log_it); !why.empty()) {
            if (log_it) log_("refused " + l.address + " on " + listener.name + ": " + why);
            l.started = true;
            // Said in plain text only where plain text is the protocol; a
            // TLS or HTTP client just sees the close.
            if (listener.spec.layers().empty()) send(l, "Sorry, " + why + ". Try again later.\r\n");
            close_link(l);
            return;
        }
    }
    if (build_stack(listener, l) && l.stack.empty()) start_session(l);
}

// The listener's layers for a new link. Until they are all open the link
// is no session: it costs a slot among `max handshaking connections` and
// is dropped at `tls handshake timeout`. False when it was refused.
bool Comm::build_stack(Listener &listener, Link &l) {
    const ListenSpec &spec = listener.spec;
    if (!spec.proxy && !spec.tls && !spec.websocket) return true;
    if (handshaking_ >= cfg_.max_handshakes) {
        log_limited("refused " + l.address + " on " + listener.name + ": " + std::to_string(handshaking_) +
                    " connections are still handshaking ('max handshaking connections')");
        l.started = true;
        finish_link(l);
        return false;
    }
    if (spec.proxy) l.stack.push(std::make_unique<proxy::ProxyLayer>());
    if (spec.tls) l.stack.push(std::make_unique<tls::Layer>(tls_));
    if (spec.websocket) {
        ws::Limits limits;
        limits.max_frame = cfg_.websocket_max_frame;
        limits.max_message = cfg_.websocket_max_message;
        l.stack.push(std::make_unique<ws::Layer>(cfg_.websocket_client ? web_files_ : ws::FileLookup(), limits));
    }
    l.handshaking = true;
    ++handshaking_;
    return true;
}

// The link's layers are open (or it has none): it becomes a session and
// the application greets it.
void Comm::start_session(Link &l) {
    l.started = true;
    std::string why = shutting_down_ ? "the server is shutting down"
                      : users().size() >= cfg_.max_users ? "the server is full" : "";
    if (!why.empty()) {
        log_("refused " + l.address + " on " + l.listener + ": " + why);
        send(l, "Sorry, " + why + ". Try again later.\r\n");
        close_link(l);
        return;
    }
    auto user = std::unique_ptr<User>(new User(*this, next_id_++));
    user->link_ = &l;
    user->address_ = l.address;
    user->connected_at_ = user->last_input_ = now();
    l.user = user.get();
    User &u = *user;
    users_.push_back(std::move(user));
    log_("connect " + describe(u) + " on " + l.listener + (l.stack.empty() ? "" : " [" + transport_summary(l) + "]"));
    l.tn->start();
    if (l.user) app_.on_connect(u);
}

// Socket bytes through the link's layers; what comes out on top is telnet.
void Comm::on_socket_input(Link &link, std::string_view bytes) {
    if (link.draining) {
        link.drained += bytes.size();
        if (link.drained > linger_bytes) finish_link(link);
        return;
    }
    if (link.stack.empty()) return on_input(link, bytes);
    if (link.closing) return;
    // What this turn wrote so far goes before anything the layers answer
    // now (a close frame, a TLS alert must be the last thing sent).
    write_batch(link);
    if (link.dead) return;
    std::string up, down;
    link.stack.receive(bytes, up, down);
    post_socket(link, down);
    if (link.dead) return;
    if (link.via_proxy && link.proxy_peer.empty() && !take_proxy_header(link)) return;
    if (const Transport *bad = link.stack.failed()) {
        // Its last words (a TLS alert, an HTTP error, a close frame) are
        // already queued: flush them, then go, lingering.
        link.linger = true;
        if (link.user) lose_link(link, layer_error(*bad));
        else drop_unstarted(link, layer_error(*bad));
        return;
    }
    const TransportState st = link.stack.state();
    if (link.handshaking && st != TransportState::handshaking) handshake_done(link);
    if (st == TransportState::open && !link.started) start_session(link);
    if (!up.empty() && link.user && !link.closing && !link.dead) on_input(link, up);
    if (st != TransportState::closed || link.dead || link.closing) return;
    // The peer ended the stream (close frame, close_notify), or a web
    // client's file was served: like an EOF.
    if (!link.started) {
        link.started = true;
        link.linger = true;
        close_link(link);
    } else if (link.user) {
        link.eof = true;
        if (link.commands.empty() && link.held.empty()) lose_link(link, "closed by peer");
        else update_interest(link);
    } else {
        close_link(link);
    }
}

// Behind a proxy, once the header is read: its source is the client's
// address from now on (logs, `who`, the application, admission). False
// when the link was refused.
bool Comm::take_proxy_header(Link &link) {
    auto *p = link.stack.find<proxy::ProxyLayer>();
    if (!p || p->state() != TransportState::open) return true;  // waiting, or failed (the caller logs)
    link.proxy_peer = link.address;
    if (p->header().has_address()) {
        link.address = p->header().source;
        link.host = Admission::host_of(link.address);
    }
    bool log_it = true;
    std::string why = refusal(link, log_it);
    if (why.empty()) return true;
    if (log_it) log_("refused " + link.address + " (via proxy " + link.proxy_peer + ") on " + link.listener + ": " + why);
    link.started = true;
    if (link.stack.state() == TransportState::open) send(link, "Sorry, " + why + ". Try again later.\r\n");
    link.linger = true;
    close_link(link);
    return false;
}

void Comm::handshake_done(Link &link) {
    if (!link.handshaking) return;
    link.handshaking = false;
    --handshaking_;
}

// A connection that failed in its layers before it became a session: one
// (rate-limited) log line, its last words flushed, a lingering close.
void Comm::drop_unstarted(Link &link, const std::string &why) {
    log_limited(link.address + " on " + link.listener + ": " + why);
    link.started = true;
    link.linger = true;
    close_link(link);
}

void Comm::log_limited(const std::string &line) {
    const auto t = now();
    if (t >= log_quiet_until_) {
        std::string note = log_suppressed_ ? " (" + std::to_string(log_suppressed_) + " similar lines left out)" : "";
        log_quiet_until_ = t + std::chrono::seconds(1);
        log_suppressed_ = 0;
        log_budget_ = log_burst;
        log_(line + note);
        --log_budget_;
    } else if (log_budget_ > 0) {
        --log_budget_;
        log_(line);
    } else {
        ++log_suppressed_;
    }
}

void Comm::add_transport_mssp(std::vector<std::pair<std::string, std::string>> &vars) const {
    auto add = [&](const char *key, int port) {
        if (port && std::none_of(vars.begin(), vars.end(), [&](const auto &v) { return v.first == key; }))
            vars.emplace_back(key, std::to_string(port));
    };
    add("TLS", tls_port_);  // Mudlet reads TLS (and SSL, the older name)
    add("SSL", tls_port_);
    add("WEBSOCKET", websocket_port_);
}

// Why `link` may not become a user ("" if it may). A refused connection
// costs one short write; only the first refusal of an address per minute is
// logged, so a flood of connections cannot flood the log.
std::string Comm::refusal(Link &link, bool &log_it) {
    if (shutting_down_) return "the server is shutting down";
    if (users().size() >= cfg_.max_users) return "the server is full";
    Admission::Verdict v = admission_.admit(link.host, now());
    if (v.refusal) {
        log_it = v.first_refusal;
        return v.refusal;
    }
    link.admitted = true;
    return {};
}

// Before login the read is taken in slices and held against the budget
// after each. (Replies go out with the rest of the turn's output: one
// write, however many a negotiation storm asks for.)
void Comm::on_input(Link &link, std::string_view bytes) {
    if (link.closing || !link.user) return;
    const auto t = now();
    link.user->last_input_ = t;
    if (link.tn) link.tn->set_time(t);
    const bool budgeted = !link.console && !link.user->logged_in_;
    while (!bytes.empty() && !link.dead && !link.closing && link.user) {
        // Where MCCP3 is on, input is taken in slices too: a slice inflates
        // to at most Decompressor's per-feed budget, and once the command
        // queue is full the rest of the read is held, so a compressed flood
        // stops at max input queue like a plain one.
        const bool sliced = budgeted || (link.tn && link.tn->local_enabled(telnet::OPT_MCCP3));
        std::string_view part = bytes.substr(0, sliced ? prelogin_slice : bytes.size());
        bytes.remove_prefix(part.size());
        take_input(link, part);
        if (budgeted && !link.dead && link.user && !link.user->logged_in_) {
            if (std::string over = over_budget(link); !over.empty()) {
                lose_link(link, "over the pre-login budget (" + over + "); last input \"" +
                                    escape_bytes(part.substr(0, 48)) + "\"", false);
                return;
            }
        }
        if (sliced && !bytes.empty() && link.command_bytes > cfg_.max_input_queue) {
            link.held.assign(bytes);  // at most the rest of one read; resumed in run_commands
            break;
        }
    }
    if (!link.dead && link.user && !link.input_paused && link.command_bytes > cfg_.max_input_queue) {
        link.input_paused = true;
        if (!link.flood_logged)
            log_("input flood from " + describe(*link.user) + ": reading paused until it catches up");
        link.flood_logged = true;
        update_interest(link);
    }
}

void Comm::take_input(Link &link, std::string_view bytes) {
    std::string data;
    if (link.tn) link.tn->feed(bytes, data);
    else data.assign(bytes);
    if (link.dead) return;  // a telnet reply overflowed the output cap
    bool cut_any = false;
    const bool counting = link.user && !link.user->logged_in_;
    link.lines.feed(data, [&](std::string_view line, bool cut) {
        cut_any = cut_any || cut;
        // Control bytes go here, for every application: player text may
        // reach other players' terminals and the log.
        link.command_bytes += link.commands.emplace_back(clean_text(line)).size() + 1;
        if (counting) ++link.lines_before_login;
    });
    if (cut_any && link.user)
        link.user->write("[Your line was too long; it was cut to " +
                         std::to_string(cfg_.max_line_length) + " characters.]\n");
}

// What a client that has not logged in has made the server do, against
// the configured budget: empty while within it, else what ran over.
std::string Comm::over_budget(const Link &link) const {
    auto over = [](const char *what, std::size_t used, std::size_t cap) {
        return cap && used > cap ? std::string(what) + " " + std::to_string(used) + " > " + std::to_string(cap)
                                 : std::string();
    };
    const telnet::Telnet::Stats none{};
    const telnet::Telnet::Stats &st = link.tn ? link.tn->stats() : none;
    std::string r = over("negotiation replies", st.replies_sent, cfg_.login_replies);
    if (r.empty()) r = over("subnegotiation bytes", st.subnegotiation_bytes, cfg_.login_subnegotiation);
    if (r.empty()) r = over("lines", link.lines_before_login, cfg_.login_lines);
    return r;
}

// One command per user per turn, like a driver's backend loop: a flooding
// user cannot starve the others, and its queue is what pauses its reading.
void Comm::run_commands() {
    std::size_t count = users_.size();
    for (std::size_t i = 0; i < count; ++i) {
        User &u = *users_[i];
        Link *link = u.link_;
        if (u.ending_ || !link || link->dead || link->closing) continue;
        if (!link->commands.empty()) {
            std::string line = std::move(link->commands.front());
            link->commands.pop_front();
            link->command_bytes -= line.size() + 1;
            app_.on_line(u, line);
        }
        if (link->dead || link->closing) continue;
        if (link->input_paused && link->command_bytes <= cfg_.max_input_queue / 2) {
            link->input_paused = false;
            if (!link->held.empty()) {
                on_input(*link, std::exchange(link->held, {}));
                if (link->dead || link->closing || !link->user) continue;
            }
            update_interest(*link);
        }
        if (link->eof && link->commands.empty() && link->held.empty() && link->user)
            lose_link(*link, "closed by peer");
    }
}

void Comm::run_timers(Clock::time_point now) {
    if (now < next_timer_check_) return;
    next_timer_check_ = now + timer_period;
    const auto idle = std::chrono::seconds(cfg_.idle_timeout);
    const auto netdead = std::chrono::seconds(cfg_.netdead_timeout);
    const auto login = std::chrono::seconds(cfg_.login_timeout);
    std::size_t count = users_.size();
    for (std::size_t i = 0; i < count; ++i) {
        User &u = *users_[i];
        if (u.ending_) continue;
        // Counted from the connect, not from the last byte: a client that
        // trickles a byte (or IAC NOP) now and then still has to log in.
        if (u.link_ && !u.link_->console && !u.logged_in_ && cfg_.login_timeout > 0 &&
            now - u.connected_at_ > login) {
            log_("login timeout " + describe(u));
            u.disconnect("\nYou took too long to log in. Goodbye.\n");
        } else if (u.link_ && !u.link_->console && cfg_.idle_timeout > 0 && now - u.last_input_ > idle) {
            log_("idle timeout " + describe(u));
            u.disconnect("\nYou have been idle too long. Goodbye.\n");
        } else if (!u.link_ && now - u.netdead_since_ > netdead) {
            log_("net-dead session expired " + describe(u));
            end_user(u);
        }
    }
    const auto handshake = std::chrono::seconds(cfg_.handshake_timeout);
    for (auto &l : links_) {
        if (l->dead) continue;
        if (l->handshaking && !l->closing && now - l->accepted_at > handshake) {
            const Transport *t = l->stack.handshaking();
            std::string what = !t ? "handshake" : std::string(t->name()) == "proxy" ? "proxy: no PROXY header"
                             : std::string(t->name()) == "tls" ? "tls: handshake not done"
                             : std::string(t->name()) + ": no complete HTTP request";
            log_limited(l->address + " on " + l->listener + ": " + what + " after " +
                        std::to_string(cfg_.handshake_timeout) + "s ('tls handshake timeout'); dropped");
            l->started = true;
            finish_link(*l);
            continue;
        }
        if (l->closing && now >= l->close_deadline) finish_link(*l);
        else if (l->throttled) check_output(*l);
        if (l->spare_z && now - l->spare_since > spare_compressor_keep) l->spare_z.reset();
    }
    admission_.forget_idle(now);
}

void Comm::begin_shutdown() {
    shutting_down_ = true;
    shutdown_deadline_ = now() + flush_grace;
    log_("shutting down: " + std::to_string(users().size()) + " users");
    for (auto &l : listeners_) {
        io_reactor_remove(reactor_, l->fd);
        net::close_socket(l->fd);
    }
    listeners_.clear();
    std::size_t count = users_.size();
    for (std::size_t i = 0; i < count; ++i)
        users_[i]->disconnect("\nThe server is shutting down. Goodbye!\n");
    // Connections still in their handshakes have no one to say goodbye to,
    // and lingering ones have had their answer (it is out, FIN sent).
    for (auto &l : links_)
        if (!l->dead && !l->user && !l->console && (!l->closing || l->draining)) finish_link(*l);
}

// Links still flushing at the deadline are cut, and every session still
// open ends here, net-dead ones included: they have no link to wait for.
void Comm::finish_shutdown() {
    for (auto &l : links_)
        if (!l->dead) finish_link(*l);
    for (auto &u : users_) end_user(*u);
    process_notices();
    reap();
    log_("shutdown complete");
}

void Comm::process_notices() {
    while (!notices_.empty()) {
        auto [user, netdead] = notices_.front();
        notices_.pop_front();
        if (netdead) {
            if (!user->link_ && !user->ending_) app_.on_netdead(*user);
        } else {
            app_.on_disconnect(*user);
            user->gone_ = true;
        }
    }
}

void Comm::reap() {
    std::erase_if(pending_, [](const Link *l) { return l->dead; });
    std::erase_if(users_, [](const auto &u) { return u->gone_; });
    std::erase_if(links_, [](const auto &l) { return l->dead; });
}

bool Comm::reattach(User &old, User &fresh) {
    if (old.link_ || old.ending_ || !fresh.link_ || fresh.ending_ || &old == &fresh) return false;
    Link &l = *fresh.link_;
    fresh.link_ = nullptr;
    fresh.ending_ = fresh.gone_ = true;  // ends silently: it was only a login
    l.user = &old;
    old.link_ = &l;
    old.address_ = l.address;
    old.connected_at_ = old.last_input_ = now();  // a new connection for the session
    log_("reconnect " + describe(old) + " (login #" + std::to_string(fresh.id_) + ")");
    return true;
}

// ---- Comm: hot reboot (reboot.h, handover.h) ---------------------------------

void Comm::request_reboot(std::uint64_t by) {
    if (by) reboot_by_ = by;  // the loop thread only: signals pass 0
    reboot_from_signal();
}

// Old process: freeze, snapshot, unregister every socket and start the
// successor. True once it has adopted everything (this process then ends
// without touching a connection); false when it failed, and this process
// has taken everything back and carries on.
bool Comm::hot_reboot(std::vector<io_event_t> &events) {
    g_reboot_requested = 0;
    const std::uint64_t by = std::exchange(reboot_by_, 0);
    auto failed = [&](const std::string &why) {
        log_("reboot failed: " + why + "; carrying on");
        app_.on_reboot_failed(by, why);
        return false;
    };
    if (!handover::supported()) return failed(handover::unsupported_why());
    if (reboot_exe_.empty()) return failed("no binary to run (set_reboot_command was not called)");
    log_("reboot: handing " + std::to_string(connection_count()) + " connections to " + reboot_exe_);
    freeze_for_reboot(events);
    reboot::State state = snapshot();
    std::vector<socket_fd_t> fds;
    for (const auto &l : state.listeners) fds.push_back(static_cast<socket_fd_t>(l.fd));
    for (const auto &u : state.users)
        if (u.has_link && !u.link.console) fds.push_back(static_cast<socket_fd_t>(u.link.fd));
    unregister_all();
    std::string error;
    if (handover::run_successor(reboot_exe_, reboot_args_, reboot::write(state), fds, adoption_timeout, error)) {
        log_("reboot: the new process adopted " + std::to_string(state.users.size()) + " sessions; this one ends");
        for (auto &u : users_)
            if (!u->gone_) app_.on_handed_over(*u);
        return true;
    }
    resume_after_reboot_failed();
    return failed(error);
}

// Every player sees one line, MCCP2 streams end (the client falls back to
// plain), and output is flushed (bounded). Reading stays on, so nothing
// read is left inside the reactor: what arrives goes into the comm layer's
// own state (partial line, queued commands), which is handed on. Commands
// do not run meanwhile. `events` is the loop's array (removes write to it).
void Comm::freeze_for_reboot(std::vector<io_event_t> &events) {
    for (auto &lp : links_) {
        Link &l = *lp;
        if (l.dead || l.closing || !l.user) continue;
        if (!l.can_hand_over()) {
            l.user->write("\nThe server is restarting and your connection (encryption, WebSocket or compressed input)"
                          " cannot be carried over.\n"
                          "Please reconnect and log in again: your session waits for you.\n");
            lose_link(l, "its transport cannot be handed over");
            continue;
        }
        l.user->write(reboot_line);
        if (l.z) {
            l.mccp_before_reboot = true;
            send(l, l.stop_compression());
        }
        // Reading on for everyone (flow control paused some): bytes the
        // reactor holds for a paused handle would not reach the successor.
        l.input_paused = false;
        l.throttled = false;
        update_interest(l);
    }
    // The real clock: a test's frozen clock must not stall the hand-over.
    const auto deadline = Clock::now() + reboot_flush_grace;
    while (true) {
        flush_output();
        const bool pending = std::any_of(links_.begin(), links_.end(), [&](const auto &l) {
            return !l->dead && (l->closing || (!l->console && io_reactor_queued_bytes(reactor_, l->fd) > 0));
        });
        const bool last = !pending || Clock::now() >= deadline;
        timeval tv{0, last ? 0 : 20000};
        int n = io_reactor_wait(reactor_, events.data(), static_cast<int>(events.size()), &tv);
        for (int i = 0; i < n; ++i) dispatch(events[static_cast<std::size_t>(i)]);
        process_notices();
        // Only a wait that left nothing undelivered ends the freeze: a full
        // array may mean bytes still held in the reactor.
        if (last && n < static_cast<int>(events.size())) break;
    }
    flush_output();
    // What did not flush in time is not handed on: the rest of its output
    // (maybe the end of its MCCP2 stream) would be lost with the reactor's
    // queue, and the client could not make sense of what follows. It goes
    // net-dead, to log in again.
    for (auto &l : links_) {
        if (l->dead) continue;
        if (l->closing) finish_link(*l);
        else if (!l->console && io_reactor_queued_bytes(reactor_, l->fd) > 0)
            lose_link(*l, "output not flushed in time for the reboot", false);
    }
    process_notices();
    reap();
}

void Comm::unregister_all() {
    for (auto &l : listeners_) io_reactor_remove(reactor_, l->fd);
    for (auto &l : links_)
        if (!l->dead) io_reactor_remove(reactor_, l->fd);
}

reboot::State Comm::snapshot() {
    reboot::State st;
    st.next_id = next_id_;
    st.app = app_.save_state();
    for (const auto &l : listeners_) {
        std::uint32_t layers = (l->spec.proxy ? reboot::layer_proxy : 0) | (l->spec.tls ? reboot::layer_tls : 0) |
                               (l->spec.websocket ? reboot::layer_websocket : 0);
        st.listeners.push_back({static_cast<std::int64_t>(l->fd), l->name, layers});
    }
    const auto t = now();
    auto ms = [&](Clock::time_point since) {
        auto d = std::chrono::duration_cast<std::chrono::milliseconds>(t - since).count();
        return std::clamp<std::int64_t>(d, 0, std::int64_t(100) * 24 * 3600 * 1000);
    };
    for (const auto &up : users_) {
        const User &u = *up;
        Link *l = u.link_ && !u.link_->dead && !u.link_->closing ? u.link_ : nullptr;
        if (u.ending_ || u.gone_ || (!l && !u.keep_)) continue;
        reboot::UserState us;
        us.id = u.id_;
        us.address = u.address_;
        us.keep = u.keep_;
        us.logged_in = u.logged_in_;
        us.connected_ms = ms(u.connected_at_);
        us.idle_ms = ms(u.last_input_);
        us.netdead_ms = l ? 0 : ms(u.netdead_since_);
        us.app = app_.save_session(u);
        us.has_link = l != nullptr;
        if (l) {
            reboot::LinkState &ls = us.link;
            ls.console = l->console;
            ls.fd = l->console ? -1 : static_cast<std::int64_t>(l->fd);
            ls.address = l->address;
            if (l->tn) ls.telnet = l->tn->save();
            ls.mccp = l->mccp_before_reboot || l->z;
            ls.partial_line = l->lines.partial();
            ls.after_cr = l->lines.after_cr();
            ls.line_cut = l->lines.cut();
            ls.commands.assign(l->commands.begin(), l->commands.end());
            ls.lines_before_login = l->lines_before_login;
        }
        st.users.push_back(std::move(us));
    }
    return st;
}

// The successor failed: every socket goes back into this reactor, and
// compression restarts where it was on (the client saw the stream end).
void Comm::resume_after_reboot_failed() {
    for (auto &l : listeners_)
        if (io_reactor_add_listener(reactor_, l->fd, context_of(*l)) != 0)
            log_("reboot: cannot take listener " + l->name + " back: " +
                 io_reactor_strerror(io_reactor_last_error(reactor_)));
    for (auto &lp : links_) {
        Link &l = *lp;
        if (l.dead) continue;
        int rc = l.console ? io_reactor_add_console(reactor_, context_of(l))
                           : io_reactor_add(reactor_, l.fd, context_of(l), EVENT_READ);
        if (rc != 0) {
            l.dead = true;  // not registered: finish_link must not remove it
            if (!l.console) net::close_socket(l.fd);
            if (l.admitted) admission_.release(l.host);
            if (User *u = l.user) {
                l.user = nullptr;
                u->link_ = nullptr;
                log_("disconnect " + describe(*u) + ": cannot take the connection back after a failed reboot");
                if (u->keep_) {
                    u->netdead_since_ = now();
                    notices_.emplace_back(u, true);
                } else {
                    end_user(*u);
                }
            }
            continue;
        }
        l.interest = EVENT_READ;
        update_interest(l);
        if (std::exchange(l.mccp_before_reboot, false) && l.tn && l.tn->local_enabled(telnet::OPT_MCCP2)) {
            send(l, std::string_view(mccp2_start, sizeof mccp2_start));
            l.start_compression();
        }
    }
    process_notices();
}

// New process: the listeners and sessions of `adoption_`, in a fresh
// reactor. Nothing is written to any client until every session is in
// (a failure here must leave the old process's view of each stream true).
bool Comm::adopt(std::string &error) {
    reboot::State st = std::move(*adoption_);
    adoption_.reset();
    for (const auto &ls : st.listeners) {
        ListenSpec spec;
        spec.proxy = ls.layers & reboot::layer_proxy;
        spec.tls = ls.layers & reboot::layer_tls;
        spec.websocket = ls.layers & reboot::layer_websocket;
        if (spec.tls && !tls_) {
            error = "listener " + ls.name + " is a TLS listener, but this server has no TLS context";
            return false;
        }
        auto l = std::make_unique<Listener>(static_cast<socket_fd_t>(ls.fd), ls.name, spec);
        note_advertised_port(spec, net::local_port(l->fd));
        if (io_reactor_add_listener(reactor_, l->fd, context_of(*l)) != 0) {
            error = "cannot adopt listener " + ls.name + " (fd " + std::to_string(ls.fd) + "): " +
                    io_reactor_strerror(io_reactor_last_error(reactor_));
            return false;
        }
        handover::keep_private(l->fd);
        listeners_.push_back(std::move(l));
    }
    if (!app_.restore_state(st.app)) {
        error = "the application refused its saved state";
        return false;
    }
    next_id_ = st.next_id;
    for (const auto &us : st.users)
        if (!adopt_user(us, error)) return false;
    for (auto &lp : links_) {
        Link &l = *lp;
        if (!std::exchange(l.mccp_before_reboot, false) || !l.tn || !l.tn->local_enabled(telnet::OPT_MCCP2)) continue;
        if (Compressor::available()) {
            send(l, std::string_view(mccp2_start, sizeof mccp2_start));
            l.start_compression();
        } else {
            l.tn->request_local(telnet::OPT_MCCP2, false);  // this build has no zlib
        }
    }
    log_("reboot: adopted " + std::to_string(listeners_.size()) + " listeners and " +
         std::to_string(users_.size()) + " sessions (" + std::to_string(connection_count()) + " connected)");
    return true;
}

bool Comm::adopt_user(const reboot::UserState &us, std::string &error) {
    auto user = std::unique_ptr<User>(new User(*this, us.id));
    User &u = *user;
    u.address_ = us.address;
    u.keep_ = us.keep;
    u.logged_in_ = us.logged_in;
    const auto t = now();
    u.connected_at_ = t - std::chrono::milliseconds(us.connected_ms);
    u.last_input_ = t - std::chrono::milliseconds(us.idle_ms);
    u.netdead_since_ = t - std::chrono::milliseconds(us.netdead_ms);
    if (us.has_link) {
        const reboot::LinkState &ls = us.link;
        auto link = std::make_unique<Link>(*this, ls.console ? io_reactor_console_fd() : static_cast<socket_fd_t>(ls.fd),
                                           ls.console);
        Link &l = *link;
        l.address = ls.console ? "console" : ls.address;
        l.host = Admission::host_of(l.address);
        if (l.tn && !l.tn->restore(ls.telnet)) {
            error = "bad telnet state for session #" + std::to_string(us.id);
            return false;
        }
        int rc = ls.console ? io_reactor_add_console(reactor_, context_of(l))
                            : io_reactor_add(reactor_, l.fd, context_of(l), EVENT_READ);
        if (rc == 0) {
            if (!ls.console) handover::keep_private(l.fd);
            l.mccp_before_reboot = ls.mccp;
            l.lines.restore(ls.partial_line, ls.after_cr, ls.line_cut);
            for (const auto &c : ls.commands) l.command_bytes += l.commands.emplace_back(c).size() + 1;
            l.lines_before_login = static_cast<std::size_t>(ls.lines_before_login);
            l.user = &u;
            u.link_ = &l;
            links_.push_back(std::move(link));
        } else {
            // Gone in the hand-over (reset meanwhile): net-dead if kept.
            log_("reboot: session #" + std::to_string(us.id) + " " + us.address + " lost its connection: " +
                 io_reactor_strerror(io_reactor_last_error(reactor_)));
            if (!ls.console) net::close_socket(l.fd);
            u.netdead_since_ = t;
            if (!u.keep_) return true;  // never logged in: nothing to keep
        }
    }
    users_.push_back(std::move(user));
    if (!app_.restore_session(u, us.app)) {
        error = "the application refused session #" + std::to_string(us.id);
        return false;
    }
    return true;
}

// ---- Comm: MSDP values --------------------------------------------------------

// Sets `name` in `vars`; false if it already had that value.
bool Comm::set_variable(msdp::Variables &vars, std::string_view name, const msdp::Value &value) {
    for (auto &[n, v] : vars)
        if (n == name) return v == value ? false : (v = value, true);
    vars.emplace_back(std::string(name), value);
    return true;
}

void Comm::msdp_publish(std::string_view name, msdp::Value value) {
    if (!set_variable(msdp_, name, value)) return;
    for (auto &l : links_) {
        if (l->dead || !l->tn || !l->user) continue;
        msdp::Value own;
        if (!find_variable(l->user->msdp_, name, own)) l->tn->msdp_changed(name, value);
    }
}

bool Comm::find_variable(const msdp::Variables &vars, std::string_view name, msdp::Value &out) {
    for (const auto &[n, v] : vars)
        if (n == name) return out = v, true;
    return false;
}

std::vector<std::string> Comm::msdp_names(const User *user) const {
    std::vector<std::string> names;
    for (const auto &kv : msdp_) names.push_back(kv.first);
    if (user)
        for (const auto &kv : user->msdp_)
            if (std::find(names.begin(), names.end(), kv.first) == names.end()) names.push_back(kv.first);
    return names;
}

bool Comm::msdp_value(const User *user, std::string_view name, msdp::Value &out) const {
    return (user && find_variable(user->msdp_, name, out)) || find_variable(msdp_, name, out);
}

// ---- Comm: output and connection state --------------------------------------

void Comm::send(Link &link, std::string_view bytes) {
    if (link.dead || bytes.empty()) return;
    std::string packed;
    if (link.z) {
        packed = link.z->compress(bytes);
        bytes = packed;
    }
    if (link.console) {
        net::write_console(bytes);
        return;
    }
    // A link the reactor already holds output for is waiting for the peer:
    // appending to its queue costs no system call, and keeps the cap and
    // the watermarks acting on every write as they always have.
    if (link.closing || (link.batch.empty() && io_reactor_queued_bytes(reactor_, link.fd) > 0))
        return post(link, bytes);
    gather(link, bytes);
}

// Like a driver's backend loop, everything a link is sent in one turn (a
// say and its prompt, every line of a fan-out) leaves as one write at the
// end of the turn (flush_output), not one system call per piece. The batch
// holds wire bytes (compressed when MCCP2 is on, so its start and end fall
// in order), only while the reactor holds nothing for the link, and never
// past the high watermark: it can never be what should have throttled or
// dropped the link, so queued_output() and check_output() need not count it.
void Comm::gather(Link &link, std::string_view bytes) {
    if (!link.pending) {
        link.pending = true;
        pending_.push_back(&link);
    }
    link.batch += bytes;
    if (link.batch.size() >= std::min(batch_limit, cfg_.output_high_water)) write_batch(link);
}

void Comm::write_batch(Link &link) {
    if (link.batch.empty() || link.dead) return;
    std::string bytes = std::exchange(link.batch, {});
    post(link, bytes);
}

// End of a loop turn, before the next wait: O(links written), not O(links).
void Comm::flush_output() {
    while (!pending_.empty()) {
        flushing_.swap(pending_);
        for (Link *l : flushing_) {
            l->pending = false;
            write_batch(*l);
        }
        flushing_.clear();
        // A link dropped at a failed write: the application's goodbyes to
        // the others are more output of this turn.
        process_notices();
    }
}

// Application bytes: through the link's layers (TLS records, WebSocket
// frames), then to the socket.
void Comm::post(Link &link, std::string_view bytes) {
    if (link.stack.empty()) return post_socket(link, bytes);
    std::string wire;
    link.stack.send(bytes, wire);
    post_socket(link, wire);
}

void Comm::post_socket(Link &link, std::string_view bytes) {
    if (bytes.empty() || link.dead) return;
    if (io_reactor_post_write(reactor_, link.fd, const_cast<char *>(bytes.data()), bytes.size()) != 0) {
        lose_link(link, std::string("write failed: ") + io_reactor_strerror(io_reactor_last_error(reactor_)));
        return;
    }
    ++output_writes_;
    check_output(link);
}

void Comm::check_output(Link &link) {
    // Bytes a layer holds (TLS before its handshake ends) count as queued.
    std::size_t queued = io_reactor_queued_bytes(reactor_, link.fd) + link.stack.buffered();
    if (queued > cfg_.output_cap) {
        log_("dropped " + (link.user ? describe(*link.user) : link.address) +
             ": output buffer over its cap (" + std::to_string(queued) + " > " +
             std::to_string(cfg_.output_cap) + " bytes)");
        lose_link(link, "output over cap", false);
        return;
    }
    bool over = link.throttled ? queued > cfg_.output_low_water : queued > cfg_.output_high_water;
    if (over != link.throttled) {
        link.throttled = over;
        update_interest(link);
    }
}

void Comm::update_interest(Link &link) {
    if (link.dead) return;
    int want = 0;
    if (link.draining) want = EVENT_READ;
    else if (!link.closing && !link.input_paused && !link.throttled && !link.eof) want |= EVENT_READ;
    if (!link.console && !link.draining && (link.closing || link.throttled)) want |= EVENT_WRITE;
    if (want == link.interest) return;
    link.interest = want;
    if (io_reactor_modify(reactor_, link.fd, want) != 0)
        lose_link(link, std::string("modify failed: ") + io_reactor_strerror(io_reactor_last_error(reactor_)), false);
}

void Comm::lose_link(Link &link, const std::string &why, bool flush) {
    if (link.dead) return;
    if (User *u = link.user) {
        log_("disconnect " + describe(*u) + ": " + why);
        link.user = nullptr;
        u->link_ = nullptr;
        if (u->keep_ && !shutting_down_) {
            u->netdead_since_ = now();
            notices_.emplace_back(u, true);
        } else {
            end_user(*u);
        }
    }
    if (flush) close_link(link);
    else finish_link(link);
}

void Comm::close_link(Link &link) {
    if (link.dead || link.closing) return;
    std::string tail = link.stop_compression();
    link.spare_z.reset();
    send(link, tail);
    write_batch(link);
    if (link.dead) return;
    std::string bye;  // close frame, close_notify
    link.stack.close(bye);
    post_socket(link, bye);
    if (link.dead) return;
    link.closing = true;
    link.close_deadline = now() + flush_grace;
    if (link.console) finish_link(link);
    else update_interest(link);
}

void Comm::finish_link(Link &link) {
    if (link.dead) return;
    link.dead = true;
    handshake_done(link);
    if (link.admitted) admission_.release(link.host);
    link.batch.clear();
    io_reactor_remove(reactor_, link.fd);
    if (!link.console) net::close_socket(link.fd);
    if (User *u = link.user) {  // torn down under a live session (shutdown)
        link.user = nullptr;
        u->link_ = nullptr;
        end_user(*u);
    }
}

void Comm::end_user(User &user) {
    if (user.ending_) return;
    user.ending_ = true;
    notices_.emplace_back(&user, false);
}

}  // namespace comm
