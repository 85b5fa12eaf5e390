// Soak under attack (bench/soak.sh, `make soak`): ordinary users at a fixed rate over HTTP
// (POST /v1/chat) and WebSocket (/v1/ws), open loop, while attackers run beside them:
//   slow readers  WebSocket clients that send and never read (a tiny receive buffer): 8 send
//                 chat messages (10/s), 2 small invalid frames (5,000/s); the server must
//                 cut them (ws_send_timeout / ws_max_queued_bytes) once its kernel send
//                 buffer to them is full;
//   ws flood      one WebSocket client sending small invalid frames as fast as it can;
//   oversized     WebSocket messages over 16 KiB: an error, then a 1009 close, each time;
//   conn flood    hundreds of idle TCP connections opened and held (reopened when closed,
//                 at a bounded rate), over server.max_connections.
// Every ordinary message must be answered exactly once: HTTP by a response (200 or 429;
// a request on a keep-alive connection the server closed while idle, shed at the cap, that
// got nothing back is sent again on a new connection, as browsers do, and counted), a
// WebSocket request_id by exactly one "reply" or "error". Latency runs from the scheduled
// send time (no coordinated omission). The server's RSS is read from /proc/PID/status.
// Ordinary users run on the main thread, attackers on a second one, each with its own
// io_context, so a flood does not delay the ordinary users' schedule inside this process.
// Exit status: 1 when an ordinary message was lost or answered twice (or, with --strict,
// when the RSS or p99 target is missed), 2 on bad usage.
#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace json = boost::json;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

namespace {

struct Options {
  unsigned short port = 18190;
  double seconds = 60;
  double rate = 350;         // ordinary messages/s, HTTP and WebSocket together
  double http_share = 0.5;   // the rest over WebSocket
  int ws_users = 100;        // ordinary WebSocket connections
  int http_users = 500;      // session cookies the HTTP messages rotate through
  int http_max_conns = 256;  // the ordinary HTTP clients' keep-alive pool
  int slow_readers = 8;
  double slow_rate = 10;         // messages/s each slow reader sends
  int slow_fast = 2;             // slow readers that send small invalid frames instead
  double slow_fast_rate = 5000;  // frames/s each
  bool ws_flood = true;
  int oversized_per_s = 4;
  int idle_conns = 600;
  double idle_connect_rate = 200;  // new idle connections/s at most (the flood's reopen rate)
  int pid = 0;                     // the server, for its RSS
  double warmup = -1;              // -1: min(10 s, a sixth of the run)
  double grace = 40;               // after the last message, for the last answers
  bool strict = false;             // also fail on the RSS and p99 targets
  std::string request_log;         // the server's request log, to count what it answered
};

double ms_since(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

long rss_kb(int pid) {
  if (pid <= 0) return -1;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

asio::awaitable<void> sleep_for(Clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(kTuple);
}

// What each context has open, so that the end can close it all. Single-threaded per context.
struct Registry {
  bool stopping = false;
  std::uint64_t next = 0;
  std::map<std::uint64_t, std::function<void()>> closers;
  struct Entry {
    Registry* r;
    std::uint64_t id;
    Entry(Registry& reg, std::function<void()> f) : r(&reg), id(++reg.next) {
      reg.closers.emplace(id, std::move(f));
    }
    Entry(const Entry&) = delete;
    Entry& operator=(const Entry&) = delete;
    ~Entry() { r->closers.erase(id); }
  };
  void stop() {
    stopping = true;
    auto all = closers;
    for (auto& [id, f] : all) f();
  }
};

template <class Socket>
std::function<void()> closer_of(const std::shared_ptr<Socket>& s) {
  return [w = std::weak_ptr<Socket>(s)] {
    if (auto p = w.lock()) beast::get_lowest_layer(*p).close();
  };
}

std::string pct_line(std::vector<double> v) {
  if (v.empty()) return "no samples";
  std::sort(v.begin(), v.end());
  auto pct = [&](double p) {
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
  };
  char buf[160];
  std::snprintf(buf, sizeof buf, "p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms (n=%zu)",
                pct(0.5), pct(0.9), pct(0.99), v.back(), v.size());
  return buf;
}

double p99_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(0.99 * static_cast<double>(v.size())))];
}

std::string join_counts(const std::map<std::string, long>& m) {
  std::string out;
  for (const auto& [k, v] : m) out += (out.empty() ? "" : ", ") + k + " " + std::to_string(v);
  return out.empty() ? "none" : out;
}

// ---------------------------------------------------------------------------------------
// Ordinary users.

// Questions a manga store hears: recommendations, prices, stock, orders, FAQ, Japanese, and
// a share of one-off questions (cache misses that grow the cache up to its bound).
const char* const kTitles[] = {
    "Berserk",      "Attack on Titan", "Chainsaw Man",    "One Piece",
    "Tokyo Ghoul",  "One-Punch Man",   "Jujutsu Kaisen",  "Naruto",
    "Vagabond",     "Death Note",      "Bleach",          "Vinland Saga",
    "Spy x Family", "Monster",         "Hunter x Hunter", "Fullmetal Alchemist"};
const char* const kTitlesJa[] = {"ベルセルク", "進撃の巨人", "チェンソーマン",
                                 "呪術廻戦",   "鬼滅の刃",   "ヴィンランド・サガ"};

