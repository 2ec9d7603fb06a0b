// The ior-mud web client: the whole telnet stream travels in binary
// WebSocket frames (subprotocol telnet.mudstandards.org), so this file is a
// small telnet client: it answers option negotiation, hides the input line
// while the server echoes (passwords), reports the window size (NAWS), the
// terminal type (TTYPE/MTTS) and shows GMCP messages in the side panel.
// Server text goes to xterm.js as bytes; nothing from the server is ever
// put into the page as HTML.
"use strict";

const IAC = 255, DONT = 254, DO = 253, WONT = 252, WILL = 251, SB = 250, SE = 240;
const GA = 249, EOR_CMD = 239;
const ECHO = 1, SGA = 3, TTYPE = 24, EOR = 25, NAWS = 31, GMCP = 201;
const TTYPE_IS = 0, TTYPE_SEND = 1;
// MTTS bits: ANSI 1, VT100 2, UTF-8 4, 256 colours 8, truecolour 256.
const TTYPE_CYCLE = ["IOR-WEB", "XTERM-256COLOR", "MTTS 271"];
const MAX_GMCP_SHOWN = 60, MAX_HISTORY = 200;

const term = new Terminal({
  convertEol: true, cursorBlink: false, disableStdin: true, scrollback: 5000,
  fontFamily: '"DejaVu Sans Mono", Menlo, Consolas, monospace', fontSize: 15,
  theme: { background: "#000000", foreground: "#d7dde4" },
});
const fit = new FitAddon.FitAddon();
term.loadAddon(fit);
term.open(document.getElementById("terminal"));
fit.fit();

const el = (id) => document.getElementById(id);
const input = el("input"), statusEl = el("status"), reconnectBtn = el("reconnect");
const encoder = new TextEncoder();

// ---- the link ------------------------------------------------------------

let ws = null, retryDelay = 1000, retryTimer = null, telnet = null;
let quitting = false;      // the player typed quit: no reconnect, no automatic login
let reconnecting = false;  // a link was lost: the next open logs in again

// The login of this page, kept in memory only (never in storage) so that a
// dropped link logs in again by itself: the name is the last line sent
// before the server first hid the input (IAC WILL ECHO), the password the
// line typed while hidden. After a reconnect the name goes at the first
// prompt (GA/EOR) and the password at the hidden-input prompt; the server's
// net-dead reattach then gives the session back.
const login = { name: null, password: null, replay: "" };  // replay: "", "name", "password"
let lastLine = "";

function setStatus(text, cls) {
  statusEl.textContent = text;
  statusEl.className = "status " + cls;
}

function connect() {
  clearTimeout(retryTimer);
  reconnectBtn.hidden = true;
  setStatus("connecting", "connecting");
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  try {
    ws = new WebSocket(url, ["telnet.mudstandards.org"]);
  } catch (e) {
    return scheduleReconnect();
  }
  ws.binaryType = "arraybuffer";
  telnet = new Telnet(sendBytes);
  ws.onopen = () => {
    retryDelay = 1000;
    setStatus("connected", "connected");
    if (reconnecting && login.name && login.password) {
      login.replay = "name";
      term.write("\x1b[2;33m-- logging in again as " + login.name.replace(/[\x00-\x1f\x7f]/g, "") + " --\x1b[0m\r\n");
    }
  };
  ws.onmessage = (ev) => telnet.receive(new Uint8Array(ev.data instanceof ArrayBuffer ? ev.data : encoder.encode(ev.data)));
  ws.onclose = (ev) => {
    ws = null;
    setPassword(false);
    login.replay = "";
    wrap.reset();
    if (quitting) {
      setStatus("disconnected", "closed");
      reconnectBtn.hidden = false;
      term.write("\r\n\x1b[2;33m-- you left; 'Reconnect now' opens a new link --\x1b[0m\r\n");
      return;
    }
    reconnecting = true;
    scheduleReconnect(ev.code);
  };
}

