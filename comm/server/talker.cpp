#include "talker.h"

#include <algorithm>
#include <cctype>
#include <memory>

namespace talker {

using comm::User;

struct Player {
    enum class State { name, new_password, password, playing };
    explicit Player(User &u) : user(&u) {}
    User *user;
    State state = State::name;
    std::string name;          // as shown ("Alice")
    std::string password;
    std::string wanted;        // the name being logged in as
};

namespace {

Player &player_of(User &u) { return *static_cast<Player *>(u.app_data); }

std::string lower(std::string_view s) {
    std::string r(s);
    for (char &c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return r;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

bool valid_name(std::string_view s) {
    return s.size() >= 2 && s.size() <= 16 &&
           std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isalpha(c); });
}

std::string capitalised(std::string_view s) {
    std::string r = lower(s);
    if (!r.empty()) r[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(r[0])));
    return r;
}

std::string idle_text(const User &u) {
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(comm::Clock::now() - u.last_input()).count();
    if (secs < 60) return std::to_string(secs) + "s";
    if (secs < 3600) return std::to_string(secs / 60) + "m";
    return std::to_string(secs / 3600) + "h";
}

const char *const prompt_text = "> ";
const char *const room_name = "The Lobby";

const char *mccp3_text(comm::telnet::ClientInfo::Mccp3 m) {
    using M = comm::telnet::ClientInfo::Mccp3;
    switch (m) {
    case M::inflating: return "on";
    case M::ended: return "ended by the client";
    case M::failed: return "failed";
    case M::off: break;
    }
    return "off";
}

}  // namespace

void Talker::attach(comm::Comm &comm) {
    comm_ = &comm;
    comm.msdp_publish("SERVER_ID", mud_name_);
    comm.msdp_publish("UPTIME", std::to_string(static_cast<long long>(started_)));
    publish_players();
}

void Talker::publish_players() {
    if (comm_) comm_->msdp_publish("PLAYERS", std::to_string(players_.size()));
}

void Talker::on_connect(User &user) {
    user.app_data = new Player(user);
    user.write("\nWelcome to " + mud_name_ + ".\n\n");
    user.prompt("By what name shall we know you? ");
}

void Talker::on_line(User &user, std::string_view line) {
    Player &p = player_of(user);
    switch (p.state) {
    case Player::State::name: login_name(p, trim(line)); break;
    case Player::State::new_password: login_new_password(p, line); break;
    case Player::State::password: login_password(p, line); break;
    case Player::State::playing: command(p, trim(line)); break;
    }
}

void Talker::login_name(Player &p, std::string_view line) {
    if (!valid_name(line)) {
        p.user->prompt("Names are 2 to 16 letters. By what name shall we know you? ");
        return;
    }
    p.wanted = capitalised(line);
    if (Player *other = find(p.wanted)) {
        if (other->user->connected()) {
            p.user->prompt(p.wanted + " is already here. Another name? ");
            return;
        }
        p.state = Player::State::password;
        p.user->hide_input(true);
        p.user->prompt(p.wanted + " is net-dead. Password to reconnect: ");
        return;
    }
    p.state = Player::State::new_password;
    p.user->hide_input(true);
    p.user->prompt("Choose a password for " + p.wanted + ": ");
}

void Talker::login_new_password(Player &p, std::string_view line) {
    p.user->hide_input(false);
    p.user->write("\n");
    if (line.empty()) {
        p.user->hide_input(true);
        p.user->prompt("A password is needed. Choose a password: ");
        return;
    }
    if (find(p.wanted)) {  // taken while we typed
        p.state = Player::State::name;
        p.user->prompt(p.wanted + " was just taken. Another name? ");
        return;
    }
    p.name = p.wanted;
    p.password = std::string(line);
    enter(p);
}