std::string ordinary_message(long i) {
  const auto t = [&](long k) { return std::string(kTitles[k % std::size(kTitles)]); };
  const long k = (i * 7919) % 100;  // the mix, spread over the run
  const long v = 1 + (i / 100) % 40;
  if (k < 25) return "Recommend something like " + t(i / 3);
  if (k < 45) return "How much is " + t(i / 5) + " volume " + std::to_string(v) + "?";
  if (k < 55) return "Is " + t(i / 7) + " volume " + std::to_string(v) + " in stock?";
  if (k < 65) return k % 2 ? "What is your return policy?" : "How long does shipping take?";
  if (k < 75)
    return std::string(kTitlesJa[(i / 11) % std::size(kTitlesJa)]) + "みたいな漫画を教えてください";
  if (k < 85) return "Where is my order " + std::to_string(100000 + i % 997) + "?";
  return "Tell me something interesting about " + t(i) + " (question " + std::to_string(i) + ")";
}

struct WsReq {
  Clock::time_point due;
  bool accepted = false;
  int finals = 0;
};

struct Ordinary {
  long sent_http = 0, sent_ws = 0;
  // HTTP
  long http_accepted = 0, http_200 = 0, http_429 = 0, http_other = 0, http_lost = 0;
  long http_not_sent = 0, http_stale_retries = 0, http_in_flight = 0, http_conns_opened = 0;
  std::map<std::string, long> http_lost_why, http_other_status, http_not_sent_why;
  std::vector<double> lat_http;
  // WebSocket
  std::unordered_map<std::string, WsReq> ws_reqs;
  long ws_accepted = 0, ws_answered = 0, ws_reply = 0, ws_error = 0, ws_dup = 0;
  long ws_unknown_final = 0, ws_final_without_id = 0, ws_queued = 0, ws_chunks = 0;
  long ws_chunk_no_attempt = 0, ws_chunk_after_final = 0, ws_other_type = 0, ws_connects = 0;
  std::map<std::string, long> ws_error_codes, ws_closed_why;
  std::vector<double> lat_ws;
};

struct HttpConn {
  explicit HttpConn(asio::any_io_executor ex) : stream(ex) {}
  beast::tcp_stream stream;
  beast::flat_buffer buf;
  int uses = 0;
};

struct WsUser;

struct OrdinaryCtx {
  OrdinaryCtx(asio::io_context& i, Options o, tcp::endpoint e) : ioc(i), opt(o), ep(e) {}
  asio::io_context& ioc;
  Options opt;
  tcp::endpoint ep;
  Registry reg;
  Ordinary st;
  // HTTP keep-alive pool, most recently used last (LIFO: a cold tail idles, as with real
  // clients, and is what the server sheds first).
  std::vector<std::shared_ptr<HttpConn>> idle;
  int http_open = 0;
  std::deque<std::shared_ptr<asio::steady_timer>> waiters;
  std::vector<std::string> cookies;
  std::vector<std::shared_ptr<WsUser>> ws_users;
};

struct WsUser {
  explicit WsUser(asio::any_io_executor ex) : wake(ex) {}
  asio::steady_timer wake;
  std::deque<std::pair<std::string, std::string>> outq;      // request_id, frame
  std::shared_ptr<websocket::stream<beast::tcp_stream>> ws;  // the open connection, if any
};

void release(OrdinaryCtx& c, std::shared_ptr<HttpConn> conn, bool reusable) {
  if (reusable && !c.reg.stopping) {
    c.idle.push_back(std::move(conn));
  } else {
    boost::system::error_code ec;
    conn->stream.socket().close(ec);
    --c.http_open;
  }
  if (!c.waiters.empty()) {
    c.waiters.front()->cancel();
    c.waiters.pop_front();
  }
}

// A keep-alive connection from the pool, or a new one (`fresh`: always a new one).
asio::awaitable<std::shared_ptr<HttpConn>> acquire(OrdinaryCtx& c, bool fresh, std::string& why) {
  for (;;) {
    if (c.reg.stopping) {
      why = "stopping";
      co_return nullptr;
    }
    if (!fresh && !c.idle.empty()) {
      auto conn = std::move(c.idle.back());
      c.idle.pop_back();
      co_return conn;
    }
    if (fresh && c.http_open >= c.opt.http_max_conns && !c.idle.empty()) {
      release(c, std::move(c.idle.front()), false);  // make room: drop the coldest
      c.idle.erase(c.idle.begin());
    }
    if (c.http_open < c.opt.http_max_conns) {
      ++c.http_open;
      auto conn = std::make_shared<HttpConn>(c.ioc.get_executor());
      conn->stream.expires_after(5s);
      auto [ec] = co_await conn->stream.async_connect(c.ep, kTuple);
      if (ec) {
        --c.http_open;
        why = "connect: " + ec.message();
        co_return nullptr;
      }
      ++c.st.http_conns_opened;
      conn->stream.socket().set_option(tcp::no_delay(true));
      co_return conn;
    }
    auto t = std::make_shared<asio::steady_timer>(c.ioc, Clock::time_point::max());
    c.waiters.push_back(t);
    co_await t->async_wait(kTuple);
  }
}