// Called at a prompt (IAC GA / IAC EOR) and when the server hides the input.
function replayLogin(hidden) {
  if (login.replay === "name" && !hidden) {
    login.replay = "password";
    echoLocally(login.name);
    telnet.line(login.name);
  } else if (login.replay === "password" && hidden) {
    login.replay = "";
    telnet.line(login.password);
  }
}

// After a dropped link: try again with growing pauses (the server's
// net-dead reattach gives the session back on the next login).
function scheduleReconnect(code) {
  const secs = Math.round(retryDelay / 1000);
  setStatus("disconnected, retrying in " + secs + "s", "closed");
  reconnectBtn.hidden = false;
  const why = code === 1009 ? "line too long for the server" : code === 1001 ? "server going away" : "link lost";
  term.write("\r\n\x1b[2;33m-- " + why + "; reconnecting in " + secs + "s --\x1b[0m\r\n");
  retryTimer = setTimeout(connect, retryDelay);
  retryDelay = Math.min(retryDelay * 2, 30000);
}

function sendBytes(bytes) {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(bytes);
}

// ---- word wrap -------------------------------------------------------------

// Breaks server text at spaces before it reaches the terminal's edge, as
// MUD clients do (xterm.js alone would cut words in two). Escape sequences
// take no room; a word longer than a line is left to the terminal.
const wrap = {
  decoder: new TextDecoder("utf-8"),
  col: 0,
  atPrompt: false,  // a prompt (GA/EOR) ended the last output, on a line of its own
  reset() { this.col = 0; this.atPrompt = false; },
  prompt() { this.atPrompt = this.col > 0; },
  text(bytes) {
    const s = this.decoder.decode(bytes, { stream: true });
    // Text that comes while a prompt waits starts on a new line, as in
    // MUD clients ("> Tina has arrived." otherwise).
    let out = this.atPrompt && s ? "\r\n" : "", word = "", wordLen = 0, i = 0;
    if (out) this.col = 0;
    this.atPrompt = false;
    const putWord = () => {
      if (wordLen && this.col > 0 && this.col + wordLen > term.cols) { out += "\r\n"; this.col = 0; }
      out += word;
      this.col += wordLen;
      word = "";
      wordLen = 0;
    };
    while (i < s.length) {
      const c = s[i];
      if (c === "\x1b") {  // CSI ... final, OSC ... BEL/ST, or a 2-byte escape: no width
        let j = i + 1;
        if (s[j] === "[") { j++; while (j < s.length && !(s.charCodeAt(j) >= 0x40 && s.charCodeAt(j) <= 0x7e)) j++; j++; }
        else if (s[j] === "]") { while (j < s.length && s[j] !== "\x07" && !(s[j] === "\x1b" && s[j + 1] === "\\")) j++; j += s[j] === "\x07" ? 1 : 2; }
        else j++;
        word += s.slice(i, j);
        i = j;
        continue;
      }
      if (c === "\n" || c === "\r") { putWord(); out += c; this.col = 0; }
      else if (c === " ") { putWord(); if (this.col < term.cols) { out += c; this.col++; } }
      else if (c === "\t") { putWord(); out += c; this.col = Math.min(term.cols, (this.col | 7) + 1); }
      else if (c < " " || c === "\x7f") { word += c; }
      else { word += c; wordLen += (c.codePointAt(0) > 0xffff) ? 0 : 1; }
      i++;
    }
    putWord();
    return out;
  },
};

// ---- telnet --------------------------------------------------------------

class Telnet {
  constructor(send) {
    this.send = send;
    this.state = "data";
    this.sb = [];
    this.on = {};          // options in effect: "will:1" (server echoes), "do:31" (we send NAWS)
    this.ttypeIndex = 0;
  }

