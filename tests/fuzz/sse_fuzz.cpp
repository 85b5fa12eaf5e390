// Fuzz target: the OpenAI-compatible event-stream parser (ma::fm::SseParser): `data:` lines,
// blank-line event ends ("\n\n", "\r\n\r\n" or a mix), `[DONE]`, error events, the per-event
// size bound. Input: one mode byte, then the stream. The low 6 bits + 1 are the size of the
// pieces the stream arrives in (as a socket may split it); bit 0x40 sets a small event bound
// (64 bytes) so that the fuzzer reaches StreamEventTooLarge.
//
// Beyond "no crash": the result does not depend on how the stream is split (the same text,
// the same chunks, the same end or error, the same bytes held), every byte is examined once
// (SseParser's linearity contract), the bytes held stay within the bound, and the text is
// exactly the chunks streamed.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fm/openai_compatible.hpp"
#include "fuzz_check.hpp"

namespace {

struct Parsed {
  std::vector<std::string> chunks;
  std::string text;
  bool done = false;
  std::string error;  // the error's code; empty: none
  std::size_t buffered = 0;
};

Parsed parse(std::string_view stream, std::size_t piece, std::size_t max_event) {
  Parsed out;
  ma::fm::SseParser p(max_event);
  const ma::fm::ChunkSink sink = [&](std::string_view c) { out.chunks.emplace_back(c); };
  std::size_t fed = 0;
  for (std::size_t pos = 0; pos < stream.size(); pos += piece) {
    const std::string_view bytes = stream.substr(pos, piece);
    fed += bytes.size();
    const bool more = p.feed(bytes, sink);
    MA_FUZZ_CHECK(more == (!p.done() && !p.error()));
    MA_FUZZ_CHECK(p.scanned_bytes() <= fed);  // linear: each byte looked at once
    if (!more) break;
    // At most the bound, plus a final '\r' that may begin the event's closing "\r\n".
    MA_FUZZ_CHECK(p.buffered_bytes() <= max_event + 1);
  }
  MA_FUZZ_CHECK(!p.feed("data: {}\n\n", sink) || (!p.done() && !p.error()));
  out.text = p.text();
  out.done = p.done();
  if (p.error()) {
    out.error = p.error()->code;
    MA_FUZZ_CHECK(!out.error.empty());
  }
  out.buffered = p.buffered_bytes();
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t mode = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::size_t piece = (mode & 0x3f) + 1u;
  const std::size_t max_event = (mode & 0x40) != 0 ? 64 : ma::fm::SseParser::kMaxEventBytes;

  const Parsed whole = parse(stream, stream.size() + 1, max_event);
  const Parsed pieces = parse(stream, piece, max_event);
  std::string joined;
  for (const auto& c : whole.chunks) joined += c;
  MA_FUZZ_CHECK(joined == whole.text);
  MA_FUZZ_CHECK(whole.text == pieces.text);
  MA_FUZZ_CHECK(whole.chunks == pieces.chunks);
  MA_FUZZ_CHECK(whole.done == pieces.done);
  MA_FUZZ_CHECK(whole.error == pieces.error);
  MA_FUZZ_CHECK(whole.buffered == pieces.buffered);
  return 0;
}