asio::awaitable<void> http_message(OrdinaryCtx& c, std::string body, int user,
                                   Clock::time_point due) {
  bool accepted = false;
  std::string why;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto conn = co_await acquire(c, attempt > 0, why);
    if (!conn) break;
    Registry::Entry entry(c.reg, [w = std::weak_ptr<HttpConn>(conn)] {
      if (auto p = w.lock()) p->stream.close();
    });
    const bool reused = conn->uses++ > 0;
    http::request<http::string_body> req{http::verb::post, "/v1/chat", 11};
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    if (!c.cookies[user].empty()) req.set(http::field::cookie, c.cookies[user]);
    req.body() = body;
    req.prepare_payload();
    conn->stream.expires_after(35s);
    auto [ew, nw] = co_await http::async_write(conn->stream, req, kTuple);
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    boost::system::error_code er;
    if (!ew) {
      if (!accepted) {
        accepted = true;
        ++c.st.http_accepted;
        ++c.st.http_in_flight;
      }
      auto [e, n] = co_await http::async_read(conn->stream, conn->buf, parser, kTuple);
      er = e;
    }
    if (!ew && !er) {
      --c.st.http_in_flight;
      auto& res = parser.get();
      c.st.lat_http.push_back(ms_since(due));
      if (res.result_int() == 200) {
        ++c.st.http_200;
      } else if (res.result_int() == 429) {
        ++c.st.http_429;
      } else {
        ++c.st.http_other;
        ++c.st.http_other_status[std::to_string(res.result_int())];
      }
      if (auto it = res.find(http::field::set_cookie); it != res.end()) {
        const std::string_view v = it->value();
        c.cookies[user] = std::string(v.substr(0, v.find(';')));
      }
      release(c, std::move(conn), res.keep_alive());
      co_return;
    }
    const auto ec = ew ? ew : er;
    const bool nothing_back = !parser.got_some();
    release(c, std::move(conn), false);
    // A keep-alive connection the server closed while it idled (shed at the connection cap):
    // nothing came back, so send again on a new connection, as browsers do.
    if (reused && nothing_back && ec != beast::error::timeout && !c.reg.stopping) {
      ++c.st.http_stale_retries;
      continue;
    }
    why = (ew ? "write: " : "read: ") + ec.message();
    if (ec == beast::error::timeout) why = "no response within 35 s";
    break;
  }
  if (accepted) {
    --c.st.http_in_flight;
    ++c.st.http_lost;
    ++c.st.http_lost_why[why];
  } else {
    ++c.st.http_not_sent;
    ++c.st.http_not_sent_why[why];
  }
}

void on_ws_message(OrdinaryCtx& c, std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    ++c.st.ws_other_type;
    return;
  }
  const auto& o = v.get_object();
  const auto* type = o.if_contains("type");
  const auto* rid = o.if_contains("request_id");
  const std::string t = type && type->is_string() ? std::string(type->get_string()) : "";
  const std::string id = rid && rid->is_string() ? std::string(rid->get_string()) : "";
  if (t == "queued") {
    ++c.st.ws_queued;
    return;
  }
  auto it = id.empty() ? c.st.ws_reqs.end() : c.st.ws_reqs.find(id);
  if (t == "chunk") {
    ++c.st.ws_chunks;
    if (!o.contains("attempt")) ++c.st.ws_chunk_no_attempt;
    if (it != c.st.ws_reqs.end() && it->second.finals > 0) ++c.st.ws_chunk_after_final;
    return;
  }
  if (t != "reply" && t != "error") {
    ++c.st.ws_other_type;
    return;
  }
  if (id.empty()) {
    ++c.st.ws_final_without_id;
    return;
  }
  if (it == c.st.ws_reqs.end()) {
    ++c.st.ws_unknown_final;
    return;
  }
  if (++it->second.finals > 1) {
    ++c.st.ws_dup;
    return;
  }
  ++c.st.ws_answered;
  c.st.lat_ws.push_back(ms_since(it->second.due));
  if (t == "reply") {
    ++c.st.ws_reply;
  } else {
    ++c.st.ws_error;
    const auto* code = o.if_contains("error");
    ++c.st.ws_error_codes[code && code->is_string() ? std::string(code->get_string()) : "?"];
  }
}

asio::awaitable<void> ws_writer(OrdinaryCtx& c, std::shared_ptr<WsUser> u,
                                std::shared_ptr<websocket::stream<beast::tcp_stream>> ws) {
  while (u->ws == ws && !c.reg.stopping) {
    if (u->outq.empty()) {
      u->wake.expires_at(Clock::time_point::max());
      co_await u->wake.async_wait(kTuple);
      continue;
    }
    auto [rid, frame] = std::move(u->outq.front());
    u->outq.pop_front();
    ws->text(true);
    auto [ec, n] = co_await ws->async_write(asio::buffer(frame), kTuple);
    if (ec) {
      u->outq.emplace_front(std::move(rid), std::move(frame));  // not sent: again, reconnected
      break;
    }
    auto& r = c.st.ws_reqs[rid];
    if (!r.accepted) {
      r.accepted = true;
      ++c.st.ws_accepted;
    }
  }
}

asio::awaitable<void> ws_user(OrdinaryCtx& c, std::shared_ptr<WsUser> u) {
  const auto ex = co_await asio::this_coro::executor;
  while (!c.reg.stopping) {
    auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(ex);
    Registry::Entry entry(c.reg, closer_of(ws));
    beast::get_lowest_layer(*ws).expires_after(5s);
    auto [ec] = co_await beast::get_lowest_layer(*ws).async_connect(c.ep, kTuple);
    if (!ec) {
      beast::get_lowest_layer(*ws).socket().set_option(tcp::no_delay(true));
      beast::get_lowest_layer(*ws).expires_never();
      ws->set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
      std::tie(ec) = co_await ws->async_handshake("127.0.0.1", "/v1/ws", kTuple);
    }
    if (ec) {
      ++c.st.ws_closed_why["connect/handshake: " + ec.message()];
      co_await sleep_for(500ms);
      continue;
    }
    ++c.st.ws_connects;
    u->ws = ws;
    asio::co_spawn(ex, ws_writer(c, u, ws), asio::detached);
    beast::flat_buffer buf;
    for (;;) {
      auto [rec, n] = co_await ws->async_read(buf, kTuple);
      if (rec) {
        if (!c.reg.stopping) {
          std::string why = rec.message();
          if (rec == websocket::error::closed)
            why = "close " + std::to_string(ws->reason().code) + " " +
                  std::string(ws->reason().reason.c_str());
          ++c.st.ws_closed_why[why];
        }
        break;
      }
      on_ws_message(c, beast::buffers_to_string(buf.data()));
      buf.consume(buf.size());
    }
    u->ws.reset();
    u->wake.cancel();
    if (!c.reg.stopping) co_await sleep_for(200ms);
  }
  u->wake.cancel();
}

