#include "fm/eventstream.hpp"

#include <boost/crc.hpp>

namespace ma::fm {

std::uint32_t crc32(std::string_view bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

std::string_view EventMessage::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name == name && (h.type == EventHeader::kString || h.type == EventHeader::kBytes))
      return h.bytes;
  }
  return {};
}

namespace {

std::uint64_t be(std::string_view s, std::size_t pos, int n) {
  std::uint64_t v = 0;
  for (int i = 0; i < n; ++i)
    v = (v << 8) | static_cast<unsigned char>(s[pos + static_cast<std::size_t>(i)]);
  return v;
}

core::Status parse_headers(std::string_view h, std::vector<EventHeader>& out) {
  std::size_t pos = 0;
  auto need = [&](std::size_t n) { return pos + n <= h.size(); };
  while (pos < h.size()) {
    EventHeader e;
    const std::size_t name_len = static_cast<unsigned char>(h[pos++]);
    if (name_len == 0 || !need(name_len + 1))
      return core::fail("invalid_header", "header name runs past the header block");
    e.name.assign(h.substr(pos, name_len));
    pos += name_len;
    const auto type = static_cast<unsigned char>(h[pos++]);
    switch (type) {
      case EventHeader::kTrue:
      case EventHeader::kFalse:
        e.number = type == EventHeader::kTrue ? 1 : 0;
        break;
      case EventHeader::kByte:
      case EventHeader::kShort:
      case EventHeader::kInt:
      case EventHeader::kLong:
      case EventHeader::kTimestamp: {
        const int n = type == EventHeader::kByte    ? 1
                      : type == EventHeader::kShort ? 2
                      : type == EventHeader::kInt   ? 4
                                                    : 8;
        if (!need(static_cast<std::size_t>(n)))
          return core::fail("invalid_header", "header value runs past the header block");
        const std::uint64_t raw = be(h, pos, n);
        // Sign-extend the big-endian two's complement value.
        const int shift = 64 - 8 * n;
        e.number = static_cast<std::int64_t>(raw << shift) >> shift;
        pos += static_cast<std::size_t>(n);
        break;
      }
      case EventHeader::kBytes:
      case EventHeader::kString: {
        if (!need(2))
          return core::fail("invalid_header", "header length runs past the header block");
        const std::size_t len = be(h, pos, 2);
        pos += 2;
        if (!need(len))
          return core::fail("invalid_header", "header value runs past the header block");
        e.bytes.assign(h.substr(pos, len));
        pos += len;
        break;
      }
      case EventHeader::kUuid:
        if (!need(16)) return core::fail("invalid_header", "uuid runs past the header block");
        e.bytes.assign(h.substr(pos, 16));
        pos += 16;
        break;
      default:
        return core::fail("invalid_header", "unknown header type " + std::to_string(type));
    }
    e.type = static_cast<EventHeader::Type>(type);
    out.push_back(std::move(e));
  }
  return core::Ok{};
}

}  // namespace

core::Status EventStreamDecoder::feed(std::string_view bytes, std::vector<EventMessage>& out) {
  if (failed_) return core::fail("stream_failed", "the event stream already failed");
  buffer_.append(bytes);
  std::size_t pos = 0;
  auto fail = [&](std::string code, std::string message) -> core::Status {
    failed_ = true;
    buffer_.clear();
    return core::fail(std::move(code), std::move(message));
  };
  while (buffer_.size() - pos >= 12) {
    const std::string_view b(buffer_.data() + pos, buffer_.size() - pos);
    const std::uint32_t total = static_cast<std::uint32_t>(be(b, 0, 4));
    const std::uint32_t headers_len = static_cast<std::uint32_t>(be(b, 4, 4));
    const std::uint32_t prelude_crc = static_cast<std::uint32_t>(be(b, 8, 4));
    if (crc32(b.substr(0, 8)) != prelude_crc)
      return fail("prelude_crc_mismatch", "Prelude checksum mismatch");
    if (total < 16 || total > kMaxMessage || headers_len > kMaxHeaders ||
        headers_len > total - 16) {
      return fail("invalid_length", "message length " + std::to_string(total) + " with headers " +
                                        std::to_string(headers_len) + " is not a valid frame");
    }
    if (b.size() < total) break;  // wait for the rest
    const std::uint32_t message_crc = static_cast<std::uint32_t>(be(b, total - 4, 4));
    if (crc32(b.substr(0, total - 4)) != message_crc)
      return fail("message_crc_mismatch", "Message checksum mismatch");
    EventMessage m;
    if (auto st = parse_headers(b.substr(12, headers_len), m.headers); !st.ok()) {
      return fail(st.error().code, st.error().message);
    }
    m.payload.assign(b.substr(12 + headers_len, total - headers_len - 16));
    out.push_back(std::move(m));
    pos += total;
  }
  buffer_.erase(0, pos);
  return core::Ok{};
}

std::string encode_event_message(const std::vector<std::pair<std::string, std::string>>& headers,
                                 std::string_view payload) {
  auto put32 = [](std::string& out, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
  };
  std::string h;
  for (const auto& [name, value] : headers) {
    h.push_back(static_cast<char>(name.size()));
    h += name;
    h.push_back(static_cast<char>(EventHeader::kString));
    h.push_back(static_cast<char>(value.size() >> 8));
    h.push_back(static_cast<char>(value.size() & 0xff));
    h += value;
  }
  std::string out;
  put32(out, static_cast<std::uint32_t>(16 + h.size() + payload.size()));
  put32(out, static_cast<std::uint32_t>(h.size()));
  put32(out, crc32(out));
  out += h;
  out += payload;
  put32(out, crc32(out));
  return out;
}

}  // namespace ma::fm