  receive(bytes) {
    let text = [];
    const flush = () => { if (text.length) term.write(wrap.text(new Uint8Array(text))); text = []; };
    for (const b of bytes) {
      switch (this.state) {
        case "data": if (b === IAC) this.state = "iac"; else text.push(b); break;
        case "iac":
          if (b === IAC) { text.push(b); this.state = "data"; }
          else if (b === SB) { this.state = "sb-opt"; }
          else if (b >= WILL) { this.cmd = b; this.state = "opt"; }
          else {
            this.state = "data";  // GA, EOR: a prompt ended; NOP: nothing
            if (b === GA || b === EOR_CMD) { flush(); wrap.prompt(); replayLogin(false); }
          }
          break;
        case "opt": flush(); this.negotiate(this.cmd, b); this.state = "data"; break;
        case "sb-opt": this.sbOpt = b; this.sb = []; this.state = "sb"; break;
        case "sb": if (b === IAC) this.state = "sb-iac"; else if (this.sb.length < 65536) this.sb.push(b); break;
        case "sb-iac":
          if (b === IAC) { this.sb.push(b); this.state = "sb"; }
          else { flush(); this.subnegotiation(this.sbOpt, new Uint8Array(this.sb)); this.state = "data"; }
          break;
      }
    }
    flush();
  }

  // RFC 1143 without the queue: answer only what changes an option, so
  // two sides that both follow it never loop.
  negotiate(cmd, opt) {
    const aboutServer = cmd === WILL || cmd === WONT;
    const key = (aboutServer ? "will:" : "do:") + opt;
    const asks = cmd === WILL || cmd === DO;
    const yes = aboutServer ? DO : WILL, no = aboutServer ? DONT : WONT;
    if (asks === !!this.on[key]) return;  // already so
    if (!asks) {
      this.on[key] = false;
      this.send(new Uint8Array([IAC, no, opt]));
    } else if ((aboutServer ? [ECHO, SGA, EOR, GMCP] : [NAWS, TTYPE]).includes(opt)) {
      this.on[key] = true;
      this.send(new Uint8Array([IAC, yes, opt]));
    } else {
      this.send(new Uint8Array([IAC, no, opt]));  // refused (MCCP among them: no zlib here)
      return;
    }
    if (opt === ECHO && aboutServer) {
      if (asks && !login.replay && lastLine) login.name = lastLine;
      setPassword(asks);
      if (asks) replayLogin(true);
    }
    if (asks && opt === NAWS) this.sendSize();
    if (asks && opt === GMCP && aboutServer) {
      this.gmcp("Core.Hello", { client: "ior-web", version: "1" });
      this.gmcp("Core.Supports.Set", ["Char 1", "Room 1", "Comm 1"]);
    }
  }

  subnegotiation(opt, data) {
    if (opt === TTYPE && data[0] === TTYPE_SEND) {
      const name = TTYPE_CYCLE[Math.min(this.ttypeIndex++, TTYPE_CYCLE.length - 1)];
      this.send(new Uint8Array([IAC, SB, TTYPE, TTYPE_IS, ...encoder.encode(name), IAC, SE]));
    } else if (opt === GMCP) {
      showGmcp(new TextDecoder().decode(data));
    }
  }

  sendSize() {
    if (!this.on["do:" + NAWS]) return;
    const b = [term.cols >> 8, term.cols & 255, term.rows >> 8, term.rows & 255].flatMap((x) => (x === IAC ? [IAC, IAC] : [x]));
    this.send(new Uint8Array([IAC, SB, NAWS, ...b, IAC, SE]));
  }

  gmcp(pkg, value) {
    const body = encoder.encode(pkg + " " + JSON.stringify(value));
    this.send(new Uint8Array([IAC, SB, GMCP, ...body, IAC, SE]));
  }

  line(text) {
    const bytes = [...encoder.encode(text + "\r\n")].flatMap((x) => (x === IAC ? [IAC, IAC] : [x]));
    this.send(new Uint8Array(bytes));
  }
}

// ---- GMCP panel ----------------------------------------------------------

function showGmcp(message) {
  const space = message.indexOf(" ");
  const pkg = space < 0 ? message : message.slice(0, space);
  let body = space < 0 ? "" : message.slice(space + 1);
  try { body = JSON.stringify(JSON.parse(body), null, 1); } catch (e) { /* shown as sent */ }
  const li = document.createElement("li");
  const name = document.createElement("div");
  name.className = "package";
  name.textContent = pkg;
  const pre = document.createElement("pre");
  pre.textContent = body;
  li.append(name, pre);
  const list = el("gmcp");
  list.prepend(li);
  while (list.children.length > MAX_GMCP_SHOWN) list.lastChild.remove();
  el("panel-empty").hidden = true;
}

