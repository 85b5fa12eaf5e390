// Fuzz target: the AWS event-stream decoder (ma::fm::EventStreamDecoder), which reads every
// Bedrock ConverseStream body. Input: one mode byte, then the stream. Mode bit 0x80 rewrites
// the prelude and message CRC-32s of each frame the bytes describe before decoding, so the
// fuzzer gets past the checksums to the lengths and the headers; the low 7 bits + 1 are the
// size of the pieces the stream arrives in.
//
// Beyond "no crash": decoding in pieces gives exactly what decoding the whole gives (the
// same messages, the same error), a failed decoder stays failed, and a decoded message with
// string headers re-encodes (encode_event_message) to a frame that decodes to itself.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fm/eventstream.hpp"
#include "fuzz_check.hpp"

namespace {

using ma::fm::EventHeader;
using ma::fm::EventMessage;
using ma::fm::EventStreamDecoder;

std::uint32_t be32(std::string_view s, std::size_t pos) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(s[pos + i]);
  return v;
}

void put32(std::string& s, std::size_t pos, std::uint32_t v) {
  for (std::size_t i = 0; i < 4; ++i) s[pos + i] = static_cast<char>(v >> (24 - 8 * i));
}

void fix_crcs(std::string& s) {
  std::size_t pos = 0;
  while (s.size() - pos >= 12) {
    put32(s, pos + 8, ma::fm::crc32(std::string_view(s).substr(pos, 8)));
    const std::uint32_t total = be32(s, pos);
    if (total < 16 || total > s.size() - pos) break;
    put32(s, pos + total - 4, ma::fm::crc32(std::string_view(s).substr(pos, total - 4)));
    pos += total;
  }
}

struct Decoded {
  std::vector<EventMessage> messages;
  std::string error;  // empty: no error
  bool idle = true;
};

Decoded decode(std::string_view stream, std::size_t piece) {
  Decoded d;
  EventStreamDecoder dec;
  for (std::size_t pos = 0; pos < stream.size(); pos += piece) {
    const auto st = dec.feed(stream.substr(pos, piece), d.messages);
    if (!st.ok()) {
      d.error = st.error().code;
      MA_FUZZ_CHECK(!d.error.empty());
      MA_FUZZ_CHECK(!dec.feed("x", d.messages).ok());  // unusable after an error
      break;
    }
    MA_FUZZ_CHECK(dec.buffered() < EventStreamDecoder::kMaxMessage);
  }
  d.idle = dec.idle();
  return d;
}

bool same(const EventMessage& a, const EventMessage& b) {
  if (a.payload != b.payload || a.headers.size() != b.headers.size()) return false;
  for (std::size_t i = 0; i < a.headers.size(); ++i) {
    const EventHeader& x = a.headers[i];
    const EventHeader& y = b.headers[i];
    if (x.name != y.name || x.type != y.type || x.number != y.number || x.bytes != y.bytes)
      return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  std::string stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  if ((mode & 0x80) != 0) fix_crcs(stream);
  const std::size_t piece = (mode & 0x7f) + 1u;

  const Decoded whole = decode(stream, stream.size() + 1);
  const Decoded pieces = decode(stream, piece);
  MA_FUZZ_CHECK(whole.error == pieces.error);
  MA_FUZZ_CHECK(whole.idle == pieces.idle);
  MA_FUZZ_CHECK(whole.messages.size() == pieces.messages.size());
  for (std::size_t i = 0; i < whole.messages.size(); ++i)
    MA_FUZZ_CHECK(same(whole.messages[i], pieces.messages[i]));

  for (const EventMessage& m : whole.messages) {
    MA_FUZZ_CHECK(m.payload.size() <= stream.size());
    std::vector<std::pair<std::string, std::string>> headers;
    bool encodable = true;
    for (const EventHeader& h : m.headers) {
      encodable &= h.type == EventHeader::kString && !h.name.empty() && h.name.size() < 256 &&
                   h.bytes.size() < 65536;
      headers.emplace_back(h.name, h.bytes);
      if (h.type == EventHeader::kString || h.type == EventHeader::kBytes) {
        MA_FUZZ_CHECK(m.header(h.name).data() != nullptr);
      }
    }
    if (!encodable) continue;
    const Decoded again = decode(ma::fm::encode_event_message(headers, m.payload), SIZE_MAX);
    MA_FUZZ_CHECK(again.error.empty() && again.idle && again.messages.size() == 1);
    MA_FUZZ_CHECK(same(again.messages[0], m));
  }
  return 0;
}