asio::awaitable<void> ticker(OrdinaryCtx& c, Clock::time_point t0) {
  asio::steady_timer timer(c.ioc);
  const long total = static_cast<long>(c.opt.rate * c.opt.seconds);
  const int http_pct = static_cast<int>(c.opt.http_share * 100 + 0.5);
  long ws_next = 0;
  for (long i = 0; i < total && !c.reg.stopping; ++i) {
    const auto due = t0 + std::chrono::nanoseconds(
                              static_cast<long long>(1e9 * static_cast<double>(i) / c.opt.rate));
    timer.expires_at(due);
    co_await timer.async_wait(kTuple);
    std::string msg = ordinary_message(i);
    if ((i * 37) % 100 < http_pct || c.ws_users.empty()) {
      ++c.st.sent_http;
      const int user = static_cast<int>(i % static_cast<long>(c.cookies.size()));
      asio::co_spawn(c.ioc,
                     http_message(c, json::serialize(json::object{{"message", msg}}), user, due),
                     asio::detached);
    } else {
      ++c.st.sent_ws;
      auto& u = c.ws_users[static_cast<std::size_t>(ws_next++ % c.opt.ws_users)];
      std::string rid = "r" + std::to_string(i);
      c.st.ws_reqs[rid].due = due;
      u->outq.emplace_back(
          rid, json::serialize(
                   json::object{{"action", "sendMessage"}, {"message", msg}, {"request_id", rid}}));
      u->wake.cancel();
    }
  }
}

// ---------------------------------------------------------------------------------------
// Attackers.

struct SlowStats {
  long connects = 0, msgs = 0, cut = 0;
  double cut_after_sum_s = 0, cut_after_max_s = 0, longest_open_s = 0;
};

struct Attack {
  SlowStats slow_chat, slow_fast;  // slow readers: chat messages / invalid frames
  // ws flood
  long flood_connects = 0, flood_frames = 0, flood_replies = 0;
  std::map<std::string, long> flood_ended;
  // oversized
  long big_sent = 0, big_ok = 0, big_interrupted = 0;
  std::map<std::string, long> big_other;
  // connection flood
  long idle_opened = 0, idle_open_now = 0, idle_open_max = 0, idle_shed = 0, idle_timed_out = 0;
  long idle_connect_failed = 0;
};

struct AttackCtx {
  AttackCtx(asio::io_context& i, Options o, tcp::endpoint e)
      : ioc(i),
        opt(o),
        ep(e),
        slow_ports(std::make_unique<std::atomic<int>[]>(
            static_cast<std::size_t>(o.slow_readers + o.slow_fast))) {}
  asio::io_context& ioc;
  Options opt;
  tcp::endpoint ep;
  Registry reg;
  Attack st;
  Clock::time_point next_idle_connect{};
  Clock::time_point end{};
  // Each slow reader's local port while connected (0: not), read by the main thread to find
  // the server's side of the connection in /proc/net/tcp.
  std::unique_ptr<std::atomic<int>[]> slow_ports;
};

// The bytes waiting in the kernel's send queue of the server's side of the connection from
// local port `client_port` (/proc/net/tcp tx_queue), or -1.
long server_send_queue(unsigned short server_port, int client_port) {
  std::ifstream f("/proc/net/tcp");
  std::string line;
  std::getline(f, line);
  char want_local[8], want_remote[8];
  std::snprintf(want_local, sizeof want_local, "%04X", server_port);
  std::snprintf(want_remote, sizeof want_remote, "%04X", client_port);
  while (std::getline(f, line)) {
    char local[64], remote[64];
    unsigned st = 0;
    unsigned long tx = 0, rx = 0;
    if (std::sscanf(line.c_str(), " %*d: %63s %63s %x %lx:%lx", local, remote, &st, &tx, &rx) != 5)
      continue;
    const std::string l(local), r(remote);
    if (l.size() > 5 && r.size() > 5 && l.substr(l.size() - 4) == want_local &&
        r.substr(r.size() - 4) == want_remote)
      return static_cast<long>(tx);
  }
  return -1;
}