el("toggle-panel").onclick = () => {
  const panel = el("panel");
  panel.hidden = !panel.hidden;
  el("toggle-panel").setAttribute("aria-expanded", String(!panel.hidden));
  fit.fit();
};

// ---- the input line --------------------------------------------------------

const history = [];
let historyAt = 0, password = false;

function setPassword(on) {
  password = on;
  input.type = on ? "password" : "text";
  input.classList.toggle("password", on);
  input.placeholder = on ? "password (hidden)" : "";
}

// What the player sent, in a quieter colour after the prompt, since the
// server does not echo while its ECHO is off.
function echoLocally(text) {
  term.write("\x1b[38;5;110m" + text.replace(/[\x00-\x1f\x7f]/g, "") + "\x1b[0m\r\n");
  wrap.reset();
}

el("input-form").onsubmit = (ev) => {
  ev.preventDefault();
  const text = input.value;
  input.value = "";
  login.replay = "";  // the player types: no more automatic login
  if (password) {
    login.password = text;
    wrap.atPrompt = false;  // the server ends the hidden line itself
  } else {
    lastLine = text.trim();
    if (lastLine.toLowerCase() === "quit") { quitting = true; login.name = login.password = null; }
    if (text && history[history.length - 1] !== text) history.push(text);
    if (history.length > MAX_HISTORY) history.shift();
    echoLocally(text);
  }
  historyAt = history.length;
  if (telnet) telnet.line(text);
};

input.addEventListener("keydown", (ev) => {
  if (password || (ev.key !== "ArrowUp" && ev.key !== "ArrowDown")) return;
  ev.preventDefault();
  historyAt = Math.max(0, Math.min(history.length, historyAt + (ev.key === "ArrowUp" ? -1 : 1)));
  input.value = history[historyAt] ?? "";
});

// Clicks in the output (not selections) give the focus back to the input.
el("terminal").addEventListener("mouseup", () => { if (!term.hasSelection()) input.focus(); });

reconnectBtn.onclick = () => { retryDelay = 1000; quitting = false; connect(); };

new ResizeObserver(() => fit.fit()).observe(el("terminal"));
term.onResize(() => telnet && telnet.sendSize());

// ---- start -------------------------------------------------------------------

// ?demo (or a page opened from disk) plays a canned stream through the same
// telnet code instead of connecting: for looking at the page without a server.
if (location.protocol === "file:" || new URLSearchParams(location.search).has("demo")) {
  setStatus("demo", "connecting");
  telnet = new Telnet(() => {});
  const demo = [
    "\x1b[1;36mWelcome to ior-mud\x1b[0m, a talker on \x1b[33mioreactor\x1b[0m.\r\n\r\n",
    "\x1b[32mAda\x1b[0m says: hello from tintin++!\r\n",
    "\x1b[35mYou\x1b[0m say: hi Ada, this is the browser.\r\n",
    "\x1b[2mThe wind moves through the ",
    "\x1b[38;5;208ma\x1b[38;5;214mu\x1b[38;5;220mt\x1b[38;5;226mu\x1b[38;5;190mm\x1b[38;5;154mn\x1b[0m",
    "\x1b[2m leaves.\x1b[0m\r\n",
    "The Lobby\r\n  A plain room with worn armchairs and a crackling fire. A sign on the wall says: be kind, " +
    "type 'help'. Long lines like this one wrap at a space, never in the middle of a word, however wide the window is.\r\n\r\n> ",
  ].join("");
  const bytes = [...encoder.encode(demo), IAC, SB, GMCP, ...encoder.encode('Char.Vitals {"hp":42,"maxhp":50,"mp":7}'), IAC, SE,
                 IAC, SB, GMCP, ...encoder.encode('Comm.Channel.Text {"channel":"say","talker":"Ada","text":"hello"}'), IAC, SE];
  telnet.receive(new Uint8Array(bytes));
} else {
  connect();
}
input.focus();