void Talker::login_password(Player &p, std::string_view line) {
    User &fresh = *p.user;
    fresh.hide_input(false);
    fresh.write("\n");
    Player *old = find(p.wanted);
    if (!old || old->user->connected()) {
        p.state = Player::State::name;
        fresh.prompt("That session is no longer waiting. By what name shall we know you? ");
        return;
    }
    if (old->password != line) {
        log_("failed reconnect as " + p.wanted + " from " + fresh.address());
        p.state = Player::State::name;
        fresh.prompt("Wrong password. By what name shall we know you? ");
        return;
    }
    fresh.app_data = nullptr;
    delete &p;
    if (!comm_->reattach(*old->user, fresh)) return;
    log_("reconnected " + old->name + " from " + old->user->address());
    old->user->write("Reconnected. Welcome back, " + old->name + ".\n");
    announce(*old, old->name + " has reconnected.\n");
    old->user->prompt(prompt_text);
}

void Talker::enter(Player &p) {
    p.state = Player::State::playing;
    players_[lower(p.name)] = &p;
    p.user->set_keep_when_dropped(true);
    p.user->set_logged_in();
    log_("login " + p.name + " #" + std::to_string(p.user->id()) + " from " + p.user->address());
    p.user->send_gmcp("Char.Name", "{\"name\":\"" + p.name + "\"}");
    using comm::msdp::Value;
    p.user->msdp_update("CHARACTER_NAME", p.name);
    p.user->msdp_update("ROOM_NAME", room_name);
    p.user->msdp_update("ROOM", Value::make_table({{"VNUM", Value::string("1")},
                                                   {"NAME", Value::string(room_name)},
                                                   {"AREA", Value::string(mud_name_)},
                                                   {"EXITS", Value::make_table({})}}));
    publish_players();
    p.user->write("Hello, " + p.name + ". Type 'help' for commands.\n\n");
    announce(p, p.name + " has arrived.\n");
    look(p);
    p.user->prompt(prompt_text);
}

void Talker::command(Player &p, std::string_view line) {
    std::string_view verb = line, rest;
    if (!line.empty() && (line[0] == '\'' || line[0] == '"' || line[0] == ':')) {
        verb = line.substr(0, 1);
        rest = trim(line.substr(1));
    } else if (auto sp = line.find(' '); sp != std::string_view::npos) {
        verb = line.substr(0, sp);
        rest = trim(line.substr(sp + 1));
    }
    std::string v = lower(verb);
    if (v.empty()) {
    } else if (v == "say" || v == "'" || v == "\"") {
        say(p, rest);
    } else if (v == "emote" || v == ":") {
        emote(p, rest);
    } else if (v == "tell") {
        tell(p, rest);
    } else if (v == "who") {
        who(p);
    } else if (v == "look" || v == "l") {
        look(p);
    } else if (v == "help" || v == "?") {
        help(p);
    } else if (v == "client") {
        client(p);
    } else if (v == "reboot") {
        reboot(p);
    } else if (v == "quit") {
        p.user->disconnect("Goodbye, " + p.name + ".\n");
        return;
    } else {
        p.user->write("Unknown command '" + std::string(verb) + "'. Type 'help'.\n");
    }
    p.user->prompt(prompt_text);
}

void Talker::say(Player &p, std::string_view text) {
    if (text.empty()) return p.user->write("Say what?\n");
    p.user->write("You say: " + std::string(text) + "\n");
    to_others(p, p.name + " says: " + std::string(text) + "\n");
}

void Talker::emote(Player &p, std::string_view text) {
    if (text.empty()) return p.user->write("Emote what?\n");
    std::string line = p.name + " " + std::string(text) + "\n";
    p.user->write(line);
    to_others(p, line);
}

void Talker::tell(Player &p, std::string_view args) {
    auto sp = args.find(' ');
    std::string_view who = args.substr(0, sp);
    std::string_view text = sp == std::string_view::npos ? std::string_view() : trim(args.substr(sp + 1));
    Player *target = find(who);
    if (who.empty() || text.empty()) return p.user->write("Tell whom what?\n");
    if (!target) return p.user->write("No one called " + std::string(who) + " is here.\n");
    if (!target->user->connected()) return p.user->write(target->name + " is net-dead.\n");
    target->user->write(p.name + " tells you: " + std::string(text) + "\n");
    if (target != &p) target->user->prompt(prompt_text);
    p.user->write("You tell " + target->name + ": " + std::string(text) + "\n");
}