// Slow readers: they send and never read, with a 4 KiB receive buffer. `fast`: small invalid
// frames (each answered by a ~100-byte error) as fast as slow_fast_rate; else chat messages at
// slow_rate. The server must stop reading them and cut them (outbox over ws_max_queued_bytes,
// or no progress for ws_send_timeout), after the kernel's send buffer is full.
asio::awaitable<void> slow_reader(AttackCtx& a, int id, bool fast, Clock::time_point t0) {
  const auto ex = co_await asio::this_coro::executor;
  SlowStats& st = fast ? a.st.slow_fast : a.st.slow_chat;
  co_await sleep_for(t0 - Clock::now() + std::chrono::milliseconds(50 * id));
  const std::string frame =
      fast ? std::string("x")
           : json::serialize(json::object{{"action", "sendMessage"},
                                          {"message", "How much is One Piece volume 105?"}});
  // Paced in batches of 10 (a timer per frame would cost more than the frame).
  const int batch = fast ? 10 : 1;
  const auto interval = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(batch / (fast ? a.opt.slow_fast_rate : a.opt.slow_rate)));
  while (!a.reg.stopping) {
    tcp::socket sock(ex);
    sock.open(tcp::v4());
    sock.set_option(asio::socket_base::receive_buffer_size(4096));
    if (fast) sock.set_option(asio::socket_base::send_buffer_size(4096));
    auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(std::move(sock));
    Registry::Entry entry(a.reg, closer_of(ws));
    beast::get_lowest_layer(*ws).expires_after(5s);
    auto [ec] = co_await beast::get_lowest_layer(*ws).async_connect(a.ep, kTuple);
    if (!ec) {
      beast::get_lowest_layer(*ws).expires_never();
      std::tie(ec) = co_await ws->async_handshake("127.0.0.1", "/v1/ws", kTuple);
    }
    if (ec) {
      co_await sleep_for(1s);
      continue;
    }
    ++st.connects;
    boost::system::error_code pe;
    a.slow_ports[static_cast<std::size_t>(id)] =
        beast::get_lowest_layer(*ws).socket().local_endpoint(pe).port();
    const auto opened = Clock::now();
    // Once the server stops reading this connection (its outbox past the high-water mark),
    // these writes wait in TCP until the server cuts the connection.
    auto next = Clock::now();
    for (bool ok = true; ok && !a.reg.stopping;) {
      for (int i = 0; i < batch; ++i) {
        ws->text(true);
        auto [we, n] = co_await ws->async_write(asio::buffer(frame), kTuple);
        if (we) {
          ok = false;
          break;
        }
        ++st.msgs;
      }
      next += interval;
      if (ok && !a.reg.stopping && next > Clock::now()) co_await sleep_for(next - Clock::now());
    }
    a.slow_ports[static_cast<std::size_t>(id)] = 0;
    const double open_s = ms_since(opened) / 1000.0;
    st.longest_open_s = std::max(st.longest_open_s, open_s);
    if (a.reg.stopping) break;
    ++st.cut;
    st.cut_after_sum_s += open_s;
    st.cut_after_max_s = std::max(st.cut_after_max_s, open_s);
    co_await sleep_for(1s);
  }
}

asio::awaitable<void> ws_flood(AttackCtx& a, Clock::time_point t0) {
  const auto ex = co_await asio::this_coro::executor;
  co_await sleep_for(t0 - Clock::now());
  const std::string frames[] = {"x", "{}", R"({"action":"nope"})", R"({"action":"sendMessage"})"};
  while (!a.reg.stopping) {
    auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(ex);
    Registry::Entry entry(a.reg, closer_of(ws));
    beast::get_lowest_layer(*ws).expires_after(5s);
    auto [ec] = co_await beast::get_lowest_layer(*ws).async_connect(a.ep, kTuple);
    if (!ec) {
      beast::get_lowest_layer(*ws).expires_never();
      std::tie(ec) = co_await ws->async_handshake("127.0.0.1", "/v1/ws", kTuple);
    }
    if (ec) {
      ++a.st.flood_ended["connect/handshake: " + ec.message()];
      co_await sleep_for(500ms);
      continue;
    }
    ++a.st.flood_connects;
    // It reads what comes back (one error per frame), so it is a flood, not a slow reader.
    auto reading = std::make_shared<bool>(true);
    asio::co_spawn(
        ex,
        [](AttackCtx& a, std::shared_ptr<websocket::stream<beast::tcp_stream>> ws,
           std::shared_ptr<bool> reading) -> asio::awaitable<void> {
          beast::flat_buffer buf;
          for (;;) {
            auto [e, n] = co_await ws->async_read(buf, kTuple);
            if (e) {
              if (!a.reg.stopping) {
                ++a.st.flood_ended[e == websocket::error::closed
                                       ? "closed " + std::to_string(ws->reason().code)
                                       : e.message()];
              }
              break;
            }
            ++a.st.flood_replies;
            buf.consume(buf.size());
          }
          *reading = false;
          beast::get_lowest_layer(*ws).close();
        }(a, ws, reading),
        asio::detached);
    for (std::size_t i = 0; !a.reg.stopping && *reading; ++i) {
      ws->text(true);
      auto [we, n] = co_await ws->async_write(asio::buffer(frames[i % std::size(frames)]), kTuple);
      if (we) break;
      ++a.st.flood_frames;
    }
    while (*reading) co_await sleep_for(10ms);
    if (!a.reg.stopping) co_await sleep_for(500ms);
  }
}

asio::awaitable<void> oversized(AttackCtx& a, Clock::time_point t0) {
  const auto ex = co_await asio::this_coro::executor;
  co_await sleep_for(t0 - Clock::now() + 25ms);
  const std::string big = json::serialize(json::object{
      {"action", "sendMessage"}, {"request_id", "big"}, {"message", std::string(20 * 1024, 'a')}});
  const auto interval = std::chrono::milliseconds(1000 / std::max(1, a.opt.oversized_per_s));
  while (!a.reg.stopping) {
    const auto started = Clock::now();
    auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(ex);
    Registry::Entry entry(a.reg, closer_of(ws));
    beast::get_lowest_layer(*ws).expires_after(5s);
    auto [ec] = co_await beast::get_lowest_layer(*ws).async_connect(a.ep, kTuple);
    std::string outcome;
    if (!ec) {
      beast::get_lowest_layer(*ws).expires_never();
      websocket::stream_base::timeout to{};
      to.handshake_timeout = 5s;
      to.idle_timeout = 10s;
      to.keep_alive_pings = false;
      ws->set_option(to);
      ws->auto_fragment(false);  // one frame over the limit
      std::tie(ec) = co_await ws->async_handshake("127.0.0.1", "/v1/ws", kTuple);
    }
    if (ec) {
      outcome = "connect/handshake: " + ec.message();
    } else {
      ws->text(true);
      auto [we, n] = co_await ws->async_write(asio::buffer(big), kTuple);
      ++a.st.big_sent;
      beast::flat_buffer buf;
      auto [re, rn] = co_await ws->async_read(buf, kTuple);
      const std::string first = beast::buffers_to_string(buf.data());
      if (re && we) {
        outcome = "write: " + we.message() + ", read: " + re.message();
      } else if (re) {
        outcome = "no error message first: " + re.message();
      } else if (first.find("\"body_too_large\"") == std::string::npos) {
        outcome = "first message not body_too_large";
      } else {
        buf.consume(buf.size());
        auto [ce, cn] = co_await ws->async_read(buf, kTuple);
        if (ce == websocket::error::closed && ws->reason().code == websocket::close_code::too_big) {
          outcome = "ok";
        } else if (ce == websocket::error::closed) {
          outcome = "closed " + std::to_string(ws->reason().code) + ", not 1009";
        } else {
          outcome = ce ? "after the error: " + ce.message() : "another message after the error";
        }
      }
    }
    if (a.reg.stopping) {
      if (!ec) ++a.st.big_interrupted;  // cut short by the end of the soak
    } else if (outcome == "ok") {
      ++a.st.big_ok;
    } else {
      ++a.st.big_other[outcome];
    }
    beast::get_lowest_layer(*ws).close();
    const auto next = started + interval;
    if (!a.reg.stopping && next > Clock::now()) co_await sleep_for(next - Clock::now());
  }
}

