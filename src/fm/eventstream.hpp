#pragma once
// A decoder of the AWS event-stream framing (application/vnd.amazon.eventstream), the body of
// Bedrock's ConverseStream: prelude (total length, headers length, CRC-32), typed headers,
// payload, message CRC-32. Incremental: feed() takes bytes as they arrive from the socket
// and returns every complete message; a partial message waits for more bytes.
//
// Defensive by contract (seed incident 4): a corrupt or oversized frame is an error value,
// never an exception, never a read past the buffer.
//
// Thread safety: none; one decoder per response stream.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/result.hpp"

namespace ma::fm {

struct EventHeader {
  enum Type : std::uint8_t {
    kTrue = 0,
    kFalse = 1,
    kByte = 2,
    kShort = 3,
    kInt = 4,
    kLong = 5,
    kBytes = 6,
    kString = 7,
    kTimestamp = 8,
    kUuid = 9,
  };
  std::string name;
  Type type = kString;
  std::int64_t number = 0;  // byte, short, int, long, timestamp (ms); 1/0 for booleans
  std::string bytes;        // byte array, string (UTF-8) or uuid (16 bytes)
};

struct EventMessage {
  std::vector<EventHeader> headers;
  std::string payload;
  // The string value of a header, or empty.
  std::string_view header(std::string_view name) const;
};

class EventStreamDecoder final {
 public:
  static constexpr std::size_t kMaxMessage = 24 * 1024 * 1024;
  static constexpr std::size_t kMaxHeaders = 128 * 1024;

  // Appends every complete message in `bytes` (and what was buffered before) to `out`.
  // After an error the stream is unusable; the error names what was wrong.
  core::Status feed(std::string_view bytes, std::vector<EventMessage>& out);
  // No partial message is waiting: at the end of the body, false means it was truncated.
  bool idle() const { return buffer_.empty(); }
  std::size_t buffered() const { return buffer_.size(); }

 private:
  std::string buffer_;
  bool failed_ = false;
};

std::uint32_t crc32(std::string_view bytes);

// Frames one message with string headers (the shape Bedrock sends): for mock servers and
// tools; the gateway itself only decodes.
std::string encode_event_message(const std::vector<std::pair<std::string, std::string>>& headers,
                                 std::string_view payload);

}  // namespace ma::fm