void Talker::who(Player &p) {
    std::string out = "Who is here:\n";
    for (const auto &[key, other] : players_) {
        out += "  " + other->name;
        out += other->user->connected() ? " (idle " + idle_text(*other->user) + ")" : " (net-dead)";
        out += "\n";
    }
    out += std::to_string(players_.size()) + (players_.size() == 1 ? " player.\n" : " players.\n");
    p.user->write(out);
}

void Talker::look(Player &p) {
    std::string out = std::string(room_name) + "\n"
                      "  A plain room with worn armchairs and a crackling fire. A sign\n"
                      "  on the wall says: be kind, type 'help'.\n";
    if (players_.size() > kCrowd + 1) {
        out += std::to_string(players_.size() - 1) + " others are here.\n";
        return p.user->write(out);
    }
    std::string here;
    for (const auto &[key, other] : players_)
        if (other != &p) here += (here.empty() ? "" : ", ") + other->name +
                                 (other->user->connected() ? "" : " (net-dead)");
    out += here.empty() ? "You are alone here.\n" : "Here: " + here + ".\n";
    p.user->write(out);
}

void Talker::help(Player &p) {
    p.user->write(
        "Commands:\n"
        "  say <text>    (or 'text)   speak to the room\n"
        "  emote <text>  (or :text)   act: 'emote waves' shows 'Name waves'\n"
        "  tell <name> <text>         speak to one player\n"
        "  who                        list players\n"
        "  look                       look around\n"
        "  client                     what the server knows of your client\n"
        "  quit                       leave\n"
        "  reboot                     (admins) restart the server; nobody is disconnected\n"
        "Drop your connection and you stay net-dead for a while: log in with\n"
        "the same name and password to take your session back.\n");
}

void Talker::client(Player &p) {
    const comm::telnet::ClientInfo *c = p.user->client();
    if (!c) return p.user->write("You are on the server console.\n");
    auto or_unknown = [](const std::string &s) { return s.empty() ? std::string("unknown") : s; };
    std::string out = "Client: " + or_unknown(c->client_name) + "\n";
    out += "Terminal: " + or_unknown(c->terminal_type) + "\n";
    out += "Window: " + (c->width ? std::to_string(c->width) + "x" + std::to_string(c->height) : "unknown") + "\n";
    out += "MTTS: " + std::to_string(c->mtts) + "\n";
    out += "Charset: " + or_unknown(c->charset) + "\n";
    out += std::string("Compression: ") + (p.user->compressed() ? "MCCP2" : "off") + "\n";
    out += std::string("Input compression (MCCP3): ") + mccp3_text(c->mccp3);
    if (c->mccp3 != comm::telnet::ClientInfo::Mccp3::off)
        out += " (" + std::to_string(c->mccp3_in) + " bytes inflated to " + std::to_string(c->mccp3_out) + ")";
    out += "\n";
    out += std::string("GMCP: ") + (c->gmcp ? "on" : "off") + "\n";
    out += std::string("MSDP: ") + (c->msdp ? "on" : "off");
    // Client-set values are printable already (Telnet keeps them so);
    // nothing the client sent is trusted, only shown back to it.
    for (const auto &[name, value] : c->msdp_client) out += " " + name + "=" + value;
    out += "\n";
    if (c->mnes) {
        const comm::newenv::Mnes &m = c->mnes_values;
        out += "MNES: client " + or_unknown(m.client_name) + " " + or_unknown(m.client_version) +
               ", charset " + or_unknown(m.charset) + ", terminal " + or_unknown(m.terminal_type) +
               ", MTTS " + (m.has_mtts ? std::to_string(m.mtts) : std::string("unknown")) +
               ", IP address (as the client says) " + or_unknown(m.ip_address) + "\n";
    } else {
        out += "MNES: not offered\n";
    }
    out += "Transport: " + p.user->transport() + "\n";
    p.user->write(out);
}

// Hot reboot: the new binary takes over every connection (comm/README.md).
// The answer comes later: everyone sees "The world shimmers...", or this
// player hears why it failed (on_reboot_failed).
void Talker::reboot(Player &p) {
    const bool admin = p.user->is_console() ||
                       std::find(admins_.begin(), admins_.end(), lower(p.name)) != admins_.end();
    if (!admin) return p.user->write("Only admins may reboot the server.\n");
    log_("reboot requested by " + p.name);
    comm_->request_reboot(p.user->id());
}