asio::awaitable<void> idle_conn(AttackCtx& a, Clock::time_point t0) {
  const auto ex = co_await asio::this_coro::executor;
  co_await sleep_for(t0 - Clock::now());
  const auto gap = std::chrono::duration_cast<Clock::duration>(
      std::chrono::duration<double>(1.0 / a.opt.idle_connect_rate));
  while (!a.reg.stopping) {
    // The flood's connect rate is bounded, so that shedding is a steady churn, not a spin.
    const auto now = Clock::now();
    const auto at = std::max(now, a.next_idle_connect);
    a.next_idle_connect = at + gap;
    if (at > now) co_await sleep_for(at - now);
    if (a.reg.stopping) break;
    auto sock = std::make_shared<tcp::socket>(ex);
    Registry::Entry entry(a.reg, [w = std::weak_ptr<tcp::socket>(sock)] {
      if (auto s = w.lock()) {
        boost::system::error_code ec;
        s->close(ec);
      }
    });
    auto [ec] = co_await sock->async_connect(a.ep, kTuple);
    if (ec) {
      ++a.st.idle_connect_failed;
      co_await sleep_for(500ms);
      continue;
    }
    ++a.st.idle_opened;
    a.st.idle_open_max = std::max(a.st.idle_open_max, ++a.st.idle_open_now);
    const auto opened = Clock::now();
    char byte;
    (void)co_await sock->async_read_some(asio::buffer(&byte, 1), kTuple);  // until closed
    --a.st.idle_open_now;
    if (a.reg.stopping) break;
    // The server closes an idle connection when it sheds it (at the cap) or when no request
    // header came within header_timeout (10 s).
    if (ms_since(opened) >= 9500) {
      ++a.st.idle_timed_out;
    } else {
      ++a.st.idle_shed;
    }
  }
}

