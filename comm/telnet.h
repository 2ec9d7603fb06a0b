// The telnet protocol as a pure state machine: bytes from the peer go in,
// data bytes come out, and everything else (replies, subnegotiations, the
// client's window size and terminal type) goes through a TelnetHandler.
// No sockets here, so every sequence can be tested byte by byte, including
// IAC sequences split across reads.
//
// Option negotiation follows RFC 1143 (the "Q method"): each side of each
// option has a state and a one-slot queue, so two peers that both change
// their minds can never loop.
#pragma once

#include "mccp3.h"
#include "msdp.h"
#include "new_environ.h"

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace comm::telnet {

enum : std::uint8_t {
    IAC = 255, DONT = 254, DO = 253, WONT = 252, WILL = 251, SB = 250,
    GA = 249, EL = 248, EC = 247, AYT = 246, AO = 245, IP = 244, BRK = 243,
    DM = 242, NOP = 241, SE = 240, EOR_CMD = 239,
};

enum Option : std::uint8_t {
    OPT_ECHO = 1, OPT_SGA = 3, OPT_TTYPE = 24, OPT_EOR = 25, OPT_NAWS = 31,
    OPT_NEW_ENVIRON = 39, OPT_CHARSET = 42, OPT_MSDP = 69, OPT_MSSP = 70, OPT_MCCP2 = 86,
    OPT_MCCP3 = 87, OPT_GMCP = 201,
};

// Subnegotiation codes.
enum : std::uint8_t {
    TTYPE_IS = 0, TTYPE_SEND = 1,
    CHARSET_REQUEST = 1, CHARSET_ACCEPTED = 2, CHARSET_REJECTED = 3,
    MSSP_VAR = 1, MSSP_VAL = 2,
};

// What the session learned about the client.
struct ClientInfo {
    int width = 0, height = 0;     // NAWS; 0 until reported
    std::string client_name;       // first TTYPE reply (e.g. "TINTIN++")
    std::string terminal_type;     // second TTYPE reply (e.g. "XTERM-256COLOR")
    unsigned mtts = 0;             // MTTS bit flags, 0 if not reported
    std::string charset;           // "UTF-8" once agreed
    // NEW-ENVIRON with MNES: what the client says of itself. Shown, never
    // trusted (IPADDRESS included: it is whatever the client typed).
    bool gmcp = false, msdp = false;  // the client agreed (DO GMCP / DO MSDP)
    bool mnes = false;             // the client answered IS
    newenv::Mnes mnes_values;
    // MSDP variables the client set (CLIENT_NAME, ANSI_COLORS, ...),
    // printable and bounded (see Telnet::kMsdpClientVars).
    std::vector<std::pair<std::string, std::string>> msdp_client;
    // MCCP3: client-to-server compression.
    enum class Mccp3 : std::uint8_t { off, inflating, ended, failed };
    Mccp3 mccp3 = Mccp3::off;
    std::size_t mccp3_in = 0, mccp3_out = 0;  // compressed / inflated bytes so far
};

class TelnetHandler {
public:
    // Raw bytes for the peer (negotiation, subnegotiation). Must be sent
    // before anything written after this call returns.
    virtual void telnet_send(std::string_view bytes) = 0;
    virtual void telnet_option_changed(std::uint8_t option, bool local, bool enabled) {
        (void)option, (void)local, (void)enabled;
    }
    virtual void telnet_naws(int width, int height) { (void)width, (void)height; }
    virtual void telnet_ttype(std::string_view name) { (void)name; }
    virtual void telnet_charset(std::string_view name) { (void)name; }
    virtual void telnet_gmcp(std::string_view package, std::string_view data) {
        (void)package, (void)data;
    }
    // MCCP2: everything sent after start must go through the compressor;
    // after stop the stream is finished and output is plain again.
    virtual void telnet_compress(bool on) { (void)on; }
    // Variables for the MSSP reply, asked for when the client enables MSSP.
    virtual std::vector<std::pair<std::string, std::string>> telnet_mssp() { return {}; }
    // MSDP: the names a client may REPORT/SEND, and a value by name
    // (false if there is none). The application's store, read on demand.
    virtual std::vector<std::string> telnet_msdp_names() { return {}; }
    virtual bool telnet_msdp_value(std::string_view name, msdp::Value &out) {
        (void)name, (void)out;
        return false;
    }
    // The peer's input cannot be read any further (a corrupt MCCP3 stream,
    // a decompression bomb): the connection must be dropped. `why` may
    // quote peer bytes only escaped. Feed ignores input after this.
    virtual void telnet_input_failed(std::string_view why) { (void)why; }
    // A malformed subnegotiation was ignored (MSDP, NEW-ENVIRON); `why` is
    // printable. For the log; the session goes on.
    virtual void telnet_protocol_error(std::string_view why) { (void)why; }
    // Other commands (AYT, IP, BRK, ...).
    virtual void telnet_command(std::uint8_t command) { (void)command; }
    // The peer turned options on more often than Policy::max_option_changes
    // allows; from now on such requests are refused. Called once per Telnet.
    virtual void telnet_renegotiation_refused(std::uint8_t option, bool local) {
        (void)option, (void)local;
    }

protected:
    ~TelnetHandler() = default;
};

class Telnet {
public:
    // Which options this side agrees to, on each side. The defaults are
    // what the comm layer offers; tests narrow them.
    struct Policy {
        bool mccp2 = true;
        bool mccp3 = true;        // offered only if zlib is built in, too
        bool msdp = true;
        bool new_environ = true;  // MNES
        // Decompression budget per feed (MCCP3); see Decompressor::Limits.
        Decompressor::Limits inflate{};
        std::size_t max_subnegotiation = 8192;  // longer ones are dropped
        // How often the peer may turn one option (one side of it) on per
        // window; past that, further requests to enable it are refused
        // (WONT/DONT, the state stays off) until the window ends. This is
        // what keeps an option whose start is costly (MCCP2, MSSP, TTYPE)
        // from being toggled in a loop. 0: no limit.
        unsigned max_option_changes = 20;
        std::chrono::seconds option_change_window{60};
    };
    using Clock = std::chrono::steady_clock;

    // Counts what the peer has made this side do: replies and
    // subnegotiations sent, subnegotiation bytes received. The comm layer
    // holds these against its pre-login budget.
    struct Stats {
        std::size_t replies_sent = 0;
        std::size_t subnegotiation_bytes = 0;
    };

    Telnet(TelnetHandler &handler, Policy policy);
    Telnet(TelnetHandler &handler) : Telnet(handler, Policy{}) {}

    // Sends the server's initial offers (DO TTYPE, DO NAWS, WILL EOR, ...).
    void start();

    // Feeds bytes from the peer; data bytes are appended to `data`. Once
    // the client has started MCCP3 (IAC SB MCCP3 IAC SE) the bytes after
    // that IAC SE are inflated first, up to the end of the client's stream.
    void feed(std::string_view bytes, std::string &data);
    // True while MCCP3 input is being inflated: one fed byte may then give
    // many data bytes (the caller feeds small slices, see Comm::on_input).
    bool inflating() const { return inflater_ != nullptr; }
    // The time the renegotiation limit measures windows with; the caller
    // sets it before feed (a protocol layer reads no clock of its own).
    void set_time(Clock::time_point now) { now_ = now; }
    const Stats &stats() const { return stats_; }

    // Asks for an option on our side (WILL) or the peer's (DO), or for it
    // off; the Q method decides what, if anything, goes on the wire.
    void request_local(std::uint8_t option, bool enable);
    void request_remote(std::uint8_t option, bool enable);
    bool local_enabled(std::uint8_t option) const;
    bool remote_enabled(std::uint8_t option) const;

    // Hides the user's typing (WILL ECHO without echoing), e.g. for passwords.
    void hide_input(bool hide) { request_local(OPT_ECHO, hide); }

    // Text for the peer: IAC doubled, "\n" sent as CR LF.
    static std::string encode(std::string_view text);
    // What ends a prompt: IAC EOR if agreed, else IAC GA unless SGA is on.
    std::string prompt_end() const;
    // A GMCP message, empty if GMCP is not enabled.
    std::string gmcp(std::string_view package, std::string_view json) const;

    const ClientInfo &client() const { return client_; }

    // MSDP: the application's value for `name` changed; sent at once if
    // the client asked for REPORT of it.
    void msdp_changed(std::string_view name, const msdp::Value &value);
    bool msdp_reported(std::string_view name) const { return msdp_reported_.count(std::string(name)) != 0; }
    // Bounds on what a client can make us hold.
    static constexpr std::size_t kMsdpClientVars = 16;  // client-set variables kept
    static constexpr std::size_t kMsdpValueLength = 64;  // per client-set value shown

private:
    enum class Q : std::uint8_t { no, yes, wantno, wantyes };
    struct Side {
        Q state = Q::no;
        bool opposite = false;  // RFC 1143's one-slot queue
        std::uint16_t changes = 0;  // peer-made enables in the current window
    };
    enum class State : std::uint8_t { data, iac, verb, sb_option, sb_data, sb_iac };

    std::size_t feed_plain(std::string_view bytes, std::string &data);
    void feed_inflating(std::string_view bytes, std::string &data, std::string &after);
    void feed_byte(std::uint8_t c, std::string &data);
    void on_command(std::uint8_t c);
    void on_verb(std::uint8_t verb, std::uint8_t option);
    void receive_enable(bool local, std::uint8_t option);
    void receive_disable(bool local, std::uint8_t option);
    void request(bool local, std::uint8_t option, bool enable);
    bool agrees(bool local, std::uint8_t option) const;
    bool allow_change(bool local, std::uint8_t option);
    void send_verb(std::uint8_t verb, std::uint8_t option);
    void changed(bool local, std::uint8_t option, bool enabled);
    void send_sb(std::uint8_t option, std::string_view payload);

    void on_subnegotiation();
    void on_naws(std::string_view p);
    void on_ttype(std::string_view p);
    void on_charset(std::string_view p);
    void on_gmcp(std::string_view p);
    void on_new_environ(std::string_view p);
    void on_msdp(std::string_view p);
    void on_msdp_command(const msdp::Command &c);
    void msdp_list(std::string_view list);
    void msdp_send(std::string_view name);
    void msdp_record(std::string_view name, std::string_view value);
    void on_mccp3_start();
    void request_charset();
    void send_mssp();

    Side &side(bool local, std::uint8_t option) {
        return (local ? us_ : him_)[option];
    }
    const Side &side(bool local, std::uint8_t option) const {
        return (local ? us_ : him_)[option];
    }

    TelnetHandler &handler_;
    Policy policy_;
    State state_ = State::data;
    std::uint8_t verb_ = 0;
    std::uint8_t sb_option_ = 0;
    bool sb_overflow_ = false;
    std::string sb_;
    std::array<Side, 256> us_{};
    std::array<Side, 256> him_{};
    ClientInfo client_;
    Stats stats_;
    Clock::time_point now_{};
    Clock::time_point window_start_{};  // one window for every option
    bool refusal_reported_ = false;
    int ttype_requests_ = 0;
    bool charset_requested_ = false;
    bool mccp3_started_ = false;  // this feed must hand the rest to inflater_
    std::unique_ptr<Decompressor> inflater_;  // while MCCP3 input is compressed
    std::set<std::string> msdp_reported_;
};

}  // namespace comm::telnet