void Talker::on_reboot_failed(std::uint64_t requester, const std::string &why) {
    for (const auto &[key, other] : players_)
        if (other->user->id() == requester && other->user->connected()) {
            other->user->write("Reboot failed: " + why + ". The server carries on.\n");
            other->user->prompt(prompt_text);
        }
}

// A session's record: state, name, password, wanted name, one a line
// (input lines never hold a newline, and names are letters).
std::string Talker::save_session(const User &user) {
    const auto *p = static_cast<const Player *>(user.app_data);
    if (!p) return {};
    return std::to_string(static_cast<int>(p->state)) + "\n" + p->name + "\n" + p->password + "\n" + p->wanted;
}

bool Talker::restore_session(User &user, std::string_view record) {
    if (record.empty()) {  // a session the old process had no record for: start at the login
        user.app_data = new Player(user);
        return true;
    }
    std::vector<std::string> f;
    std::size_t start = 0;
    while (f.size() < 4) {
        auto nl = record.find('\n', start);
        f.emplace_back(record.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
        if (nl == std::string_view::npos) break;
        start = nl + 1;
    }
    if (f.size() != 4 || f[0].size() != 1 || f[0][0] < '0' || f[0][0] > '3') return false;
    auto p = std::make_unique<Player>(user);
    p->state = static_cast<Player::State>(f[0][0] - '0');
    p->name = f[1];
    p->password = f[2];
    p->wanted = f[3];
    if (p->state == Player::State::playing) {
        if (!valid_name(p->name) || find(p->name)) return false;
        players_[lower(p->name)] = p.get();
    }
    user.app_data = p.release();
    return true;
}

void Talker::on_handed_over(User &user) {
    auto *p = static_cast<Player *>(user.app_data);
    if (!p) return;
    user.app_data = nullptr;
    if (p->state == Player::State::playing) players_.erase(lower(p->name));
    delete p;
}

std::string Talker::save_state() { return std::to_string(static_cast<long long>(started_)); }

bool Talker::restore_state(std::string_view record) {
    long long t = 0;
    for (char c : record) {
        if (c < '0' || c > '9' || t > 1'000'000'000'000LL) return false;
        t = t * 10 + (c - '0');
    }
    started_ = static_cast<std::time_t>(t);
    return true;
}

void Talker::on_netdead(User &user) {
    Player &p = player_of(user);
    announce(p, p.name + " has lost their link.\n");
}

void Talker::on_disconnect(User &user) {
    auto *p = static_cast<Player *>(user.app_data);
    if (!p) return;
    user.app_data = nullptr;
    if (p->state == Player::State::playing) {
        players_.erase(lower(p->name));
        publish_players();
        log_("logout " + p->name);
        announce(*p, p->name + " has left.\n");
    }
    delete p;
}

void Talker::on_gmcp(User &user, std::string_view package, std::string_view data) {
    (void)data;
    log_("gmcp #" + std::to_string(user.id()) + " " + std::string(package));
}

std::vector<std::pair<std::string, std::string>> Talker::mssp() {
    return {{"NAME", mud_name_},
            {"PLAYERS", std::to_string(players_.size())},
            {"UPTIME", std::to_string(static_cast<long long>(started_))},
            {"CODEBASE", "ioreactor"},
            {"FAMILY", "Custom"}};
}

// Comings and goings are news in a small room and noise in a crowd, where
// they would also be most of the traffic: 10,000 logins announced to
// everyone already there are 50 million lines (the MUD benchmark,
// bench/mudload.cpp, logs in that many).
void Talker::announce(const Player &who, const std::string &text) {
    if (players_.size() <= kCrowd + 1) to_others(who, text);
}

void Talker::to_others(const Player &except, const std::string &text) {
    for (const auto &[key, other] : players_) {
        if (other == &except || !other->user->connected()) continue;
        other->user->write(text);
        other->user->prompt(prompt_text);
    }
}

Player *Talker::find(std::string_view name) {
    auto it = players_.find(lower(name));
    return it == players_.end() ? nullptr : it->second;
}

}  // namespace talker