bool parse_args(int argc, char** argv, Options& o) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const char* v = argv[i + 1];
    if (k == "--port")
      o.port = static_cast<unsigned short>(std::atoi(v));
    else if (k == "--seconds")
      o.seconds = std::atof(v);
    else if (k == "--rate")
      o.rate = std::atof(v);
    else if (k == "--http-share")
      o.http_share = std::atof(v);
    else if (k == "--ws-users")
      o.ws_users = std::atoi(v);
    else if (k == "--http-users")
      o.http_users = std::max(1, std::atoi(v));
    else if (k == "--http-conns")
      o.http_max_conns = std::max(1, std::atoi(v));
    else if (k == "--slow-readers")
      o.slow_readers = std::atoi(v);
    else if (k == "--slow-rate")
      o.slow_rate = std::max(0.1, std::atof(v));
    else if (k == "--slow-fast")
      o.slow_fast = std::atoi(v);
    else if (k == "--slow-fast-rate")
      o.slow_fast_rate = std::max(10.0, std::atof(v));
    else if (k == "--ws-flood")
      o.ws_flood = std::atoi(v) != 0;
    else if (k == "--oversized-per-s")
      o.oversized_per_s = std::atoi(v);
    else if (k == "--idle-conns")
      o.idle_conns = std::atoi(v);
    else if (k == "--idle-connect-rate")
      o.idle_connect_rate = std::max(1.0, std::atof(v));
    else if (k == "--pid")
      o.pid = std::atoi(v);
    else if (k == "--warmup")
      o.warmup = std::atof(v);
    else if (k == "--grace")
      o.grace = std::atof(v);
    else if (k == "--request-log")
      o.request_log = v;
    else if (k == "--strict")
      o.strict = std::atoi(v) != 0;
    else
      return false;
  }
  return argc % 2 == 1 && o.rate > 0 && o.seconds > 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse_args(argc, argv, opt)) {
    std::fprintf(
        stderr,
        "usage: ma_soak [--port P] [--seconds S] [--rate R] [--pid SERVER_PID] "
        "[--http-share F] [--ws-users N] [--http-conns N] [--slow-readers N] "
        "[--slow-rate R] [--slow-fast N] [--slow-fast-rate R] [--ws-flood 0|1] "
        "[--oversized-per-s N] [--idle-conns N] "
        "[--idle-connect-rate R] [--warmup S] [--grace S] [--request-log FILE] [--strict 0|1]\n");
    return 2;
  }
  if (opt.warmup < 0) opt.warmup = std::min(10.0, opt.seconds / 6);
  const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), opt.port);

  asio::io_context ioc(1);
  asio::io_context attack_ioc(1);
  OrdinaryCtx oc{ioc, opt, ep};
  oc.cookies.resize(static_cast<std::size_t>(opt.http_users));
  AttackCtx ac{attack_ioc, opt, ep};

  const long rss_before = rss_kb(opt.pid);
  long rss_warm = -1, rss_end = -1, rss_peak = rss_before;
  std::vector<long> rss_timeline;            // every 10 s
  std::vector<long> sendq_chat, sendq_fast;  // the slow readers' server send queues at the end
  Ordinary snap;
  Clock::time_point t0 = Clock::now() + 1s;  // the WebSocket users connect first
  ac.end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.seconds));

  for (int i = 0; i < opt.slow_readers + opt.slow_fast; ++i)
    asio::co_spawn(attack_ioc, slow_reader(ac, i, i >= opt.slow_readers, t0), asio::detached);
  if (opt.ws_flood) asio::co_spawn(attack_ioc, ws_flood(ac, t0), asio::detached);
  if (opt.oversized_per_s > 0) asio::co_spawn(attack_ioc, oversized(ac, t0), asio::detached);
  for (int i = 0; i < opt.idle_conns; ++i)
    asio::co_spawn(attack_ioc, idle_conn(ac, t0), asio::detached);
  std::thread attack_thread([&] { attack_ioc.run(); });

  for (int i = 0; i < opt.ws_users; ++i) {
    oc.ws_users.push_back(std::make_shared<WsUser>(ioc.get_executor()));
    asio::co_spawn(ioc, ws_user(oc, oc.ws_users.back()), asio::detached);
  }
  double waited_s = 0;
  // Named: a coroutine lambda's captures live in its closure, which must outlive the run.
  auto orchestrate = [&]() -> asio::awaitable<void> {
    asio::co_spawn(ioc, ticker(oc, t0), asio::detached);
    const auto warm_at =
        t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.warmup));
    // RSS once a second; the named points at the end of the warm-up and of the load.
    while (Clock::now() < ac.end) {
      co_await sleep_for(std::min<Clock::duration>(1s, ac.end - Clock::now()));
      const long r = rss_kb(opt.pid);
      rss_peak = std::max(rss_peak, r);
      if (Clock::now() >= t0 + std::chrono::seconds(10 * (rss_timeline.size() + 1)) &&
          Clock::now() < ac.end)
        rss_timeline.push_back(r);
      if (rss_warm < 0 && Clock::now() >= warm_at) rss_warm = r;
    }
    rss_end = rss_kb(opt.pid);
    rss_peak = std::max(rss_peak, rss_end);
    for (int i = 0; i < opt.slow_readers + opt.slow_fast; ++i) {
      const int port = ac.slow_ports[static_cast<std::size_t>(i)].load();
      const long q = port ? server_send_queue(opt.port, port) : -1;
      if (q >= 0) (i < opt.slow_readers ? sendq_chat : sendq_fast).push_back(q);
    }
    // The last answers.
    const auto load_end = Clock::now();
    auto outstanding = [&] {
      long ws_open = 0;
      for (const auto& [id, r] : oc.st.ws_reqs) ws_open += r.accepted && r.finals == 0;
      return oc.st.http_in_flight + ws_open;
    };
    while (outstanding() > 0 && ms_since(load_end) < opt.grace * 1000) co_await sleep_for(50ms);
    waited_s = ms_since(load_end) / 1000;
    snap = oc.st;
    asio::post(attack_ioc, [&] { ac.reg.stop(); });
    oc.reg.stop();
    for (auto& u : oc.ws_users) u->wake.cancel();
    for (auto& t : oc.waiters) t->cancel();
    oc.idle.clear();
  };
  asio::co_spawn(ioc, orchestrate(), asio::detached);
  ioc.run();
  attack_thread.join();
  std::this_thread::sleep_for(2s);
  const long rss_after = rss_kb(opt.pid);

  // ---- report
  const Ordinary& s = snap;
  long ws_lost = 0, ws_not_sent = 0;
  for (const auto& [id, r] : s.ws_reqs) {
    if (r.accepted && r.finals == 0) ++ws_lost;
    if (!r.accepted) ++ws_not_sent;
  }
  const long accepted = s.http_accepted + s.ws_accepted;
  const long answered = (s.http_200 + s.http_429 + s.http_other) + s.ws_answered;
  const long lost = s.http_lost + ws_lost;
  const long duplicated = s.ws_dup;
  std::vector<double> all = s.lat_http;
  all.insert(all.end(), s.lat_ws.begin(), s.lat_ws.end());

  std::printf(
      "== ordinary users: %.0f messages/s for %.0f s (%.0f%% HTTP, the rest over %d "
      "WebSocket connections)\n",
      opt.rate, opt.seconds, opt.http_share * 100, opt.ws_users);
  std::printf(
      "  sent %ld (http %ld, ws %ld); accepted %ld; answered %ld; lost %ld; "
      "duplicated %ld; not sent %ld\n",
      s.sent_http + s.sent_ws, s.sent_http, s.sent_ws, accepted, answered, lost, duplicated,
      s.http_not_sent + ws_not_sent);
  std::printf(
      "  http: accepted %ld: 200 %ld, 429 %ld, other %ld (%s), lost %ld (%s); resent after "
      "a stale keep-alive connection %ld; connections opened %ld; not sent %ld (%s)\n",
      s.http_accepted, s.http_200, s.http_429, s.http_other,
      join_counts(s.http_other_status).c_str(), s.http_lost, join_counts(s.http_lost_why).c_str(),
      s.http_stale_retries, s.http_conns_opened, s.http_not_sent,
      join_counts(s.http_not_sent_why).c_str());
  std::printf(
      "  ws: accepted %ld: reply %ld, error %ld (%s), lost %ld, duplicated %ld; queued "
      "notices %ld, chunks %ld (without attempt %ld, after the final %ld); finals for "
      "unknown ids %ld, without id %ld, other messages %ld\n",
      s.ws_accepted, s.ws_reply, s.ws_error, join_counts(s.ws_error_codes).c_str(), ws_lost,
      s.ws_dup, s.ws_queued, s.ws_chunks, s.ws_chunk_no_attempt, s.ws_chunk_after_final,
      s.ws_unknown_final, s.ws_final_without_id, s.ws_other_type);
  std::printf("  ws connections: %ld opened; ended early: %s\n", s.ws_connects,
              join_counts(s.ws_closed_why).c_str());
  std::printf("  latency from the scheduled send: all %s\n", pct_line(all).c_str());
  std::printf("                                   http %s\n", pct_line(s.lat_http).c_str());
  std::printf("                                   ws   %s\n", pct_line(s.lat_ws).c_str());
  std::printf("  last answers came %.1f s after the last message was due\n", waited_s);

  const Attack& x = ac.st;
  std::printf("== attackers\n");
  auto slow_line = [&](const char* what, int n, double rate, const char* unit, const SlowStats& t,
                       std::vector<long> q) {
    std::sort(q.begin(), q.end());
    std::printf(
        "  slow readers, %s (%d, %.0f %s/s each, never read): %ld connections, %ld sent, %ld cut "
        "by the server (after %.1f s on average, %.1f s at most), longest open %.1f s; at the "
        "end of the load %zu connected, the server's kernel send queue to them %s\n",
        what, n, rate, unit, t.connects, t.msgs, t.cut,
        t.cut ? t.cut_after_sum_s / static_cast<double>(t.cut) : 0.0, t.cut_after_max_s,
        t.longest_open_s, q.size(),
        q.empty()
            ? "-"
            : (std::to_string(q.front() / 1024) + "-" + std::to_string(q.back() / 1024) + " KiB")
                  .c_str());
  };
  slow_line("chat", opt.slow_readers, opt.slow_rate, "messages", x.slow_chat, sendq_chat);
  slow_line("invalid frames", opt.slow_fast, opt.slow_fast_rate, "frames", x.slow_fast, sendq_fast);
  std::printf(
      "  ws flood (1 client, invalid frames as fast as it can): %ld frames sent, %ld "
      "errors back, %ld connections; ended: %s\n",
      x.flood_frames, x.flood_replies, x.flood_connects, join_counts(x.flood_ended).c_str());
  std::printf(
      "  oversized (20 KiB messages, %d/s): %ld sent, %ld answered body_too_large then "
      "closed 1009, %ld cut short by the end of the soak; otherwise: %s\n",
      opt.oversized_per_s, x.big_sent, x.big_ok, x.big_interrupted,
      join_counts(x.big_other).c_str());
  std::printf(
      "  connection flood (%d idle connections, reopened at %.0f/s at most): %ld opened, "
      "%ld open at most, %ld shed by the server, %ld closed after header_timeout, %ld "
      "connects failed\n",
      opt.idle_conns, opt.idle_connect_rate, x.idle_opened, x.idle_open_max, x.idle_shed,
      x.idle_timed_out, x.idle_connect_failed);

  const auto mib = [](long kb) { return static_cast<double>(kb) / 1024.0; };
  std::printf(
      "== server RSS (pid %d): before the load %.1f MiB; after the %.0f s warm-up %.1f "
      "MiB; at the end of the load %.1f MiB; peak %.1f MiB; 2 s after every client left "
      "%.1f MiB\n",
      opt.pid, mib(rss_before), opt.warmup, mib(rss_warm), mib(rss_end), mib(rss_peak),
      mib(rss_after));
  std::string timeline;
  for (std::size_t i = 0; i < rss_timeline.size(); ++i) {
    char b[48];
    std::snprintf(b, sizeof b, "%s%zus %.1f", i ? ", " : "", 10 * (i + 1), mib(rss_timeline[i]));
    timeline += b;
  }
  std::printf("  RSS every 10 s of the load (MiB): %s\n",
              timeline.empty() ? "-" : timeline.c_str());
  if (!opt.request_log.empty()) {
    // One line per message the pipeline answered: the ordinary users' and the chat slow
    // readers' (invalid and oversized frames never reach it). More lines than messages would
    // be messages answered twice (say, resent after a stale keep-alive connection); fewer,
    // slow readers' messages still unread when they were closed.
    std::ifstream f(opt.request_log);
    long lines = 0;
    for (std::string l; std::getline(f, l);) ++lines;
    std::printf(
        "  the server's request log: %ld lines; ordinary messages accepted %ld + chat slow "
        "readers' messages sent %ld = %ld\n",
        lines, accepted, x.slow_chat.msgs, accepted + x.slow_chat.msgs);
  }
  const double growth =
      rss_warm > 0 ? 100.0 * static_cast<double>(rss_end - rss_warm) / static_cast<double>(rss_warm)
                   : 0;
  const double p99 = p99_of(all);
  const bool rss_ok = rss_warm > 0 && growth <= 10.0;
  const bool p99_ok = !all.empty() && p99 < 3000;
  const bool correct = lost == 0 && duplicated == 0 && accepted > 0 && answered == accepted;
  std::printf("%s: every accepted message answered exactly once (lost %ld, duplicated %ld)\n",
              correct ? "PASS" : "FAIL", lost, duplicated);
  std::printf(
      "%s: RSS flat within 10%% from the end of the warm-up to the end of the load "
      "(%+.1f%%)\n",
      rss_ok ? "PASS" : "FAIL", growth);
  std::printf("%s: ordinary users' p99 under 3 s (%.0f ms)\n", p99_ok ? "PASS" : "FAIL", p99);
  if (!correct) return 1;
  if (opt.strict && (!rss_ok || !p99_ok)) return 1;
  return 0;
}
